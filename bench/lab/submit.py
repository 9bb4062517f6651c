"""``lab submit``: expand the plan exactly as ``bench run`` does, publish the artifacts to the shared store,
create the run in the one results store, and queue each job on its user's sub-queue of its device.

Fairness: every (device, user) has its own sub-queue ``dev.<device>.u.<user>``; a device's worker consumes all
of them and kombu pops them round-robin, so users' matrices interleave one job each, whatever the order they
were submitted in. Priority: a submission's ``--priority`` (9 first) becomes the messages' priority; the worker
pops higher priorities first across all its sub-queues."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any, Dict, List

from ..paths import slug_name
from ..results.store import RunStore
from . import auth, keys, records
from .app import LabError, app, broker_url, redacted
from .artifacts import artifact_root, publish
from .lost import declare as _declare
from .lost import send_job


def job_payload(run_id: str, job: Any, user: str, priority: int, artifact_key: Any, ceilings: str) -> Dict[str, Any]:
    """The task's one argument: plain JSON (the planned job, where it runs, who asked, when it was queued)."""
    return {"run_id": run_id, "job": job.to_json(), "artifact_key": artifact_key, "user": user,
            "priority": priority, "queue": keys.user_queue(job.device, user), "attempt": 1, "ceilings": ceilings,
            "queued_at_unix_s": records.now_s()}


def declare(queues: List[str]) -> None:
    """Declare the sub-queues (and their bindings) so that a message sent before any worker consumes them
    waits in Redis instead of being dropped as unroutable."""
    _declare(app, queues)


def cmd_submit(args: argparse.Namespace) -> int:
    from ..cli.plan_args import _split, plan_from_args

    url = broker_url(args.broker, args.insecure_broker)
    auth.keys_cached()  # no secret: say how to make one before anything is built or queued
    app.conf.broker_url = url
    client = records.connect(url, patience_s=3)
    records.ping(client, url)
    device_names = _split(args.device) or ["local"]
    missing = [d for d in device_names if records.device_info(client, d) is None]
    if missing and not args.offline_ok:
        raise LabError("no lab worker for device(s) %s at %s: start one on the host that owns it (python -m bench lab "
                       "worker --devices %s), check `lab status`, or pass --offline-ok to queue anyway"
                       % (", ".join(missing), redacted(url), ",".join(missing)))
    user = slug_name(args.user or getpass.getuser())[:64]
    todo = plan_from_args(args, device_names)
    art_keys: Dict[str, str] = {}
    for job in todo:
        art = job.artifact
        if art.status == "built" and art.path and art.sha256 and art.sha256 not in art_keys:
            art_keys[art.sha256] = publish(Path(art.path), art.sha256)
    store = RunStore.create(todo, sys.argv)
    manifest = store.manifest()
    manifest["lab"] = {"user": user, "priority": args.priority, "broker": redacted(url),
                       "artifact_store": str(artifact_root()), "ceilings": args.ceilings}
    store.write_manifest(manifest)
    payloads = [job_payload(store.run_id, j, user, args.priority, art_keys.get(j.artifact.sha256 or ""),
                            args.ceilings) for j in todo]
    queues = sorted({p["queue"] for p in payloads})
    pipe = client.pipeline()
    pipe.hset(keys.run_meta(store.run_id), mapping={"user": user, "priority": args.priority, "total": len(todo),
                                                    "done": 0, "state": "queued",
                                                    "submitted_at_unix_s": records.now_s(),
                                                    "results": str(store.root)})
    pipe.zadd(keys.RUNS, {store.run_id: records.now_s()})
    for p in payloads:
        pipe.hset(keys.run_jobs(store.run_id), p["job"]["job_id"], records.dumps(
            {"state": "queued", "attempt": 1, "device": p["job"]["device"], "queue": p["queue"], "payload": p}))
    for device in device_names:
        pipe.sadd(keys.queues_of(device), *[q for q in queues if q.startswith(keys.device_queue(device) + ".u.")])
    pipe.execute()
    declare(queues)
    with app.producer_or_acquire() as producer:
        for p in payloads:
            send_job(app, p, producer)
    print("submitted run %s: %d job(s) on %s for %s, priority %d → %s" % (
        store.run_id, len(todo), ", ".join(device_names), user, args.priority, store.root))
    print("follow it: python -m bench lab wait %s" % store.run_id, flush=True)
    if args.wait:
        from .status import wait_run

        return wait_run(client, store.run_id, timeout_s=None, interval_s=1.0)
    return 0
