"""The one gate every job message passes before any path, file or folder is touched (the trust boundary
between the broker and a lab host).

In order: the task's arguments are exactly ``payload`` and ``sig``; ``sig`` is the lab's HMAC of the payload
(auth.py); the payload has the lab's shape (pydantic, strict, no unknown fields); the job's id follows the
same rule as ``bench run`` (plan.job_id); the run id has the form the results store makes; the run exists in
this host's results store, is a lab run, is not complete, and plans exactly this job; the artifact key is the
one derived from the plan's content hash. The job that runs is the *plan's* (from the results store), with its
model file fetched from the artifact store by hash — a path in a message is never used.

A message that fails is refused with ``Refused(field, reason)``; the task logs it naming the field and drops
it. A host whose results store is not there raises ``StoreAbsent`` instead (the message is not the problem:
it is handed back, and the worker stops consuming until the store is back)."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..paths import SAFE_NAME, UnsafePath, results_root, safe_child
from ..plan.jobs import PlannedJob, job_id as plan_job_id
from . import auth, keys

#: A run id as ``store.new_run_id`` makes it: ``YYYYmmdd-HHMMSS-xxxx``.
RUN_ID = r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$"
USER = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$"
CEILINGS = ("measure", "remeasure", "keep", "skip")
#: The most attempts a job may lose to a dying worker (the first and one resubmission); lost.py enforces it.
MAX_ATTEMPTS = 2
#: The most times a job is put back because its device went away while it ran (tasks.py, ``put_back``): each is
#: an attempt of its own, so a job has at most ``MAX_TOTAL_ATTEMPTS`` attempts in all.
MAX_AWAY = 4
MAX_TOTAL_ATTEMPTS = MAX_ATTEMPTS + MAX_AWAY
DONE_STATES = ("complete", "complete_with_errors")


class Refused(ValueError):
    """A message the lab does not run: ``field`` names what is wrong, ``reason`` says how."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__("%s: %s" % (field, reason))
        self.field = field
        self.reason = reason


class StoreAbsent(RuntimeError):
    """This host cannot see the lab's results store (the shared folder is not mounted)."""


class Payload(BaseModel):
    """A job message's payload, as ``lab submit`` (or a lab worker resubmitting it) writes it."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    run_id: str = Field(pattern=RUN_ID)
    job: Dict[str, Any]
    artifact_key: Optional[str] = Field(default=None, max_length=400)
    user: str = Field(pattern=USER)
    priority: int = Field(ge=0, le=9)
    queue: str = Field(max_length=300)
    attempt: int = Field(ge=1, le=MAX_TOTAL_ATTEMPTS)
    ceilings: str
    queued_at_unix_s: float = Field(ge=0)
    resubmitted_because: Optional[str] = Field(default=None, max_length=4000)
    recovered_because: Optional[str] = Field(default=None, max_length=4000)

    @field_validator("ceilings")
    @classmethod
    def _ceilings(cls, v: str) -> str:
        if v not in CEILINGS:
            raise ValueError("must be one of %s" % ", ".join(CEILINGS))
        return v

    @field_validator("queued_at_unix_s", mode="before")
    @classmethod
    def _time(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            return float(v)
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError("must be finite")
        return v


@dataclass
class Admitted:
    """A message that passed: its payload, the plan's job (artifact path = the artifact store's file, or None
    until fetched), the run folder and the artifact key derived from the plan."""

    payload: Dict[str, Any]
    job: PlannedJob
    run_root: Path
    artifact_key: Optional[str]
    manifest: Dict[str, Any]


def _pydantic_field(exc: ValidationError) -> Tuple[str, str]:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ())) or "payload"
    return "payload." + loc, str(err.get("msg", "invalid"))[:200]


def expected_job_id(job: PlannedJob) -> str:
    """The id ``bench run`` gives this job (plan.plan_jobs): the same rule, recomputed."""
    base = plan_job_id(job.device, job.model, job.variant, job.runtime, job.runtime_options)
    return base if not job.round else "%s--r%d" % (base, job.round)


def plan_sha256(job: PlannedJob) -> Optional[str]:
    """The content hash of the plan's model file (None when the plan has no built file)."""
    art = job.artifact
    if art.status != "built" or not art.sha256 or not art.path:
        return None
    if not isinstance(art.sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", art.sha256):
        raise Refused("job.artifact.sha256", "not a sha256 hex digest")
    return art.sha256


def artifact_key_for(job: PlannedJob, root: Optional[Path] = None) -> Optional[str]:
    """The artifact store's key of the plan's model file, found by its content hash (``<sha[:2]>/<sha>/``
    holds it under the name it was first published with), or None when the plan has no built file."""
    sha = plan_sha256(job)
    if sha is None:
        return None
    from .artifacts import artifact_root

    folder = (root or artifact_root()) / sha[:2] / sha
    try:
        names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    except OSError:
        names = []
    return "%s/%s/%s" % (sha[:2], sha, names[0] if names else Path(job.artifact.path or "model").name)


def check_artifact_key(job: PlannedJob, key: Any) -> Optional[str]:
    """``key`` if it addresses the plan's model file by its content hash (Refused otherwise)."""
    sha = plan_sha256(job)
    if sha is None:
        if key is not None:
            raise Refused("payload.artifact_key", "the plan has no model file for this job")
        return None
    parts = key.split("/") if isinstance(key, str) else []
    if len(parts) != 3 or parts[0] != sha[:2] or parts[1] != sha:
        raise Refused("payload.artifact_key", "is not the plan's model file by content hash (%s/%s/<name>)"
                      % (sha[:2], sha))
    try:
        safe_child(Path("/"), parts[2])
    except UnsafePath as exc:
        raise Refused("payload.artifact_key", str(exc))
    return key


def check_shape(kwargs: Any, args: Any = ()) -> Dict[str, Any]:
    """Signature and shape only (no file is read): the payload as a dict, or Refused."""
    if args:
        raise Refused("args", "the lab's task takes no positional arguments")
    if not isinstance(kwargs, dict) or set(kwargs) != {"payload", "sig"}:
        got = sorted(kwargs) if isinstance(kwargs, dict) else type(kwargs).__name__
        raise Refused("kwargs", "must be exactly payload and sig, got %s" % (got,))
    why = auth.verify(kwargs["payload"], kwargs["sig"])
    if why is not None:
        raise Refused("sig", why)
    try:
        Payload.model_validate(kwargs["payload"])
    except ValidationError as exc:
        raise Refused(*_pydantic_field(exc))
    payload: Dict[str, Any] = kwargs["payload"]
    try:
        job = PlannedJob.from_json(payload["job"])
    except (TypeError, ValueError, KeyError) as exc:
        raise Refused("payload.job", "not a planned job (%s)" % str(exc)[:200])
    if not re.fullmatch(SAFE_NAME, job.device or "") or ".." in job.device:
        raise Refused("payload.job.device", "%r is not a device name" % str(job.device)[:80])
    if not isinstance(job.job_id, str) or job.job_id != expected_job_id(job):
        raise Refused("payload.job.job_id", "%r is not the id the plan gives this job" % str(job.job_id)[:80])
    if payload["queue"] != keys.user_queue(job.device, payload["user"]):
        raise Refused("payload.queue", "%r is not the user's queue of the job's device" % payload["queue"][:80])
    return payload


def admit(kwargs: Any, args: Any = (), base: Optional[Path] = None) -> Admitted:
    """The whole gate (see the module's text): Admitted, Refused or StoreAbsent. Reads only the run's
    manifest and job folder in this lab's results store."""
    payload = check_shape(kwargs, args)
    root = base or results_root()
    if not root.is_dir():
        raise StoreAbsent("the lab's results store %s is not on this host: mount the shared results directory "
                          "(EDGEBENCH_RESULTS)" % root)
    run_root = safe_child(root, payload["run_id"])  # the pattern made it safe; this says so again
    try:
        import json

        manifest = json.loads((run_root / "manifest.json").read_text())
    except FileNotFoundError:
        raise Refused("payload.run_id", "no run %s in the results store %s" % (payload["run_id"], root))
    except (OSError, ValueError) as exc:
        raise Refused("payload.run_id", "the run's manifest is unreadable (%s)" % str(exc)[:200])
    if not isinstance(manifest, dict) or not isinstance(manifest.get("lab"), dict):
        raise Refused("payload.run_id", "run %s is not a lab run" % payload["run_id"])
    if manifest.get("state") in DONE_STATES:
        raise Refused("payload.run_id", "run %s is %s: the broker cannot change a completed run"
                      % (payload["run_id"], manifest.get("state")))
    jobs = manifest.get("jobs")
    planned = next((j for j in jobs if isinstance(j, dict) and j.get("job_id") == payload["job"].get("job_id")),
                   None) if isinstance(jobs, list) else None
    if planned is None:
        raise Refused("payload.job.job_id", "run %s plans no job %r" % (payload["run_id"], payload["job"]["job_id"]))
    if planned != payload["job"]:
        diff = sorted(k for k in set(planned) | set(payload["job"]) if planned.get(k) != payload["job"].get(k))
        raise Refused("payload.job." + (diff[0] if diff else "?"), "differs from the run's plan")
    try:
        job = PlannedJob.from_json(planned)
    except (TypeError, ValueError, KeyError) as exc:
        raise Refused("payload.run_id", "the run's plan of this job is unreadable (%s)" % str(exc)[:200])
    key = check_artifact_key(job, payload.get("artifact_key"))
    job.artifact.path = None  # filled from the artifact store by hash, never from a message or another host
    return Admitted(payload=payload, job=job, run_root=run_root, artifact_key=key, manifest=manifest)


def open_run(run_id: Any, base: Optional[Path] = None) -> "RunStore":
    """The lab run ``run_id`` in this lab's results store — by id only, never a path (Refused otherwise): ids
    read back from Redis (the running table, a run's records) go through here before any file is written."""
    from ..results.store import RunStore

    if not isinstance(run_id, str) or not re.fullmatch(RUN_ID, run_id):
        raise Refused("run_id", "%r is not a run id of the results store" % str(run_id)[:80])
    root = safe_child(base or results_root(), run_id)
    if not (root / "manifest.json").is_file():
        raise Refused("run_id", "no run %s in the results store %s" % (run_id, base or results_root()))
    return RunStore(root)


def check_job_id(job_id: Any) -> str:
    """``job_id`` if it can name a file of the run (Refused otherwise)."""
    if not isinstance(job_id, str) or not re.fullmatch(SAFE_NAME, job_id) or ".." in job_id:
        raise Refused("job_id", "%r is not a job id" % str(job_id)[:80])
    return job_id
