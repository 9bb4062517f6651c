"""Jobs whose worker died mid-job (``kill -9``, power cut, host crash): with acks_late off Celery never
redelivers them, so the lab finds them itself. Every worker runs ``Reaper.sweep`` every heartbeat: an attempt in
the running table whose worker's heartbeat key has been missing for ``lost_after_s`` (as this reaper saw it,
so a Redis restart that outlived the key's TTL does not count) is handled by exactly one reaper (SET NX);
so is an attempt of this worker whose job-running process (Celery's pool child) died while the worker itself
lives (``sweep_children``). The first loss resubmits the job to its queue (attempt 2), a second one records it
in the results store as an error ``worker_lost`` with both reasons. Either way the given-up attempt is marked
in the results store (claims.py), so its late result is never stored. Never silently missing, never run a
third time."""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Callable, Dict, List, Optional

from ..plan.jobs import PlannedJob
from . import auth, claims, keys, records
from .app import TASK_NAME
from .gate import MAX_ATTEMPTS, MAX_TOTAL_ATTEMPTS, Refused, check_job_id, open_run

__all__ = ["MAX_ATTEMPTS", "Reaper", "send_job", "declare", "pid_alive"]

log = logging.getLogger("edgebench.lab")


def send_job(app: Any, payload: Dict[str, Any], producer: Any = None, sig: Optional[str] = None) -> None:
    """Queue one job message (JSON, signed with the lab's secret) on its user's sub-queue of its device, at its
    submission's priority (``producer``: one connection for many messages, ``app.producer_or_acquire()``;
    ``sig``: the payload's signature when it is handed back unchanged)."""
    app.send_task(TASK_NAME, kwargs={"payload": payload, "sig": sig or auth.sign(payload)}, queue=payload["queue"],
                  priority=keys.kombu_priority(payload["priority"]), producer=producer)


def declare(app: Any, queues: List[str]) -> None:
    """Declare the sub-queues (and their bindings) so that a message sent before any worker consumes them
    waits in Redis instead of being dropped as unroutable (also after a Redis that forgot them)."""
    from kombu import Exchange, Queue

    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for name in queues:
            Queue(name, Exchange(name, type="direct"), routing_key=name)(channel).declare()


def pid_alive(pid: int) -> bool:
    """The process exists and is not a zombie (Linux: /proc; elsewhere kill 0)."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_warned: Dict[str, bool] = {}


def _entry(field: str, raw: str) -> Optional[Dict[str, Any]]:
    """A running-table entry, or None (logged, naming the field) when it is not one the lab wrote: anyone who
    can write to Redis could add one, and its ids become paths."""
    try:
        run_id, job_id = field.split("/", 1)
        open_run(run_id)
        check_job_id(job_id)
        info = json.loads(raw)
        int(info["attempt"]), str(info["worker_id"]), float(info["started_at_unix_s"]), str(info["node"])
        return info
    except Refused as exc:
        why = str(exc)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        why = "not a lab attempt (%s)" % str(exc)[:120]
    if field not in _warned:  # once per process, not every sweep
        _warned[field] = True
        log.warning("running-table entry %r ignored: %s", field[:120], why)
    return None


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
            info = _entry(field, raw)
            if info is None:
                continue
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
            reason = ("worker %s (pid %s) stopped sending heartbeats while running attempt %d (started %s UTC)"
                      % (info["node"], info["worker_id"].rsplit("/", 1)[-1], int(info["attempt"]),
                         time.strftime("%H:%M:%S", time.gmtime(float(info["started_at_unix_s"])))))
            done.append(self.handle(run_id, job_id, info, reason))
        return done

    def sweep_children(self, worker_id: str) -> List[str]:
        """Attempts of this worker (``worker_id``) whose job-running process (the pool child) died while the
        worker lives: Celery says only ``WorkerLostError`` in its log; the lab resubmits or records them."""
        done: List[str] = []
        for field, raw in self.client.hgetall(keys.RUNNING).items():
            info = _entry(field, raw)
            if info is None:
                continue
            pid = int(info.get("child_pid") or 0)
            if info.get("worker_id") != worker_id or not pid or pid_alive(pid):
                continue
            run_id, job_id = field.split("/", 1)
            if not self.client.set(keys.lost_lock(run_id, job_id, int(info["attempt"])), self.me, nx=True, ex=86400):
                continue
            reason = ("the process running attempt %d (pid %d, Celery's pool child of %s) died (killed, or crashed) "
                      "while the worker lived (started %s UTC)"
                      % (int(info["attempt"]), pid, info["node"],
                         time.strftime("%H:%M:%S", time.gmtime(float(info["started_at_unix_s"])))))
            done.append(self.handle(run_id, job_id, info, reason))
        return done

    def handle(self, run_id: str, job_id: str, info: Dict[str, Any], reason: str) -> str:
        attempt = int(info["attempt"])
        aways = 0  # attempts put back because the device went away do not count as losses
        try:
            run_root = open_run(run_id).root
            claims.give_up(run_root, job_id, attempt, reason)
            aways = claims.away_count(run_root, job_id)
        except Exception as exc:  # the store unreachable here: Redis still refuses the late result
            log.warning("%s/%s: could not mark attempt %d given up in the results store: %s", run_id, job_id,
                        attempt, exc)
        entry = json.loads(self.client.hget(keys.run_jobs(run_id), job_id) or "{}")
        reasons = list(entry.get("lost_reasons") or []) + [reason]
        if attempt - aways < MAX_ATTEMPTS and attempt < MAX_TOTAL_ATTEMPTS and entry.get("payload"):
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

        store = open_run(run_id)
        job = next((j for j in store.planned_jobs() if j.job_id == job_id), None)
        if job is None:
            return "%s/%s: not in the run's plan; nothing recorded" % (run_id, job_id)
        message = ("lost: its worker died %d time(s) while running it (%s); not run again, so that no benchmark "
                   "runs more than %d times — resubmit it if wanted" % (len(reasons), "; ".join(reasons), MAX_ATTEMPTS))
        result: Dict[str, Any] = {"job_id": job_id, "status": "error", "error_type": "worker_lost", "error": message,
                                  "lab": {"run_id": run_id, "attempt": attempt, "lost_reasons": reasons}}
        if isinstance(job, PlannedJob):
            result.update(device_name=job.device, model_name=job.model, variant=job.variant,
                          runtime_name=job.runtime, plan=job.to_json())
        if not (store.root / "jobs" / (job_id + ".json")).exists():  # never replace a stored result
            store.save_result(result)
        done, total = records.end_attempt(self.client, run_id, job_id, attempt,
                                          {"state": "lost", "lost_reasons": reasons})
        if done >= 0:
            finalize_if_done(self.client, store, done, total, self.printer)
        return "%s/%s recorded as lost: %s" % (run_id, job_id, reasons[-1])
