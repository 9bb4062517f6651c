"""Jobs whose worker died mid-job (``kill -9``, power cut, host crash): with acks_late off Celery never
redelivers them, so the lab finds them itself. Every worker runs ``Reaper.sweep`` every heartbeat: an attempt in
the running table whose worker's heartbeat key has been missing for ``lost_after_s`` (as this reaper saw it,
so a Redis restart that outlived the key's TTL does not count) is handled by exactly one reaper (SET NX):
the first loss resubmits the job to its queue (attempt 2), a second one records it in the results store as
an error ``worker_lost`` with both reasons. Never silently missing, never run a third time."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Dict, List

from ..plan import PlannedJob
from ..store import RunStore
from . import keys, records
from .app import TASK_NAME

#: A job runs at most this many times (the first attempt and one resubmission).
MAX_ATTEMPTS = 2

log = logging.getLogger("edgebench.lab")


def send_job(app: Any, payload: Dict[str, Any], producer: Any = None) -> None:
    """Queue one job message (JSON) on its user's sub-queue of its device, at its submission's priority
    (``producer``: one connection for many messages, ``app.producer_or_acquire()``)."""
    app.send_task(TASK_NAME, kwargs={"payload": payload}, queue=payload["queue"],
                  priority=keys.kombu_priority(payload["priority"]), producer=producer)


class Reaper:
    def __init__(self, app: Any, client: Any, lost_after_s: float, me: str,
                 printer: Callable[[str], None] = log.warning) -> None:
        self.app = app
        self.client = client
        self.lost_after_s = lost_after_s
        self.me = me
        self.printer = printer
        #: running-table field → monotonic time this reaper first saw its worker's heartbeat missing.
        self.missing_since: Dict[str, float] = {}

    def sweep(self) -> List[str]:
        """Handle every attempt whose worker is dead; returns what was done, one line each."""
        now = time.monotonic()
        done: List[str] = []
        running = self.client.hgetall(keys.RUNNING)
        for field in list(self.missing_since):
            if field not in running:
                del self.missing_since[field]
        for field, raw in running.items():
            info = json.loads(raw)
            if self.client.exists(keys.worker_alive(info["worker_id"])):
                self.missing_since.pop(field, None)
                continue
            first = self.missing_since.setdefault(field, now)
            if now - first < self.lost_after_s:
                continue
            run_id, job_id = field.split("/", 1)
            if not self.client.set(keys.lost_lock(run_id, job_id, int(info["attempt"])), self.me, nx=True, ex=86400):
                continue
            self.missing_since.pop(field, None)
            done.append(self.handle(run_id, job_id, info))
        return done

    def handle(self, run_id: str, job_id: str, info: Dict[str, Any]) -> str:
        attempt = int(info["attempt"])
        reason = ("worker %s (pid %s) stopped sending heartbeats while running attempt %d (started %s UTC)"
                  % (info["node"], info["worker_id"].rsplit("/", 1)[-1], attempt,
                     time.strftime("%H:%M:%S", time.gmtime(float(info["started_at_unix_s"])))))
        entry = json.loads(self.client.hget(keys.run_jobs(run_id), job_id) or "{}")
        reasons = list(entry.get("lost_reasons") or []) + [reason]
        if attempt < MAX_ATTEMPTS and entry.get("payload"):
            payload = dict(entry["payload"], attempt=attempt + 1, resubmitted_because=reason,
                           queued_at_unix_s=records.now_s())
            if not records.requeue_attempt(self.client, run_id, job_id, attempt, {
                    "state": "queued", "attempt": attempt + 1, "lost_reasons": reasons, "payload": payload}):
                return "%s/%s: attempt %d already ended" % (run_id, job_id, attempt)
            send_job(self.app, payload)
            line = "%s/%s resubmitted (attempt %d): %s" % (run_id, job_id, attempt + 1, reason)
        else:
            line = self.record_lost(run_id, job_id, attempt, reasons)
        self.printer(line)
        return line

    def record_lost(self, run_id: str, job_id: str, attempt: int, reasons: List[str]) -> str:
        """The job's result in the store: an error that says it was lost and why."""
        from .finish import finalize_if_done

        store = RunStore.open(run_id)
        job = next((j for j in store.planned_jobs() if j.job_id == job_id), None)
        message = ("lost: its worker died %d time(s) while running it (%s); not run again, so that no benchmark "
                   "runs more than %d times — resubmit it if wanted" % (len(reasons), "; ".join(reasons), MAX_ATTEMPTS))
        result: Dict[str, Any] = {"job_id": job_id, "status": "error", "error_type": "worker_lost", "error": message,
                                  "lab": {"run_id": run_id, "attempt": attempt, "lost_reasons": reasons}}
        if isinstance(job, PlannedJob):
            result.update(device_name=job.device, model_name=job.model, variant=job.variant,
                          runtime_name=job.runtime, plan=job.to_json())
        store.save_result(result)
        done, total = records.end_attempt(self.client, run_id, job_id, attempt,
                                          {"state": "lost", "lost_reasons": reasons})
        if done >= 0:
            finalize_if_done(self.client, store, done, total, self.printer)
        return "%s/%s recorded as lost: %s" % (run_id, job_id, reasons[-1])
