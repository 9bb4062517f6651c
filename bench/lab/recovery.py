"""Runs the broker forgot (Redis restarted without persistence, or its data was lost): the run's plan is in the
results store, so a lab worker rebuilds the run's records from it and queues again every job Redis forgot.

Each worker's tick calls ``Recovery.sweep``: a lab run in the results store that is not complete and that Redis
has no record of (its ``run:<id>`` hash is gone) for ``lost_after_s`` (as this worker saw it: the other workers
have had time to send heartbeats to the new Redis) is rebuilt by exactly one worker (SET NX). For each planned
job without a stored result, the claims in the run folder (claims.py) say what happened:

- no attempt ever started: queued again as it was (same attempt, it never ran);
- an attempt started and its worker is alive: it is still running; its running-table entry is restored;
- an attempt started and its worker is gone: given up, then resubmitted (next attempt) or, after the last
  attempt, recorded as an error ``worker_lost`` naming what happened — never left ``running``."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from ..paths import results_root
from . import claims, keys, records
from .gate import DONE_STATES, MAX_TOTAL_ATTEMPTS, RUN_ID, artifact_key_for

log = logging.getLogger("edgebench.lab")

REASON = ("the broker forgot run %s (Redis restarted without persistence, or its data was lost); rebuilt from the "
          "results store")


def job_payload_from_plan(run_id: str, job: Dict[str, Any], lab: Dict[str, Any], attempt: int,
                          **extra: Any) -> Dict[str, Any]:
    """The message payload of a planned job (as ``lab submit`` makes it), from the run's manifest."""
    from ..plan.jobs import PlannedJob

    planned = PlannedJob.from_json(job)
    user = str(lab.get("user") or "-")
    payload = {"run_id": run_id, "job": job, "artifact_key": artifact_key_for(planned), "user": user,
               "priority": int(lab.get("priority", 5)), "queue": keys.user_queue(planned.device, user),
               "attempt": attempt, "ceilings": str(lab.get("ceilings") or "skip"), "queued_at_unix_s": records.now_s()}
    payload.update(extra)
    return payload


class Recovery:
    """Finds lab runs the broker forgot and rebuilds them (see the module's text)."""

    def __init__(self, app: Any, client: Any, lost_after_s: float, me: str,
                 printer: Callable[[str], None] = log.warning, base: Optional[Path] = None) -> None:
        self.app = app
        self.client = client
        self.lost_after_s = lost_after_s
        self.me = me
        self.printer = printer
        self.base = base
        #: run id → manifest mtime_ns when it was last found complete or not a lab run (not read again until it changes).
        self.settled: Dict[str, int] = {}
        #: run id → monotonic time this worker first saw the broker without its record.
        self.missing_since: Dict[str, float] = {}

    def candidates(self) -> List[Tuple[str, Path]]:
        root = self.base or results_root()
        try:
            names = [n for n in os.listdir(root) if re.fullmatch(RUN_ID, n)]
        except OSError:
            return []
        out = []
        for name in sorted(names):
            try:
                mtime = (root / name / "manifest.json").stat().st_mtime_ns
            except OSError:
                continue
            if self.settled.get(name) != mtime:
                out.append((name, root / name))
        return out

    def sweep(self) -> List[str]:
        """Rebuild every run the broker forgot for long enough; returns one line per action."""
        cands = self.candidates()
        if not cands:
            return []
        pipe = self.client.pipeline()
        for run_id, _ in cands:
            pipe.hexists(keys.run_meta(run_id), records.RUN_KNOWN_FIELD)
        known = pipe.execute()
        now = time.monotonic()
        out: List[str] = []
        for (run_id, root), there in zip(cands, known):
            if there:
                self.missing_since.pop(run_id, None)
                continue
            try:
                mtime = (root / "manifest.json").stat().st_mtime_ns
                manifest = json.loads((root / "manifest.json").read_text())
            except (OSError, ValueError):
                continue
            if (not isinstance(manifest, dict) or not isinstance(manifest.get("lab"), dict)
                    or manifest.get("state") in DONE_STATES or not isinstance(manifest.get("jobs"), list)):
                self.settled[run_id] = mtime
                continue
            first = self.missing_since.setdefault(run_id, now)
            if now - first < self.lost_after_s:
                continue
            if not self.client.set(keys.recover_lock(run_id), self.me, nx=True, ex=max(60, int(self.lost_after_s * 10))):
                continue
            self.missing_since.pop(run_id, None)
            try:
                out.extend(self.rebuild(run_id, root, manifest))
            except Exception as exc:  # forgotten again, so that a later sweep (here or elsewhere) rebuilds it whole
                log.warning("rebuilding run %s failed: %s: %s; it is rebuilt again at a later sweep", run_id,
                            type(exc).__name__, exc)
                try:
                    self.client.delete(keys.run_meta(run_id))
                except Exception:  # Redis gone again: it forgot the run anyway
                    pass
            finally:
                try:
                    records.delete_if(self.client, keys.recover_lock(run_id), self.me)
                except Exception:  # it expires
                    pass
        return out

    def rebuild(self, run_id: str, root: Path, manifest: Dict[str, Any]) -> List[str]:
        """Rebuild run ``run_id``'s records. The run becomes known in the same Redis transaction that restores its
        jobs' entries and running attempts: a worker that ends an attempt meanwhile either finds its attempt
        current (counted as always) or the run unknown (its result stored uncounted, then counted once by
        ``records.finish_stored``, here or by that worker) — never a known run without its attempt, which would
        drop a good result and leave the attempt shown running for ever."""
        from .finish import finalize_if_done
        from .lost import Reaper, declare, send_job
        from ..results.store import RunStore

        lab = manifest["lab"]
        reason = REASON % run_id
        jobs = [j for j in manifest["jobs"] if isinstance(j, dict) and isinstance(j.get("job_id"), str)]
        stored = {p.stem for p in (root / "jobs").glob("*.json")}
        lines: List[str] = []
        to_send: List[Dict[str, Any]] = []
        dead: List[Tuple[str, Dict[str, Any], str]] = []
        plain: Dict[str, Dict[str, Any]] = {}  # job id → its entry (done, or queued again)
        restores: List[Tuple[str, Dict[str, Any], Dict[str, Any]]] = []  # (job id, running attempt, entry)
        for job in jobs:
            job_id = job["job_id"]
            if job_id in stored:
                plain[job_id] = {"state": "done", "device": job.get("device")}
                continue
            attempt = claims.latest_attempt(root, job_id)
            if attempt == 0:  # it never started: queue it again as it was
                payload = job_payload_from_plan(run_id, job, lab, 1, recovered_because=reason)
                plain[job_id] = {"state": "queued", "attempt": 1, "device": job.get("device"),
                                 "queue": payload["queue"], "payload": payload, "recovered_because": reason}
                to_send.append(payload)
                lines.append("%s/%s queued again (never started): %s" % (run_id, job_id, reason))
                continue
            claim = claims.read(root, job_id, attempt) or {}
            next_payload = job_payload_from_plan(run_id, job, lab, min(attempt, MAX_TOTAL_ATTEMPTS),
                                                 recovered_because=reason)
            entry = {"state": "running", "attempt": attempt, "device": job.get("device"),
                     "queue": next_payload["queue"], "payload": next_payload, "recovered_because": reason}
            info = {"device": claim.get("device") or job.get("device"), "node": str(claim.get("node") or "?"),
                    "worker_id": str(claim.get("worker_id") or "?"), "child_pid": claim.get("child_pid"),
                    "attempt": attempt, "started_at_unix_s": float(claim.get("started_at_unix_s") or records.now_s()),
                    "user": lab.get("user")}
            restores.append((job_id, info, entry))
            if not claims.given_up(root, job_id, attempt) and self.client.exists(keys.worker_alive(info["worker_id"])):
                lines.append("%s/%s attempt %d still running on %s: its record restored" % (
                    run_id, job_id, attempt, info["node"]))
                continue
            # it started and its worker is gone (or it was given up before the broker forgot): handed to the
            # reaper's rules below as a dead attempt, so it is resubmitted once or recorded as lost
            why = ("attempt %d started on %s but %s, and its worker is gone" % (attempt, info["node"], reason)
                   if not claims.given_up(root, job_id, attempt) else
                   "attempt %d was given up (%s); then %s" % (
                       attempt, (claims.read(root, job_id, attempt, ".given-up") or {}).get("reason"), reason))
            self.client.set(keys.lost_lock(run_id, job_id, attempt), self.me, ex=86400)  # no other reaper
            dead.append((job_id, info, why))
        kept: Set[str] = set()  # jobs whose later attempt a worker started since the claims were read

        def write(pipe: Any) -> None:  # retried by redis-py while a watched key changes under it
            kept.clear()
            running = {job_id: pipe.hget(keys.RUNNING, "%s/%s" % (run_id, job_id)) for job_id, _, _ in restores}
            existing = pipe.hgetall(keys.run_jobs(run_id))
            pipe.multi()
            for job_id, entry in plain.items():
                pipe.hset(keys.run_jobs(run_id), job_id, records.dumps(entry))
            for job_id, info, entry in restores:
                old = json.loads(existing.get(job_id) or "{}")
                cur = json.loads(running[job_id]) if running[job_id] else None
                if cur is not None and int(cur.get("attempt", 0)) >= int(info["attempt"]):
                    kept.add(job_id)  # the worker's record stays; the rebuild adds only what it lacks
                    merged = dict(entry, **old)
                else:
                    pipe.hset(keys.RUNNING, "%s/%s" % (run_id, job_id), records.dumps(info))
                    merged = dict(old, **entry)
                pipe.hset(keys.run_jobs(run_id), job_id, records.dumps(merged))
            pipe.hset(keys.run_meta(run_id), mapping={
                "user": str(lab.get("user") or "-"), "priority": int(lab.get("priority", 5)), "total": len(jobs),
                "done": sum(1 for j in jobs if j["job_id"] in stored), "state": "running",
                "submitted_at_unix_s": records.now_s(), "results": str(root), "recovered": reason})
            pipe.zadd(keys.RUNS, {run_id: records.now_s()})

        self.client.transaction(write, keys.RUNNING, keys.run_jobs(run_id))
        dead = [d for d in dead if d[0] not in kept]
        lines.extend("%s/%s: a later attempt started meanwhile; its worker's record kept" % (run_id, j)
                     for j in sorted(kept))
        queues: Dict[str, set] = {}
        for j in jobs:
            queues.setdefault(str(j.get("device")), set()).add(keys.user_queue(str(j.get("device")),
                                                                                str(lab.get("user") or "-")))
        for device, qs in queues.items():  # the broker forgot the queues' bindings too
            self.client.sadd(keys.queues_of(device), *sorted(qs))
        declare(self.app, sorted(set().union(*queues.values())) if queues else [])
        reaper = Reaper(self.app, self.client, self.lost_after_s, self.me, printer=lambda line: None)
        for job_id, info, why in dead:
            lines.append(reaper.handle(run_id, job_id, info, why))
        if to_send:
            with self.app.producer_or_acquire() as producer:
                for p in to_send:
                    send_job(self.app, p, producer)
        store = RunStore(root)
        for job in jobs:  # stored while the run was unknown, after the scan above: counted once now
            job_id = job["job_id"]
            if job_id not in stored and (root / "jobs" / (job_id + ".json")).exists():
                done, total = records.finish_stored(self.client, run_id, job_id)
                if done >= 0:
                    lines.append("%s/%s stored while the broker had forgotten the run: counted" % (run_id, job_id))
        meta = self.client.hgetall(keys.run_meta(run_id))
        finalize_if_done(self.client, store, int(meta.get("done", 0)), int(meta.get("total", 0)), self.printer)
        for line in lines:
            self.printer(line)
        return lines
