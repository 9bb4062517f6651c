"""The job the host sends: which model, which runtime with which options, how to measure."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional


class BadJob(ValueError):
    """The job JSON is malformed; the message names the field."""


@dataclass
class MeasureSpec:
    """How to time. Warm-up runs at least ``warmup_runs`` and ``warmup_min_s`` seconds; the timed
    window runs at least ``min_runs`` and ``min_seconds``, and stops at ``max_runs`` or ``max_seconds``."""

    warmup_runs: int = 5
    warmup_min_s: float = 0.2
    min_runs: int = 50
    min_seconds: float = 1.0
    max_runs: int = 10000
    max_seconds: float = 60.0
    seed: int = 0
    pin_cores: Optional[List[int]] = None
    seq_len: int = 128
    #: Sensor sampling rate (capped per sensor at its practical maximum); 0 turns sampling off.
    sample_rate_hz: float = 50.0
    #: Sensor sources to try (default: all); ``sensor_paths`` moves sysfs roots (containers, chroots).
    sensors: Optional[List[str]] = None
    sensor_paths: Dict[str, str] = field(default_factory=dict)
    #: Idle baseline just before the window (s), taken only where a power sensor exists.
    idle_s: float = 2.0
    #: The window is stretched so the power sensor yields at least this many samples in it.
    energy_min_samples: int = 100
    temp_limit_c: float = 85.0


@dataclass
class ModelSpec:
    path: str
    format: str = ""
    sha256: Optional[str] = None
    name: str = ""
    variant: str = ""
    input_hints: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    input_shapes: Dict[str, List[int]] = field(default_factory=dict)
    #: Operations (2 x MACs) per inference, from the host's model analysis, for GOPS/W.
    flops: Optional[float] = None


@dataclass
class Job:
    job_id: str
    model: ModelSpec
    runtime: str
    runtime_options: Dict[str, Any] = field(default_factory=dict)
    measure: MeasureSpec = field(default_factory=MeasureSpec)

    @classmethod
    def from_json(cls, data: Any) -> "Job":
        if not isinstance(data, dict):
            raise BadJob("a job must be a JSON object")
        try:
            model = data["model"]
            runtime = data["runtime"]
            job_id = str(data["job_id"])
        except KeyError as exc:
            raise BadJob("job is missing field %s" % exc)
        if not isinstance(model, dict) or "path" not in model:
            raise BadJob("job.model must be an object with a 'path'")
        if isinstance(runtime, str):
            runtime = {"name": runtime}
        try:
            mspec = MeasureSpec(**(data.get("measure") or {}))
            mod = ModelSpec(**model)
        except TypeError as exc:
            raise BadJob("job has an unknown field: %s" % exc)
        if mspec.min_runs < 1 or mspec.max_runs < mspec.min_runs:
            raise BadJob("measure: need 1 <= min_runs <= max_runs")
        return cls(job_id=job_id, model=mod, runtime=str(runtime.get("name", "")),
                   runtime_options=dict(runtime.get("options") or {}), measure=mspec)

    def to_json(self) -> Dict[str, Any]:
        return {"job_id": self.job_id, "model": asdict(self.model),
                "runtime": {"name": self.runtime, "options": self.runtime_options},
                "measure": asdict(self.measure)}
