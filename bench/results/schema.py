"""The one result schema: what an agent may return, checked before the host believes any of it.

Nothing from a device is trusted unchecked. ``check_agent_result`` validates the parsed
``result.json`` with pydantic and turns the first bad field into one line (``latencies_ms[3]: …``).
The store, the report and the lab read results only through shapes this module accepts.

Only the fields the host computes with are typed strictly; the agent may add more (device facts,
runtime descriptions, extras), which are kept as they are.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, Dict, List, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

#: No single inference is measured at over ~2.8 hours; larger figures are corrupt (and overflow statistics).
MAX_LATENCY_MS = 1e7


class ResultInvalid(ValueError):
    """A device returned a result that does not fit the schema; the message names the field."""


class _Open(BaseModel):
    """A JSON object with some fields typed; unknown fields are kept."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False, strict=True)  # no "1" or true for a number


class Timing(_Open):
    load_ms: Optional[float] = Field(default=None, ge=0)
    first_inference_ms: Optional[float] = Field(default=None, ge=0)
    runs: int = Field(ge=1)
    window_s: float = Field(ge=0)
    window_start_s: Optional[float] = None
    window_end_s: Optional[float] = None


class Memory(_Open):
    peak_over_baseline_bytes: Optional[int] = None


#: Most examples an accuracy pass may report (device_agents.accuracy bounds the values it returns).
MAX_ACCURACY_EXAMPLES = 1_000_000


class AccuracyReference(_Open):
    """The FP32 reference's side of an accuracy pass: per example cosine to the job's outputs, top-1 agreement."""

    variant: Optional[str] = None
    error: Optional[str] = None
    cosine: Optional[List[Optional[float]]] = Field(default=None, max_length=MAX_ACCURACY_EXAMPLES)
    top1_agree: Optional[List[bool]] = Field(default=None, max_length=MAX_ACCURACY_EXAMPLES)
    non_finite: Optional[Dict[str, int]] = None

    @field_validator("cosine")
    @classmethod
    def _cosines(cls, v: Optional[List[Optional[float]]]) -> Optional[List[Optional[float]]]:
        for i, c in enumerate(v or []):
            if c is not None and not -1.0 - 1e-6 <= c <= 1.0 + 1e-6:
                raise ValueError("cosine %d is %r: a cosine lies in [-1, 1]" % (i, c))
        return v


class AccuracyPass(_Open):
    """What the agent's accuracy pass returns (device_agents.accuracy): predictions or outputs per example, or an
    error; the host scores it against its own labels."""

    error: Optional[str] = None
    n: Optional[int] = Field(default=None, ge=1, le=MAX_ACCURACY_EXAMPLES)
    batch: Optional[int] = Field(default=None, ge=1)
    output: Optional[str] = None
    returns: Optional[Literal["topk", "outputs"]] = None
    values_per_example: Optional[int] = Field(default=None, ge=1)
    topk: Optional[List[List[int]]] = Field(default=None, max_length=MAX_ACCURACY_EXAMPLES)
    outputs: Optional[List[List[Optional[float]]]] = Field(default=None, max_length=MAX_ACCURACY_EXAMPLES)
    non_finite: Optional[Dict[str, int]] = None
    reference: Optional[AccuracyReference] = None

    @model_validator(mode="after")
    def _consistent(self) -> "AccuracyPass":
        if self.error is not None:
            return self
        rows = self.topk if self.returns == "topk" else self.outputs
        if self.n is None or rows is None:
            raise ValueError("an accuracy pass without an error needs n and its %s" % (self.returns or "returns"))
        if len(rows) != self.n:
            raise ValueError("n is %d but %d examples are returned" % (self.n, len(rows)))
        ref = self.reference
        for name in ("cosine", "top1_agree"):
            got = getattr(ref, name) if ref is not None else None
            if got is not None and len(got) != self.n:
                raise ValueError("reference.%s holds %d examples, not n = %d" % (name, len(got), self.n))
        if any(c < 0 for c in (self.non_finite or {}).values()):
            raise ValueError("non_finite counts must be >= 0")
        return self


class AccuracyFigure(_Open):
    """The host's score of a job's accuracy pass (bench/analysis/accuracy.py), as stored in jobs/*.json."""

    metric: Optional[str] = None
    value: Optional[float] = None
    n: Optional[int] = None
    ci95: Optional[List[float]] = Field(default=None, min_length=2, max_length=2)
    labels_source: Optional[str] = None
    reason: Optional[str] = None
    vs_baseline: Optional[Dict[str, Any]] = None


class ScenarioInterval(_Open):
    """One closed interval of a sustained scenario (device_agents.scenarios.sustained)."""

    t_s: float = Field(ge=0)
    duration_s: float = Field(ge=0)
    n: int = Field(ge=1)
    p50_ms: Optional[float] = Field(default=None, ge=0, le=MAX_LATENCY_MS)
    p90_ms: Optional[float] = Field(default=None, ge=0, le=MAX_LATENCY_MS)
    p99_ms: Optional[float] = Field(default=None, ge=0, le=MAX_LATENCY_MS)
    temp_c: Optional[float] = Field(default=None, ge=-60, le=250)
    freq_mhz: Optional[float] = Field(default=None, ge=0, le=1e5)
    power_mw: Optional[float] = Field(default=None, ge=0, le=1e9)
    energy_mj: Optional[float] = Field(default=None, ge=0)
    other_busy_share: Optional[float] = Field(default=None, ge=0, le=1e3)
    throttled: Optional[bool] = None


class StreamFigures(_Open):
    fps: float = Field(gt=0)
    deadline_ms: float = Field(gt=0)
    frames: int = Field(ge=0)
    missed: int = Field(ge=0)
    dropped: int = Field(ge=0)
    miss_rate: Optional[float] = Field(default=None, ge=0, le=1)
    p50_ms: Optional[float] = Field(default=None, ge=0, le=MAX_LATENCY_MS)
    p99_ms: Optional[float] = Field(default=None, ge=0, le=MAX_LATENCY_MS)
    sustainable: bool


class Scenario(_Open):
    """``scenario`` of a result: what the agent measured beyond one window (the host adds its analysis)."""

    name: Literal["sustained", "stream", "offline"]
    intervals: Optional[List[ScenarioInterval]] = Field(default=None, max_length=1_000_000)
    total_runs: Optional[int] = Field(default=None, ge=0)
    stream: Optional[StreamFigures] = None
    offline: Optional[Dict[str, Any]] = None


class AgentResult(_Open):
    """``result.json`` as the agent writes it (schema ``device_agents.SCHEMA_VERSION``)."""

    job_id: Optional[str] = None
    status: Literal["ok", "unavailable", "error"]
    error_type: Optional[str] = None
    error: Optional[str] = None
    reason: Optional[str] = None
    latencies_ms: Optional[List[float]] = None
    timing: Optional[Timing] = None
    memory: Optional[Memory] = None
    power: Optional[Dict[str, Any]] = None
    thermal: Optional[Dict[str, Any]] = None
    throttle: Optional[Dict[str, Any]] = None
    device: Optional[Dict[str, Any]] = None
    runtime: Optional[Dict[str, Any]] = None
    outputs: Optional[List[Dict[str, Any]]] = None
    warnings: Optional[List[str]] = None
    #: The accuracy pass over the job's dataset (device_agents.accuracy), when the job has one.
    accuracy_pass: Optional[AccuracyPass] = None
    #: Seconds per phase of the agent's own work (device_agents.phases): the harness's overhead, never a result.
    phases_s: Optional[Dict[str, float]] = None
    scenario: Optional[Scenario] = None

    @field_validator("phases_s")
    @classmethod
    def _phases(cls, v: Optional[Dict[str, float]]) -> Optional[Dict[str, float]]:
        for name, seconds in (v or {}).items():
            if not (0 <= seconds <= 1e6):
                raise ValueError("phase %r is %r s: phase times must be >= 0 and <= 1e6 s" % (name, seconds))
        return v

    @field_validator("latencies_ms")
    @classmethod
    def _latencies(cls, v: Optional[List[float]]) -> Optional[List[float]]:
        if v is None:
            return v
        if not v or (math.isfinite(math.fsum(v)) and min(v) >= 0 and max(v) <= MAX_LATENCY_MS):
            return v  # every sample finite (a NaN or an infinity makes the sum so) and in range: C speed
        for i, x in enumerate(v):  # name the first bad sample
            if not math.isfinite(x) or x < 0 or x > MAX_LATENCY_MS:
                raise ValueError("sample %d is %r: latencies must be finite, >= 0 and <= %g ms" % (i, x, MAX_LATENCY_MS))
        return v

    @model_validator(mode="after")
    def _ok_has_measurement(self) -> "AgentResult":
        extra = self.model_extra or {}
        if self.status == "ok" and self.latencies_ms is None and isinstance(extra.get("latencies_ms_reason"), str):
            # a vendor tool's own summary (native mode): no per-run samples, said why, with its run count
            summary = extra.get("summary_ms")
            if self.timing is None or not isinstance(summary, dict) or summary.get("n") != self.timing.runs:
                raise ValueError("status is 'ok' without latencies_ms: needs timing and summary_ms with the same "
                                 "run count")
        elif self.status == "ok":
            if not self.latencies_ms:
                raise ValueError("status is 'ok' but latencies_ms is empty or missing")
            if self.timing is None:
                raise ValueError("status is 'ok' but timing is missing")
            if self.timing.runs != len(self.latencies_ms):
                raise ValueError("timing.runs is %d but latencies_ms holds %d samples"
                                 % (self.timing.runs, len(self.latencies_ms)))
        elif self.status == "error" and not self.error:
            raise ValueError("status is 'error' but no 'error' message is given")
        elif self.status == "unavailable" and not self.reason:
            raise ValueError("status is 'unavailable' but no 'reason' is given")
        return self


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = "".join("[%d]" % p if isinstance(p, int) else (".%s" % p) for p in err.get("loc", ()))
    where = where.lstrip(".") or "(the result)"
    msg = err.get("msg", "invalid")
    more = len(exc.errors()) - 1
    return "%s: %s%s" % (where, msg, " (and %d more problem%s)" % (more, "s" if more > 1 else "") if more else "")


def _no_constant(name: str) -> Any:
    raise ResultInvalid("it holds %s, which is not a JSON number (the device wrote a non-finite value)" % name)


def parse_device_json(raw: bytes) -> Any:
    """JSON from a device, refusing NaN/Infinity anywhere in it (Python's json accepts them; our stored
    files, written with allow_nan=False, could not hold them). JSON nested deeper than Python's parser
    can follow is a bad result (ResultInvalid), not a harness bug."""
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise ResultInvalid("it is nested too deeply to read (more than ~%d levels): not a result"
                            % sys.getrecursionlimit())


def check_agent_result(raw: Any, job_id: str) -> Dict[str, Any]:
    """``raw`` (parsed JSON from the device) if it fits the schema and belongs to ``job_id``; else
    ResultInvalid naming the first bad field."""
    if not isinstance(raw, dict):
        raise ResultInvalid("the result is a JSON %s, not an object" % type(raw).__name__)
    try:
        AgentResult.model_validate(raw)
    except ValidationError as exc:
        raise ResultInvalid(_first_error(exc))
    if raw.get("job_id") not in (None, job_id):
        raise ResultInvalid("job_id: the result is for %r, not this job (%r): a stale or foreign result"
                            % (raw.get("job_id"), job_id))
    return raw


class StoredResult(AgentResult):
    """A job result as the store keeps it: the agent's result plus the host's fields."""

    job_id: str
    device_name: Optional[str] = None
    model_name: Optional[str] = None
    variant: Optional[str] = None
    runtime_name: Optional[str] = None
    stats: Optional[Dict[str, Any]] = None
    accuracy: Optional[AccuracyFigure] = None

    @model_validator(mode="after")
    def _ok_has_measurement(self) -> "StoredResult":  # a stored error may lack the agent's details
        return self


def check_stored_result(raw: Any) -> Dict[str, Any]:
    """A stored job file's content if it has the shape the report and the lab read; else ResultInvalid."""
    if not isinstance(raw, dict):
        raise ResultInvalid("not a JSON object")
    try:
        StoredResult.model_validate(raw)
    except ValidationError as exc:
        raise ResultInvalid(_first_error(exc))
    return raw
