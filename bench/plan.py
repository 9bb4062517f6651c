"""Planning: models × variants × runtimes × devices → jobs, each with a stable id (for --resume)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, List, Optional


@dataclass
class ArtifactRef:
    """A model file on the host that a job runs."""

    model: str
    variant: str
    format: str
    runtime: str
    path: Optional[str]
    sha256: Optional[str]
    file_bytes: Optional[int] = None
    params: Optional[int] = None
    status: str = "built"
    error: Optional[str] = None
    input_hints: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    seq_len: int = 128
    #: Size and operation/byte counts (models.stats): params, macs, flops, weight_bytes, activation_bytes.
    stats: Dict[str, Any] = field(default_factory=dict)


@dataclass
class PlannedJob:
    job_id: str
    device: str
    model: str
    variant: str
    runtime: str
    runtime_options: Dict[str, Any]
    measure: Dict[str, Any]
    timeout_s: float
    artifact: ArtifactRef
    #: 1-based round of an interleaved ``--rounds N`` run (0: the run has one round).
    round: int = 0
    #: The job id without its round suffix: the jobs that measure the same thing in each round.
    group: str = ""

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "PlannedJob":
        data = dict(data)
        data["artifact"] = ArtifactRef(**data["artifact"])
        return cls(**data)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


#: Longest job id: room for the round suffix and an attempts/ time stamp under the 200-character file name limit.
MAX_ID = 120


def job_id(device: str, model: str, variant: str, runtime: str, options: Dict[str, Any]) -> str:
    base = "--".join(_slug(x) for x in (device, model, variant, runtime))
    if options:
        base += "--" + hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:8]
    if len(base) > MAX_ID:  # it names files (jobs/<id>.json, attempts/<id>.<time>.json): keep it short, unique
        base = base[:MAX_ID - 10].rstrip("-_.") + "--" + hashlib.sha256(base.encode()).hexdigest()[:8]
    return base


def plan_jobs(devices: List[str], artifacts: List[ArtifactRef], runtimes: Optional[List[str]],
              runtime_options: Dict[str, Dict[str, Any]], measure: Dict[str, Any],
              timeout_s: float, rounds: int = 1) -> List[PlannedJob]:
    """One job per device × artifact whose runtime is wanted, in a stable order.

    With ``rounds`` > 1 the whole list is repeated that many times, round after round (asv-style
    interleaving: a slow spell of the device then hits one round of every job, not every round of one
    job); each copy's id ends in ``--r<k>`` and ``group`` names the id they share."""
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    once: List[PlannedJob] = []
    for device in devices:
        for art in artifacts:
            if runtimes and art.runtime not in runtimes:
                continue
            opts = dict(runtime_options.get(art.runtime, {}))
            m = dict(measure)
            m.setdefault("seq_len", art.seq_len)
            base = job_id(device, art.model, art.variant, art.runtime, opts)
            once.append(PlannedJob(job_id=base, device=device, model=art.model, variant=art.variant,
                                   runtime=art.runtime, runtime_options=opts, measure=m, timeout_s=timeout_s,
                                   artifact=art, group=base))
    if rounds == 1:
        return once
    return [replace(j, job_id="%s--r%d" % (j.job_id, k), round=k, measure=dict(j.measure))
            for k in range(1, rounds + 1) for j in once]
