"""``python -m bench devices`` (is every device reachable, with which Python, runtimes and sensors) and
``python -m bench probe DEVICE`` (its facts as JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict

from ..plan.inventory import load_inventory, resolve_devices


def _probe(device: Any, timeout_s: float = 60.0) -> Dict[str, Any]:
    from ..run.deploy import PushStats, agent_env, check_workdir, deploy_agent
    from ..transports import transport_session

    with transport_session(device) as transport:
        if device.transport == "adb" and not device.python:
            from ..run.native import phone_facts

            return phone_facts(device, transport, timeout_s=min(timeout_s, 30.0))
        check_workdir(transport, device.python, device.name, timeout_s=timeout_s)
        agent = deploy_agent(transport, PushStats())
        res = transport.exec([device.python, "-m", "device_agents", "probe"], timeout_s=timeout_s,
                             cwd=transport.root, env=agent_env(agent, transport.root))
    if res.timed_out or res.returncode != 0:
        raise RuntimeError("probe on %s failed (%s): %s" % (device.name, "timeout" if res.timed_out else
                                                           "exit %s" % res.returncode, res.stderr.strip()[-300:]))
    return json.loads(res.stdout)


def cmd_devices(args: argparse.Namespace) -> int:
    inventory = load_inventory()
    rows = []
    for name, dev in sorted(inventory.items()):
        row = {"device": name, "class": dev.device_class, "transport": dev.transport,
               "address": dev.host or getattr(dev, "serial", None) or "-", "reachable": "no", "python": "-", "runtimes": "-", "sensors": "-",
               "note": ""}
        try:
            facts = _probe(dev)
            row["reachable"] = "yes"
            row["python"] = facts.get("python_version") or "- (native mode)"
            row["runtimes"] = ", ".join("%s %s" % (k, v.get("version")) if v.get("available") else "%s: missing" % k
                                        for k, v in sorted(facts["runtimes"].items()))
            row["sensors"] = ", ".join(k for k, v in sorted((facts.get("sensors") or {}).items())
                                       if v.get("available")) or "none"
            row["note"] = "%s %s, %s cores" % (facts.get("arch"), facts.get("cpu_model") or "", facts.get("cpu_cores_logical"))
        except Exception as exc:
            row["note"] = str(exc)[:200]
        rows.append(row)
    from ..paths import inventory_path

    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("inventory: %s%s" % (inventory_path().resolve(), "" if inventory_path().is_file() else
                               " (not there: only 'local'; copy devices.example.yaml to add devices)"))
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))
    down = [r["device"] for r in rows if r["reachable"] != "yes"]
    if down:
        print("%d device(s) not reachable: %s (the note column says why)" % (len(down), ", ".join(down)),
              file=sys.stderr)
        return 1
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    device = resolve_devices([args.device], load_inventory())[0]
    print(json.dumps(_probe(device), indent=1, sort_keys=True))
    return 0
