"""``lab status`` (devices, queues, running jobs, per user) and ``lab wait RUN_ID`` (progress, then the report),
read from the lab's records and Celery's queue lists in Redis, and from the results store."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional, Set, Tuple

from ..results.store import RunStore, StoreError
from . import auth, keys, records
from .app import LabError, broker_url, redacted

#: ``lab wait``'s exit code when it ends with jobs it can no longer account for (5: its own --timeout-s).
EXIT_UNACCOUNTED = 4

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
    stuck: List[Dict[str, Any]] = []
    for r in running:
        worker_id = json.loads(client.hget(keys.RUNNING, "%s/%s" % (r["run_id"], r["job_id"])) or "{}").get("worker_id")
        if worker_id and not client.exists(keys.worker_alive(worker_id)):
            r["stuck"] = "its worker %s sends no heartbeat (a lab worker resubmits it after the loss timeout)" % worker_id
            stuck.append(dict(r, why=r["stuck"]))
    lost: List[Dict[str, Any]] = []
    for run in runs:
        if run["state"] in DONE_STATES:
            continue
        for job_id, raw in client.hgetall(keys.run_jobs(run["run_id"])).items():
            entry = json.loads(raw)
            if entry.get("state") == "lost":
                lost.append({"run_id": run["run_id"], "job_id": job_id, "device": entry.get("device"),
                             "why": "; ".join(entry.get("lost_reasons") or [str(entry.get("reason") or "lost")])})
    return {"devices": [devices[k] for k in sorted(devices)], "queues": queues, "running": running,
            "users": users, "runs": runs, "stuck": stuck, "lost": lost}


def _table(rows: List[Dict[str, Any]], cols: List[str]) -> str:
    if not rows:
        return "  (none)"
    widths = {c: max(len(c), *(len(str(r.get(c, "") if r.get(c) is not None else "-")) for r in rows)) for c in cols}
    out = ["  " + "  ".join(c.ljust(widths[c]) for c in cols)]
    for r in rows:
        out.append("  " + "  ".join(str(r.get(c) if r.get(c) is not None else "-").ljust(widths[c]) for c in cols))
    return "\n".join(out)


def cmd_status(args: argparse.Namespace) -> int:
    url = broker_url(args.broker, args.insecure_broker)
    auth.keys_cached()
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
    print("stuck (running on a worker that is gone):")
    print(_table(snap["stuck"], ["device", "run_id", "job_id", "attempt", "running_s", "why"]))
    print("lost (recorded as errors):")
    print(_table(snap["lost"], ["device", "run_id", "job_id", "why"]))
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
    from ..analysis.rows import rows_for
    from ..report.tables import text_table

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


def _message_ids(raw: str) -> Optional[Tuple[str, str]]:
    """(run_id, job_id) of a kombu Redis message (a queued one, or an entry of ``unacked``), or None."""
    try:
        msg = json.loads(raw)
        if isinstance(msg, list):  # unacked: [message, exchange, routing_key]
            msg = msg[0]
        body = msg["body"]
        if msg.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        kwargs = json.loads(body)[1]
        return kwargs["payload"]["run_id"], kwargs["payload"]["job"]["job_id"]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None


def in_broker(client: Any, run_id: str, queues: Set[str]) -> Set[str]:
    """Job ids of ``run_id`` whose message waits in one of ``queues`` or is being delivered (``unacked``)."""
    found: Set[str] = set()
    raws: List[str] = []
    for q in sorted(queues):
        for name in keys.priority_lists(q):
            raws.extend(client.lrange(name, 0, -1))
    raws.extend(client.hvals("unacked"))
    for raw in raws:
        ids = _message_ids(raw)
        if ids and ids[0] == run_id:
            found.add(ids[1])
    return found


def unaccounted(client: Any, store: RunStore) -> Dict[str, str]:
    """Jobs of the run with no stored result that the lab cannot account for now, each with why: not
    waiting in the broker, not being delivered, not running on a worker that sends heartbeats."""
    planned = [j.get("job_id") for j in store.manifest().get("jobs") or [] if isinstance(j, dict)]
    stored = {p.stem for p in (store.root / "jobs").glob("*.json")}
    todo = [j for j in planned if j not in stored]
    if not todo:
        return {}
    run_id = store.run_id
    meta = client.hgetall(keys.run_meta(run_id))
    entries = {k: json.loads(v) for k, v in client.hgetall(keys.run_jobs(run_id)).items()}
    running = {f.split("/", 1)[1]: json.loads(v) for f, v in client.hgetall(keys.RUNNING).items()
               if f.startswith(run_id + "/")}
    out: Dict[str, str] = {}
    need_queues: List[str] = []
    for job_id in todo:
        run = running.get(job_id)
        if run is not None:
            if client.exists(keys.worker_alive(str(run.get("worker_id")))):
                continue
            out[job_id] = ("attempt %s was running on %s, which sends no heartbeat, and no lab worker resubmitted it "
                           "(is any lab worker running?)" % (run.get("attempt"), run.get("node")))
            continue
        need_queues.append(job_id)
    if not need_queues:
        return out
    queues = {e.get("queue") for e in entries.values() if e.get("queue")}
    waiting = in_broker(client, run_id, queues)
    for job_id in need_queues:
        if job_id in waiting:
            continue
        entry = entries.get(job_id)
        if records.RUN_KNOWN_FIELD not in meta:
            out[job_id] = ("the broker has no record of this run (Redis restarted without persistence?) and no lab "
                           "worker rebuilt it from the results store (is a lab worker running with this results store?)")
        elif entry is None:
            out[job_id] = "the broker has no record of this job"
        elif entry.get("state") in ("done", "lost"):
            out[job_id] = ("the broker counts it %s but no result is in the results store %s (does its worker "
                           "write to the shared results directory?)" % (entry["state"], store.root.parent))
        else:
            out[job_id] = ("%s (attempt %s) but its message is in no queue of the broker and no worker runs it "
                           "(lost in a broker restart?)" % (entry.get("state"), entry.get("attempt")))
    return out


def wait_run(client: Any, run_id: str, timeout_s: Optional[float], interval_s: float,
             unaccounted_s: Optional[float] = None) -> int:
    """Follow the run until every job has a stored record (exit 0, or 1 with errors); or until the jobs left
    have been unaccounted for ``unaccounted_s`` (exit 4, each named with why); or ``timeout_s`` (exit 5)."""
    if unaccounted_s is None:
        unaccounted_s = float(os.environ.get("EDGEBENCH_LAB_UNACCOUNTED_S", "120"))
    meta = client.hgetall(keys.run_meta(run_id))
    try:
        from .gate import Refused, open_run

        store = open_run(run_id)
    except Refused as exc:
        if not meta:
            raise LabError("no run %r in this lab or in the results store: check the id (`lab status` lists runs)"
                           % run_id)
        raise LabError("run %s is in the lab but not in this host's results store (%s): mount the shared results "
                       "directory here (EDGEBENCH_RESULTS)" % (run_id, exc.reason))
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    last = ""
    since: Dict[str, float] = {}
    stored_since: Optional[float] = None
    while store.manifest().get("state") not in DONE_STATES:
        meta = client.hgetall(keys.run_meta(run_id))
        known = records.RUN_KNOWN_FIELD in meta
        line = progress_line(client, run_id, meta) if known else "%s: not known to this lab's broker" % run_id
        if line != last:
            print(line, flush=True)
            last = line
        now = time.monotonic()
        lost = unaccounted(client, store)
        since = {j: since.get(j, now) for j in lost}
        planned = [j.get("job_id") for j in store.manifest().get("jobs") or [] if isinstance(j, dict)]
        stored = {p.stem for p in (store.root / "jobs").glob("*.json")}
        left = [j for j in planned if j not in stored]
        if left and set(left) <= set(since) and all(now - since[j] >= unaccounted_s for j in left):
            print("run %s: %d job(s) the lab can no longer account for (no result, not queued, not running):"
                  % (run_id, len(left)), file=sys.stderr)
            for j in left:
                print("  %s: %s" % (j, lost[j]), file=sys.stderr)
            print("resubmit them (python -m bench lab submit … the same matrix) or see `lab status`", file=sys.stderr)
            return EXIT_UNACCOUNTED
        if not left:  # every job stored; the last one's worker finishes the run (tables, report) now
            stored_since = stored_since if stored_since is not None else now
            if now - stored_since >= unaccounted_s:
                print("run %s: every job has a stored result but nobody finished the run (its finishing worker "
                      "died?): render it with python -m bench report %s" % (run_id, run_id), file=sys.stderr)
                return EXIT_UNACCOUNTED
        if deadline is not None and time.monotonic() > deadline:
            print("still not done after %.0f s; it goes on in the lab" % timeout_s, file=sys.stderr)
            return 5
        time.sleep(interval_s)
    meta = client.hgetall(keys.run_meta(run_id))
    if meta:
        print(progress_line(client, run_id, meta))
    return print_report(store)


def cmd_wait(args: argparse.Namespace) -> int:
    url = broker_url(args.broker, args.insecure_broker)
    auth.keys_cached()
    records.ping(records.connect(url, patience_s=3), url)  # unreachable at the start: say so at once
    client = records.connect(url, patience_s=60)  # later: wait out a Redis restart
    return wait_run(client, args.run_id, args.timeout_s, args.interval_s, args.unaccounted_s)
