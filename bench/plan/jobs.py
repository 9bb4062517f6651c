"""Planning: models × variants × runtimes × devices → jobs, each with a stable id (for --resume)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, List, Optional, Tuple


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
    #: The variant's own runtime options (e.g. TensorRT precision); a user's --option overrides a key.
    runtime_options: Dict[str, Any] = field(default_factory=dict)


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
    #: ``--dataset``: the accuracy pass's dataset, metric, FP32 reference and budget (bench/plan/dataset.py).
    accuracy: Optional[Dict[str, Any]] = None
    #: ``--sweep NAME=…`` (or a list of ``--fps``): {"name": "seq-len", "value": 64} of this job.
    sweep: Optional[Dict[str, Any]] = None
    #: ``--budget-ms``: the latency budget a job's p99 is held to (meets_budget; the sweep's real-time boundary).
    budget_ms: Optional[float] = None

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


def reshaped(measure: Dict[str, Any], art: ArtifactRef) -> tuple:
    """(seq_len, batch, explicit shapes) a job runs at."""
    return (measure.get("seq_len", art.seq_len), measure.get("batch", 1), measure.get("input_shapes") or {})


def _at_shape(art: ArtifactRef, measure: Dict[str, Any]) -> ArtifactRef:
    """``art`` as the job sees it: where the job runs at another shape than the one the model's FLOPs and
    bytes were counted at (the zoo's seq_len, batch 1), those counts do not apply and are dropped (the
    roofline then says why it has no point) rather than shown for the wrong shape."""
    if reshaped(measure, art) == (art.seq_len, 1, {}) or not art.stats:
        return art
    stats = {k: v for k, v in art.stats.items() if k not in ("flops", "macs", "activation_bytes")}
    stats["not_at_this_shape"] = ("FLOPs and bytes were counted at seq_len %d, batch 1; this job runs at "
                                  "seq_len %s, batch %s%s" % (art.seq_len, measure.get("seq_len"),
                                                               measure.get("batch", 1),
                                                               ", shapes %s" % measure["input_shapes"]
                                                               if measure.get("input_shapes") else ""))
    return replace(art, stats=stats)


#: What a sweep may vary, and where the value goes: the measure spec or the runtime's options.
SWEEPS = {"seq-len": ("measure", "seq_len"), "batch": ("measure", "batch"), "threads": ("options", "threads"),
          "fps": ("measure", "fps")}


def expand_sweep(jobs: List[PlannedJob], name: str, values: List[Any]) -> List[PlannedJob]:
    """One job per job x swept value (the value in the job's measure spec or runtime options, its id ending in
    ``--<name><value>``), in plan order then value order."""
    where, key = SWEEPS[name]
    out: List[PlannedJob] = []
    for job in jobs:
        for value in values:
            measure = dict(job.measure)
            opts = dict(job.runtime_options)
            (measure if where == "measure" else opts)[key] = value
            jid = "%s--%s%s" % (job.job_id, _slug(name), _slug(str(value)))
            out.append(replace(job, job_id=jid, group=jid, measure=measure, runtime_options=opts,
                               artifact=_at_shape(job.artifact, measure), sweep={"name": name, "value": value}))
    return out


def plan_jobs(devices: List[str], artifacts: List[ArtifactRef], runtimes: Optional[List[str]],
              runtime_options: Dict[str, Dict[str, Any]], measure: Dict[str, Any],
              timeout_s: float, rounds: int = 1, sweep: Optional[Tuple[str, List[Any]]] = None) -> List[PlannedJob]:
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
            opts = {**art.runtime_options, **runtime_options.get(art.runtime, {})}
            m = dict(measure)
            m.setdefault("seq_len", art.seq_len)
            base = job_id(device, art.model, art.variant, art.runtime, opts)
            once.append(PlannedJob(job_id=base, device=device, model=art.model, variant=art.variant,
                                   runtime=art.runtime, runtime_options=opts, measure=m, timeout_s=timeout_s,
                                   artifact=_at_shape(art, m), group=base))
    if sweep is not None:
        once = expand_sweep(once, sweep[0], list(sweep[1]))
    if rounds == 1:
        return once
    return [replace(j, job_id="%s--r%d" % (j.job_id, k), round=k, measure=dict(j.measure))
            for k in range(1, rounds + 1) for j in once]
