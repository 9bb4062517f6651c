"""The lab's one task: run one planned job on this worker's device and store its result.

Every message first passes the gate (gate.py: signature, shape, the run and its plan in the results store);
a refused one is logged naming the field and dropped, and nothing on this host is touched. Then the device's
lease is checked (a worker whose lease was taken stops), the attempt is claimed in the results store (a
duplicate or replayed message finds the claim and is dropped), and the job runs through the single-host code
path (``bench.run.runner.DeviceWorker.run_one``: deploy by hash, one fresh agent process under the device lock,
checks, statistics, an error boundary); only the store differs: ``LabStore`` tags each result with where and
when it ran, never replaces a stored result, refuses a result of an attempt the lab has given up, and counts
the job toward its run, finishing the run (tables, report, ``complete``) after its last job.

A device that vanishes mid-run (its link, its SSH server, its agent gone) must not drain its queue as errors:
when a job ends with an error that the device's absence explains (``AWAY_TYPES``), the job-running process
probes the device at once; if the probe fails too, it asks its worker to quarantine the device (the
``lab_quarantine`` control command, worker.py: ``cancel_consumer`` on its queues, answered before this task
returns, so before the worker takes another job), and puts the job back on its queue as the next attempt
(``put_back``) instead of storing the error. The worker's health loop restores the device when it answers
again, and the queued jobs run. A job is put back at most ``MAX_AWAY`` times; after that its error is stored."""

from __future__ import annotations

import datetime
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from ..results.store import RunStore, _write_json
from . import claims, keys, records
from .app import TASK_NAME, app
from .artifacts import fetch
from .gate import MAX_TOTAL_ATTEMPTS, Refused, StoreAbsent, admit
from .lost import send_job

#: Job errors that a device that went away explains; after one, the device is probed at once.
AWAY_TYPES = ("transport", "agent_crash", "timeout")
#: Seconds the device probe after such an error may take (a link that hangs rather than refuses).
AWAY_PROBE_S = 10.0
#: Seconds the job-running process waits for its worker to confirm the quarantine.
QUARANTINE_REPLY_S = 5.0

log = logging.getLogger("edgebench.lab")


class LabStore(RunStore):
    """The run's folder in the one results store, written by one attempt of one job."""

    def __init__(self, root: Path, client: Any, payload: Dict[str, Any], lab: Dict[str, Any]) -> None:
        super().__init__(root)
        self.client = client
        self.job_id = payload["job"]["job_id"]
        self.attempt = int(payload["attempt"])
        self.lab = lab
        self.payload = payload
        #: (done, total) of the run after this job's result counted; None until then.
        self.progress: Optional[tuple] = None
        #: Called with an error result of ``AWAY_TYPES``: returns why the job was put back (not stored), or None.
        self.device_away: Optional[Callable[[Dict[str, Any]], Optional[str]]] = None

    def save_result(self, result: Dict[str, Any]) -> Any:
        if result.get("job_id") != self.job_id:
            return None  # a lab attempt stores only its own job's result
        if (self.device_away is not None and result.get("status") == "error"
                and result.get("error_type") in AWAY_TYPES and self.device_away(result)):
            self.progress = (-1, 0)  # put back on its queue: nothing stored, nothing counted
            return None
        self.lab["finished_at_unix_s"] = round(records.now_s(), 3)
        result["lab"] = dict(self.lab)
        path = self.root / "jobs" / (self.job_id + ".json")
        if path.exists():  # never replaced: kept beside it, not counted
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
            _write_json(self.root / "attempts" / ("%s.%s.not-stored.json" % (self.job_id, stamp)), result)
            log.warning("%s: a result is already stored; attempt %d's is kept in attempts/ and replaces nothing",
                        self.job_id, self.attempt)
            self.progress = (-1, 0)
            return None
        if claims.given_up(self.root, self.job_id, self.attempt):
            log.warning("%s: attempt %d was given up by the lab (%s); its result is not stored", self.job_id,
                        self.attempt, (claims.read(self.root, self.job_id, self.attempt, ".given-up") or {})
                        .get("reason"))
            self.progress = (-1, 0)
            return None
        current, known = records.attempt_state(self.client, self.run_id, self.job_id, self.attempt)
        forgot = not current and not known
        if not current and not forgot:
            log.warning("%s: attempt %d was given up by the lab (its worker was declared lost); its result is not "
                        "stored", self.job_id, self.attempt)
            self.progress = (-1, 0)
            return None
        path = super().save_result(result)
        if current:
            self.progress = records.end_attempt(self.client, self.run_id, self.job_id, self.attempt,
                                                {"state": "done", "status": result.get("status")})
        else:  # the broker forgot the run (Redis restarted empty): the results store counts (recovery.py)
            log.warning("%s: the broker has no record of run %s; result stored, the run is rebuilt from the results "
                        "store", self.job_id, self.run_id)
            # a rebuild may have made the run known since the check above, after it looked for this result
            self.progress = records.finish_stored(self.client, self.run_id, self.job_id)
        return path


#: Per worker process: one DeviceWorker (and its open transport) reused across jobs and runs.
_workers: Dict[str, Any] = {}

#: ``make perf-lab`` only (bench/perf/lab.py): seconds a STAND-IN job sleeps instead of running its benchmark.
#: Everything else is the lab's real path (gate, lease, claim, records, store, finishing the run); the stored
#: result says ``unavailable`` / ``standin`` and carries no measurement.
STANDIN_ENV = "EDGEBENCH_LAB_PERF_STANDIN_S"
#: Where a stand-in job logs each execution that ran to its end (a Redis list; perf.py counts duplicates).
STANDIN_LOG = "edgebench:lab:perf:executions"


class StandinWorker:
    """The ``DeviceWorker`` interface the task uses, for perf-lab's stand-in jobs: sleep, store a result that
    says it measured nothing."""

    def __init__(self, device: Any, sleep_s: float) -> None:
        self.device = device
        self.sleep_s = sleep_s
        self.store: Any = None
        self.counter: Any = None
        self.ceilings = "skip"
        self.gpu_providers: list = []
        self.transport: Any = None
        self.agent_dir: Any = None

    def measure_ceilings(self) -> None:
        return None

    def run_one(self, job: Any) -> bool:
        started = records.now_s()
        time.sleep(self.sleep_s)
        client = records.connect(app.conf.broker_url)
        client.rpush(STANDIN_LOG, json.dumps({"run_id": self.store.run_id, "job_id": job.job_id,
                                              "attempt": self.store.attempt, "pid": os.getpid(),
                                              "started_unix_s": started, "finished_unix_s": records.now_s()}))
        self.store.save_result({
            "job_id": job.job_id, "status": "unavailable", "error_type": "standin",
            "reason": "perf-lab stand-in: slept %.3f s instead of running the benchmark; nothing measured"
                      % self.sleep_s,
            "device_name": job.device, "model_name": job.model, "variant": job.variant,
            "runtime_name": job.runtime, "plan": job.to_json()})
        return True


def _device_worker(name: str) -> Any:
    from ..plan.inventory import load_inventory, resolve_devices
    from ..run.runner import Counter, DeviceWorker

    if name not in _workers:
        device = resolve_devices([name], load_inventory())[0]
        _workers[name] = DeviceWorker(device, None, lambda event: event.line() and log.info("%s", event.line()),
                                      Counter(0), "skip")  # the worker's log subscribes to the job's events
    return _workers[name]


def hand_back(kwargs: Dict[str, Any], why: str) -> Dict[str, Any]:
    """Put a valid message back on its queue unchanged (its signature still holds), for another worker or later."""
    log.warning("job %s handed back to %s: %s", kwargs["payload"]["job"].get("job_id"), kwargs["payload"]["queue"], why)
    send_job(app, kwargs["payload"], sig=kwargs["sig"])
    return {"status": "handed_back", "why": why}


def quarantine_own_worker(node: str, reason: str, timeout_s: float = QUARANTINE_REPLY_S) -> bool:
    """Ask this process's worker (``node``) to stop consuming its device's queues now (worker.py's
    ``lab_quarantine``); True when it confirmed within ``timeout_s`` seconds."""
    try:
        replies = app.control.broadcast("lab_quarantine", arguments={"reason": reason}, destination=[node],
                                        reply=True, timeout=timeout_s)
    except Exception as exc:  # the broker away too: the worker's own health loop quarantines it later
        log.warning("could not ask %s to quarantine its device: %s: %s", node, type(exc).__name__, exc)
        return False
    return any(isinstance(r, dict) and any((v or {}).get("ok") for v in r.values() if isinstance(v, dict))
               for r in replies or [])


def put_back(client: Any, store: LabStore, reason: str) -> bool:
    """Give up the running attempt (marked in the results store as ``claims.AWAY``) and queue the job again as
    its next attempt; False when that attempt was no longer the running one (a reaper ended it)."""
    run_id, job_id, attempt = store.run_id, store.job_id, store.attempt
    entry = json.loads(client.hget(keys.run_jobs(run_id), job_id) or "{}")
    base = entry.get("payload") or store.payload
    payload = dict(base, attempt=attempt + 1, resubmitted_because=reason, queued_at_unix_s=records.now_s())
    claims.give_up(store.root, job_id, attempt, claims.AWAY + reason)
    if not records.requeue_attempt(client, run_id, job_id, attempt, {
            "state": "queued", "attempt": attempt + 1, "payload": payload,
            "away_reasons": list(entry.get("away_reasons") or []) + [reason]}):
        return False
    send_job(app, payload)
    return True


def device_away_check(client: Any, worker: Any, store: LabStore, node: str) -> Callable[[Dict[str, Any]], Optional[str]]:
    """The ``LabStore.device_away`` hook of one attempt: probe the device at once; if it does not answer,
    quarantine it (before the worker takes another job) and put the job back."""

    def check(result: Dict[str, Any]) -> Optional[str]:
        from .health import probe

        if store.attempt >= MAX_TOTAL_ATTEMPTS:
            return None  # put back often enough: its error is stored
        health = probe(worker.device, timeout_s=AWAY_PROBE_S)
        if health.ok:
            return None  # the device answers: the error is the job's own
        reason = ("device %s went away while attempt %d ran (%s: %s); probed at once: %s" % (
            worker.device.name, store.attempt, result.get("error_type"), str(result.get("error") or "")[:300],
            health.reason))
        try:  # the next job reconnects (and re-checks the work dir) instead of reusing a dead link
            if worker.transport is not None:
                worker.transport.close()
        except Exception:
            pass
        worker.transport, worker.agent_dir = None, None
        confirmed = quarantine_own_worker(node, reason)
        if not put_back(client, store, reason):
            return None
        log.warning("%s: put back on its queue as attempt %d, device %s quarantined%s: %s", store.job_id,
                    store.attempt + 1, worker.device.name, "" if confirmed else " (not confirmed by its worker)",
                    reason)
        return reason

    return check


def run_payload(kwargs: Dict[str, Any], node: str, args: Any = ()) -> Dict[str, Any]:
    """Gate, fence, claim and run one job message (as lab submit or a lab worker sent it) on this worker's
    device. Returns what happened (Celery ignores it; tests and logs read it)."""
    from ..run.runner import Counter
    from .finish import finalize_if_done

    device = os.environ.get("EDGEBENCH_LAB_DEVICE", "")
    timings = records.Timings.from_env()
    try:
        adm = admit(kwargs, args)
    except Refused as exc:
        log.warning("job message refused and dropped: %s: %s (nothing on this host was touched)", exc.field, exc.reason)
        return {"status": "refused", "field": exc.field, "reason": exc.reason}
    except StoreAbsent as exc:  # this host, not the message: hand it back and stop consuming (worker.py)
        out = hand_back(kwargs, str(exc))
        time.sleep(2 * timings.heartbeat_s)  # the worker's next tick quarantines the device meanwhile
        return out
    payload, job = adm.payload, adm.job
    client = records.connect(app.conf.broker_url)
    if job.device != device:  # routing makes this impossible; if it happens anyway, send the job where it belongs
        return hand_back(kwargs, "it is for device %r, not %r" % (job.device, device))
    worker_id = "%s/%d" % (node, os.getppid())
    lease = records.lease_holder(client, device)
    if not lease or lease.get("worker_id") != worker_id:  # fencing: a stale worker runs nothing more
        time.sleep(timings.heartbeat_s)  # meanwhile the worker's tick stops it (or takes a lease Redis forgot)
        return hand_back(kwargs, "this worker (%s) no longer holds device %s's lease (%s)" % (
            worker_id, device, "held by %s, generation %s" % (lease.get("worker_id"), lease.get("gen"))
            if lease else "expired"))
    run_id, job_id, attempt = payload["run_id"], job.job_id, int(payload["attempt"])
    if (adm.run_root / "jobs" / (job_id + ".json")).exists():
        log.warning("job message refused and dropped: payload.job.job_id: %s/%s already has a stored result (a "
                    "duplicate or replayed message)", run_id, job_id)
        return {"status": "refused", "field": "payload.job.job_id", "reason": "already stored"}
    later = claims.latest_attempt(adm.run_root, job_id)
    started = records.now_s()
    claimed = claims.claim(adm.run_root, job_id, attempt, {
        "worker_id": worker_id, "node": node, "device": device, "child_pid": os.getpid(),
        "started_at_unix_s": started, "lease_gen": lease.get("gen")}) if later <= attempt else {"later": later}
    if claimed is not None:
        log.warning("job message refused and dropped: payload.attempt: attempt %d of %s/%s already started (%s): a "
                    "duplicate or replayed message", attempt, run_id, job_id,
                    "attempt %d exists" % later if "later" in claimed else "by %s" % claimed.get("worker_id"))
        return {"status": "refused", "field": "payload.attempt", "reason": "already started"}
    lab = {"run_id": run_id, "attempt": attempt, "worker": node, "lab_host": socket.gethostname(),
           "worker_pid": os.getppid(), "user": payload["user"], "priority": payload["priority"],
           "queue": payload["queue"], "queued_at_unix_s": payload["queued_at_unix_s"],
           "started_at_unix_s": round(started, 3), "queue_wait_s": round(started - payload["queued_at_unix_s"], 3),
           "resubmitted_because": payload.get("resubmitted_because"), "lease_gen": lease.get("gen")}
    if payload.get("recovered_because"):
        lab["recovered_because"] = payload["recovered_because"]
    records.start_attempt(client, run_id, job_id, {
        "device": device, "node": node, "worker_id": worker_id, "child_pid": os.getpid(), "attempt": attempt,
        "started_at_unix_s": started, "user": payload["user"], "lease_gen": lease.get("gen")})
    store = LabStore(adm.run_root, client, payload, lab)
    if adm.artifact_key:
        try:  # by content hash from the artifact store; the message's path is never used
            job.artifact.path = str(fetch(adm.artifact_key, job.artifact.sha256 or ""))
        except Exception as exc:  # the job becomes an error result naming the store (model_missing below)
            job.artifact.error = str(exc)
            job.artifact.status = "missing"
    standin_s = os.environ.get(STANDIN_ENV)
    worker = StandinWorker(job, float(standin_s)) if standin_s else _device_worker(device)
    worker.store = store
    store.device_away = device_away_check(client, worker, store, node)
    meta = client.hgetall(keys.run_meta(run_id))
    worker.counter = Counter(int(meta.get("total", 0) or len(adm.manifest.get("jobs") or [])))
    worker.counter._n = int(meta.get("done", 0))
    worker.ceilings = payload.get("ceilings", "skip")
    if worker.ceilings != "skip":
        worker.gpu_providers = []
        try:
            worker.measure_ceilings()  # once per run and device: a no-op when the run already has them
        except Exception as exc:  # an extra: never at the cost of the job
            log.warning("ceilings on %s failed: %s: %s", device, type(exc).__name__, exc)
    worker.run_one(job)
    if store.progress is None:  # run_one could not store the result (results disk full)
        store.progress = records.end_attempt(client, run_id, job_id, attempt,
                                             {"state": "lost", "reason": "the result could not be stored on %s"
                                              % store.root})
    done, total = store.progress
    if done >= 0:
        finalize_if_done(client, store, done, total, log.info)
    return {"job_id": job_id, "done": done, "total": total}


@app.task(name=TASK_NAME, bind=True)
def run_job(self: Any, *args: Any, **kwargs: Any) -> Dict[str, Any]:
    """Celery entry point; ``kwargs`` is plain JSON, ``payload`` (lab submit's ``job_payload``) and ``sig``
    (its HMAC); anything else is refused by the gate."""
    return run_payload(json.loads(json.dumps(kwargs)), self.request.hostname or "unknown", args)
