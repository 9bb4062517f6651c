"""Planning: models × variants × runtimes × devices → jobs, each with a stable id (for --resume)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
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

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "PlannedJob":
        data = dict(data)
        data["artifact"] = ArtifactRef(**data["artifact"])
        return cls(**data)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def job_id(device: str, model: str, variant: str, runtime: str, options: Dict[str, Any]) -> str:
    base = "--".join(_slug(x) for x in (device, model, variant, runtime))
    if options:
        base += "--" + hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:8]
    return base


def plan_jobs(devices: List[str], artifacts: List[ArtifactRef], runtimes: Optional[List[str]],
              runtime_options: Dict[str, Dict[str, Any]], measure: Dict[str, Any],
              timeout_s: float) -> List[PlannedJob]:
    """One job per device × artifact whose runtime is wanted; the order interleaves nothing and is stable."""
    jobs: List[PlannedJob] = []
    for device in devices:
        for art in artifacts:
            if runtimes and art.runtime not in runtimes:
                continue
            opts = dict(runtime_options.get(art.runtime, {}))
            m = dict(measure)
            m.setdefault("seq_len", art.seq_len)
            jobs.append(PlannedJob(job_id=job_id(device, art.model, art.variant, art.runtime, opts),
                                   device=device, model=art.model, variant=art.variant, runtime=art.runtime,
                                   runtime_options=opts, measure=m, timeout_s=timeout_s, artifact=art))
    return jobs
