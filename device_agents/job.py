"""The job the host sends: which model, which runtime with which options, how to measure."""

from __future__ import annotations

import math
import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Optional


class BadJob(ValueError):
    """The job JSON is malformed; the message names the field."""


def _type_ok(value: Any, hint: Any) -> bool:
    """``value`` (parsed JSON) fits the annotation ``hint`` (int, float, str, bool, Optional/List/Dict of them)."""
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin in (list, List):
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if origin in (dict, Dict):
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    return True  # Any


def _typed(cls: Any, data: Any, where: str) -> Any:
    """``cls(**data)`` after checking every given field's type; BadJob names the first bad or unknown one."""
    if not isinstance(data, dict):
        raise BadJob("job.%s must be an object, not %s" % (where, type(data).__name__))
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    for key, value in data.items():
        if key not in names:
            raise BadJob("job.%s has an unknown field %r (known: %s)" % (where, key, ", ".join(sorted(names))))
        if not _type_ok(value, hints[key]):
            raise BadJob("job.%s.%s must be %s, not %r" % (where, key, _describe(hints[key]), value))
    return cls(**data)


def _describe(hint: Any) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


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
    #: The batch size given to a dynamic batch (first) dimension.
    batch: int = 1
    #: Explicit shapes per input name (``--shapes``); they win over seq_len/batch and the model's own.
    input_shapes: Dict[str, List[int]] = field(default_factory=dict)
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
    #: Go on until the median's 95 % CI half-width is at most this % of the median (None: off).
    target_ci_pct: Optional[float] = None
    #: Before the job, wait until every thermal zone is below this (°C), at most ``cooldown_max_s`` s.
    cooldown_temp_c: Optional[float] = None
    cooldown_max_s: float = 300.0
    #: ``single`` (one timed window, the default), ``sustained``, ``stream`` or ``offline`` (device_agents.scenarios).
    scenario: str = "single"
    #: sustained/stream: how long (s); sustained: interval length (s).
    duration_s: Optional[float] = None
    interval_s: float = 10.0
    #: stream: frame rate (frames/s) and deadline (ms; default 1000/fps).
    fps: Optional[float] = None
    deadline_ms: Optional[float] = None
    #: offline: the batch sizes swept.
    offline_batches: Optional[List[int]] = None


SCENARIOS = ("single", "sustained", "stream", "offline")


def check_scenario(m: MeasureSpec) -> None:
    """The scenario's own settings, each named when it is missing or out of range (BadJob)."""
    if m.scenario not in SCENARIOS:
        raise BadJob("measure.scenario %r: one of %s" % (m.scenario, ", ".join(SCENARIOS)))
    if m.scenario in ("sustained", "stream") and not (m.duration_s and m.duration_s > 0):
        raise BadJob("measure.scenario %s needs duration_s > 0" % m.scenario)
    if m.scenario == "sustained" and not m.interval_s > 0:
        raise BadJob("measure.interval_s must be > 0")
    if m.scenario == "stream" and not (m.fps and m.fps > 0):
        raise BadJob("measure.scenario stream needs fps > 0")
    if m.deadline_ms is not None and not m.deadline_ms > 0:
        raise BadJob("measure.deadline_ms must be > 0")
    if m.scenario == "offline" and not (m.offline_batches and all(b >= 1 for b in m.offline_batches)):
        raise BadJob("measure.scenario offline needs offline_batches, each >= 1")


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
class AccuracySpec:
    """The accuracy pass (device_agents.accuracy): every example of an ``.npz`` dataset through the job's own
    runtime, options and input shape, outside the timed window; optionally the same examples through an FP32
    reference model (``reference_*``) for agreement. ``max_values`` bounds the output values returned."""

    dataset_path: str
    dataset_sha256: Optional[str] = None
    #: What to return per example: ``topk`` (class indices, for accuracy/top5/f1) or ``outputs`` (vectors).
    returns: str = "topk"
    #: Output to read (default: the first).
    output: Optional[str] = None
    reference_path: Optional[str] = None
    reference_sha256: Optional[str] = None
    reference_runtime: Optional[str] = None
    reference_options: Dict[str, Any] = field(default_factory=dict)
    reference_variant: Optional[str] = None
    max_values: int = 200000


@dataclass
class Job:
    job_id: str
    model: ModelSpec
    runtime: str
    runtime_options: Dict[str, Any] = field(default_factory=dict)
    measure: MeasureSpec = field(default_factory=MeasureSpec)
    accuracy: Optional[AccuracySpec] = None

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
        mspec = _typed(MeasureSpec, data.get("measure") or {}, "measure")
        mod = _typed(ModelSpec, model, "model")
        if not isinstance(runtime, dict) or not isinstance(runtime.get("name", ""), str):
            raise BadJob("job.runtime must be a runtime name or an object with a string 'name'")
        if not isinstance(runtime.get("options") or {}, dict):
            raise BadJob("job.runtime.options must be an object")
        if mspec.min_runs < 1 or mspec.max_runs < mspec.min_runs:
            raise BadJob("measure: need 1 <= min_runs <= max_runs")
        if mspec.target_ci_pct is not None and not mspec.target_ci_pct > 0:
            raise BadJob("measure.target_ci_pct must be a positive percentage")
        if mspec.min_seconds < 0 or mspec.max_seconds <= 0 or mspec.warmup_runs < 0:
            raise BadJob("measure: need min_seconds >= 0, max_seconds > 0 and warmup_runs >= 0")
        check_scenario(mspec)
        acc = data.get("accuracy")
        if acc is not None and (not isinstance(acc, dict) or "dataset_path" not in acc):
            raise BadJob("job.accuracy must be an object with a 'dataset_path'")
        accuracy = _typed(AccuracySpec, acc, "accuracy") if acc is not None else None
        if accuracy is not None and (accuracy.returns not in ("topk", "outputs") or accuracy.max_values < 1):
            raise BadJob("job.accuracy: returns must be 'topk' or 'outputs' and max_values >= 1")
        return cls(job_id=job_id, model=mod, runtime=str(runtime.get("name", "")),
                   runtime_options=dict(runtime.get("options") or {}), measure=mspec, accuracy=accuracy)

    def to_json(self) -> Dict[str, Any]:
        return {"job_id": self.job_id, "model": asdict(self.model),
                "runtime": {"name": self.runtime, "options": self.runtime_options},
                "measure": asdict(self.measure),
                **({"accuracy": asdict(self.accuracy)} if self.accuracy is not None else {})}
