"""The lab's one task: run one planned job on this worker's device and store its result.

The job runs through the single-host code path (``bench.runner.DeviceWorker.run_one``: deploy by hash, one
fresh agent process under the device lock, checks, statistics, an error boundary); only the store differs:
``LabStore`` tags each result with where and when it ran, refuses a result of an attempt the lab has given up,
and counts the job toward its run, finishing the run (tables, report, ``complete``) after its last job."""

from __future__ import annotations

import json
import logging
import os
import socket
from typing import Any, Dict, Optional

from ..plan import PlannedJob
from ..store import RunStore
from . import keys, records
from .app import TASK_NAME, app
from .artifacts import fetch

log = logging.getLogger("edgebench.lab")


class LabStore(RunStore):
    """The run's folder in the one results store, written by one attempt of one job."""

    def __init__(self, store: RunStore, client: Any, payload: Dict[str, Any], lab: Dict[str, Any]) -> None:
        super().__init__(store.root)
        self.client = client
        self.job_id = payload["job"]["job_id"]
        self.attempt = int(payload["attempt"])
        self.lab = lab
        #: (done, total) of the run after this job's result counted; None until then.
        self.progress: Optional[tuple] = None

    def save_result(self, result: Dict[str, Any]) -> Any:
        if result.get("job_id") != self.job_id:
            return super().save_result(result)
        if not records.attempt_current(self.client, self.run_id, self.job_id, self.attempt):
            log.warning("%s: attempt %d was given up by the lab (its worker was declared lost); its result is not "
                        "stored", self.job_id, self.attempt)
            self.progress = (-1, 0)
            return None
        self.lab["finished_at_unix_s"] = round(records.now_s(), 3)
        result["lab"] = dict(self.lab)
        path = super().save_result(result)
        self.progress = records.end_attempt(self.client, self.run_id, self.job_id, self.attempt,
                                            {"state": "done", "status": result.get("status")})
        return path


#: Per worker process: one DeviceWorker (and its open transport) reused across jobs and runs.
_workers: Dict[str, Any] = {}


def _device_worker(name: str) -> Any:
    from ..inventory import load_inventory, resolve_devices
    from ..runner import Counter, DeviceWorker

    if name not in _workers:
        device = resolve_devices([name], load_inventory())[0]
        _workers[name] = DeviceWorker(device, None, lambda line: log.info("%s", line), Counter(0), "skip")
    return _workers[name]


def run_payload(payload: Dict[str, Any], node: str) -> Dict[str, Any]:
    """Run one job (``payload`` as lab submit or the reaper sent it) on this worker's device."""
    from ..runner import Counter
    from .finish import finalize_if_done

    device = os.environ.get("EDGEBENCH_LAB_DEVICE", "")
    job = PlannedJob.from_json(payload["job"])
    client = records.connect(app.conf.broker_url)
    if job.device != device:  # routing makes this impossible; if it happens anyway, send the job where it belongs
        log.error("job %s is for device %r but reached the worker of %r: sent back to %s", job.job_id, job.device,
                  device, payload["queue"])
        app.send_task(TASK_NAME, kwargs={"payload": payload}, queue=payload["queue"],
                      priority=keys.kombu_priority(payload["priority"]))
        return {"job_id": job.job_id, "status": "rerouted"}
    started = records.now_s()
    lab = {"run_id": payload["run_id"], "attempt": payload["attempt"], "worker": node, "lab_host": socket.gethostname(),
           "worker_pid": os.getppid(), "user": payload["user"], "priority": payload["priority"], "queue": payload["queue"],
           "queued_at_unix_s": payload["queued_at_unix_s"], "started_at_unix_s": round(started, 3),
           "queue_wait_s": round(started - payload["queued_at_unix_s"], 3),
           "resubmitted_because": payload.get("resubmitted_because")}
    records.start_attempt(client, payload["run_id"], job.job_id, {
        "device": device, "node": node, "worker_id": "%s/%d" % (node, os.getppid()), "attempt": payload["attempt"],
        "started_at_unix_s": started, "user": payload["user"]})
    store = LabStore(RunStore.open(payload["run_id"]), client, payload, lab)
    if job.artifact.path is not None and payload.get("artifact_key"):
        try:
            job.artifact.path = str(fetch(payload["artifact_key"], job.artifact.sha256 or ""))
        except Exception as exc:  # the job becomes an error result naming the store (model_missing below)
            job.artifact.error = str(exc)
            job.artifact.status = "missing"
    worker = _device_worker(device)
    worker.store = store
    meta = client.hgetall(keys.run_meta(payload["run_id"]))
    worker.counter = Counter(int(meta.get("total", 0)))
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
        store.progress = records.end_attempt(client, payload["run_id"], job.job_id, int(payload["attempt"]),
                                             {"state": "lost", "reason": "the result could not be stored on %s"
                                              % store.root})
    done, total = store.progress
    if done >= 0:
        finalize_if_done(client, store, done, total, log.info)
    return {"job_id": job.job_id, "done": done, "total": total}


@app.task(name=TASK_NAME, bind=True)
def run_job(self: Any, payload: Dict[str, Any]) -> Dict[str, Any]:
    """Celery entry point; ``payload`` is plain JSON (lab submit's ``job_payload``)."""
    return run_payload(json.loads(json.dumps(payload)), self.request.hostname or "unknown")
