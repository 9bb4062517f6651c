"""``lab status`` (devices, queues, running jobs, per user) and ``lab wait RUN_ID`` (progress, then the report),
read from the lab's records and Celery's queue lists in Redis, and from the results store."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Dict, List, Optional

from ..store import RunStore, StoreError
from . import keys, records
from .app import LabError, broker_url, redacted

DONE_STATES = ("complete", "complete_with_errors")


def _scan(client: Any, pattern: str) -> List[str]:
    return sorted(client.scan_iter(match=pattern, count=500))


def queue_depth(client: Any, queue: str) -> int:
    """Messages waiting in ``queue`` (every priority list of it)."""
    pipe = client.pipeline()
    for name in keys.priority_lists(queue):
        pipe.llen(name)
    return sum(pipe.execute())


def snapshot(client: Any) -> Dict[str, Any]:
    """Devices with a live worker (or only queues), queue depths per device and user, running attempts, runs."""
    devices: Dict[str, Dict[str, Any]] = {}
    for key in _scan(client, keys.PREFIX + "device:*"):
        raw = client.get(key)
        if raw:
            info = json.loads(raw)
            devices[info["device"]] = info
    queues: List[Dict[str, Any]] = []
    for key in _scan(client, keys.PREFIX + "queues:*"):
        device = key[len(keys.PREFIX + "queues:"):]
        devices.setdefault(device, {"device": device, "state": "no worker"})
    for device in sorted(devices):
        for q in [keys.device_queue(device)] + sorted(client.smembers(keys.queues_of(device))):
            user = q.split(".u.", 1)[1] if ".u." in q else "-"
            queues.append({"device": device, "queue": q, "user": user, "waiting": queue_depth(client, q)})
    running = []
    for field, raw in sorted(client.hgetall(keys.RUNNING).items()):
        info = json.loads(raw)
        run_id, job_id = field.split("/", 1)
        running.append({"run_id": run_id, "job_id": job_id, "device": info["device"], "user": info.get("user"),
                        "attempt": info["attempt"], "worker": info["node"],
                        "running_s": round(records.now_s() - float(info["started_at_unix_s"]), 1)})
    users: Dict[str, Dict[str, int]] = {}
    for q in queues:
        users.setdefault(q["user"], {"waiting": 0, "running": 0})["waiting"] += q["waiting"]
    for r in running:
        users.setdefault(r["user"] or "-", {"waiting": 0, "running": 0})["running"] += 1
    runs = []
    for run_id in client.zrevrange(keys.RUNS, 0, 19):
        meta = client.hgetall(keys.run_meta(run_id))
        runs.append({"run_id": run_id, "user": meta.get("user"), "priority": meta.get("priority"),
                     "done": int(meta.get("done", 0)), "total": int(meta.get("total", 0)), "state": meta.get("state")})
    for info in devices.values():
        if info.get("state") == "healthy" and info.get("busy"):
            info["state"] = "busy"
    return {"devices": [devices[k] for k in sorted(devices)], "queues": queues, "running": running,
            "users": users, "runs": runs}


def _table(rows: List[Dict[str, Any]], cols: List[str]) -> str:
    if not rows:
        return "  (none)"
    widths = {c: max(len(c), *(len(str(r.get(c, "") if r.get(c) is not None else "-")) for r in rows)) for c in cols}
    out = ["  " + "  ".join(c.ljust(widths[c]) for c in cols)]
    for r in rows:
        out.append("  " + "  ".join(str(r.get(c) if r.get(c) is not None else "-").ljust(widths[c]) for c in cols))
    return "\n".join(out)


def cmd_status(args: argparse.Namespace) -> int:
    url = broker_url(args.broker)
    client = records.connect(url, patience_s=3)
    records.ping(client, url)
    snap = snapshot(client)
    if args.json:
        print(json.dumps(snap, indent=1, sort_keys=True))
        return 0
    print("lab at %s" % redacted(url))
    print("devices:")
    print(_table(snap["devices"], ["device", "state", "reason", "node", "lab_host", "transport", "up_s"]))
    print("queues:")
    print(_table(snap["queues"], ["device", "user", "waiting", "queue"]))
    print("running:")
    print(_table(snap["running"], ["device", "user", "run_id", "job_id", "attempt", "running_s", "worker"]))
    print("users:")
    print(_table([dict(user=u, **v) for u, v in sorted(snap["users"].items())], ["user", "waiting", "running"]))
    print("runs (latest 20):")
    print(_table(snap["runs"], ["run_id", "user", "priority", "done", "total", "state"]))
    return 0


def progress_line(client: Any, run_id: str, meta: Dict[str, str]) -> str:
    jobs = [json.loads(v) for v in client.hgetall(keys.run_jobs(run_id)).values()]
    by_state: Dict[str, int] = {}
    for j in jobs:
        by_state[j.get("state", "?")] = by_state.get(j.get("state", "?"), 0) + 1
    running = [json.loads(v) for f, v in client.hgetall(keys.RUNNING).items() if f.startswith(run_id + "/")]
    where = ", ".join("%s %.0f s" % (r["device"], records.now_s() - float(r["started_at_unix_s"])) for r in running)
    return "%s: %s/%s done, %d running%s, %d queued%s" % (
        run_id, meta.get("done", 0), meta.get("total", "?"), by_state.get("running", 0),
        " (%s)" % where if where else "", by_state.get("queued", 0),
        ", %d lost" % by_state["lost"] if by_state.get("lost") else "")


def print_report(store: RunStore) -> int:
    """The finished run's table and report path, as ``bench run`` ends; exit 0 complete, 1 with errors."""
    from ..report.tables import rows_for, text_table

    rows = rows_for(store.results(), store.run_id)
    print("")
    print(text_table(rows))
    print("")
    print("report: %s" % (store.root / "report.html").resolve())
    state = store.manifest().get("state")
    bad = [r["job_id"] for r in store.results() if r.get("status") not in ("ok", "unavailable")]
    if bad:
        print("%d job(s) without a measurement: %s" % (len(bad), ", ".join(bad)))
    return 0 if state == "complete" else 1


def wait_run(client: Any, run_id: str, timeout_s: Optional[float], interval_s: float) -> int:
    meta = client.hgetall(keys.run_meta(run_id))
    try:
        store = RunStore.open(run_id)
    except StoreError as exc:
        if not meta:
            raise LabError("no run %r in this lab or in the results store: check the id (`lab status` lists runs)"
                           % run_id)
        raise LabError("run %s is in the lab but not in this host's results store (%s): mount the shared results "
                       "directory here (EDGEBENCH_RESULTS)" % (run_id, exc))
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    last = ""
    while store.manifest().get("state") not in DONE_STATES:
        meta = client.hgetall(keys.run_meta(run_id))
        line = progress_line(client, run_id, meta) if meta else "%s: not known to this lab's broker" % run_id
        if line != last:
            print(line, flush=True)
            last = line
        if deadline is not None and time.monotonic() > deadline:
            print("still not done after %.0f s; it goes on in the lab" % timeout_s, file=sys.stderr)
            return 5
        time.sleep(interval_s)
    meta = client.hgetall(keys.run_meta(run_id))
    if meta:
        print(progress_line(client, run_id, meta))
    return print_report(store)


def cmd_wait(args: argparse.Namespace) -> int:
    url = broker_url(args.broker)
    records.ping(records.connect(url, patience_s=3), url)  # unreachable at the start: say so at once
    client = records.connect(url, patience_s=60)  # later: wait out a Redis restart
    return wait_run(client, args.run_id, args.timeout_s, args.interval_s)
