"""Parse a ``trtexec`` log (TensorRT's command-line benchmark, shipped with JetPack) into the harness's
terms: latency summaries in ms, throughput, engine build time, engine memory in bytes, bindings and the
per-layer profile of ``--dumpProfile``.

trtexec prints, in its ``=== Performance summary ===``, lines such as
``Latency: min = 0.041 ms, max = 0.149 ms, mean = 0.044 ms, median = 0.044 ms, percentile(90%) = ...``
for Latency (host: H2D + compute + D2H), Enqueue Time, H2D Latency, GPU Compute Time and D2H Latency.
Those are trtexec's own statistics over its own iterations (not per-sample data); the result says so.
Standard library only (the agent runs on Python 3.8).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Dict, List, Optional

#: Summary line label -> key in the parsed result.
_METRICS = {"Latency": "host_latency", "Enqueue Time": "enqueue", "H2D Latency": "h2d",
            "GPU Compute Time": "gpu_compute", "D2H Latency": "d2h"}
_PREFIX = re.compile(r"^\[[^\]]*\] \[[IWEVF]\] ")
_STAT = re.compile(r"(min|max|mean|median|percentile\((\d+(?:\.\d+)?)%\))\s*=\s*([-+0-9.eE]+)\s*ms")
_MIB = 1024 * 1024


class TrtexecLogError(ValueError):
    """The text is not a trtexec log (no RUNNING header)."""


def _num(text: str) -> float:
    return float(text)


def _stats(body: str) -> Dict[str, float]:
    """``min = 1 ms, ..., percentile(90%) = 2 ms`` -> {"min_ms": 1.0, ..., "p90_ms": 2.0}."""
    out: Dict[str, float] = {}
    for name, pct, value in _STAT.findall(body):
        key = ("p%g" % float(pct)).replace(".", "_") if pct else name
        out[key + "_ms"] = _num(value)
    return out


def _profile(lines: List[str], start: int) -> Dict[str, Any]:
    """The ``=== Profile (N iterations ) ===`` table of --dumpProfile: per-layer times in ms."""
    m = re.search(r"Profile \((\d+) iterations", lines[start])
    layers: List[Dict[str, Any]] = []
    total: Optional[Dict[str, Any]] = None
    row = re.compile(r"^\s*([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+(.+?)\s*$")
    for line in lines[start + 2:]:
        r = row.match(line)
        if not r:
            break
        entry = {"layer": r.group(5), "total_ms": _num(r.group(1)), "mean_ms": _num(r.group(2)),
                 "median_ms": _num(r.group(3)), "percent": _num(r.group(4))}
        if entry["layer"] == "Total":
            total = entry
            break
        layers.append(entry)
    return {"iterations": int(m.group(1)) if m else None, "layers": layers, "total": total}


def parse_log(text: str) -> Dict[str, Any]:
    """Everything the harness uses from one trtexec log; absent items are None (never guessed)."""
    raw = text.splitlines()
    lines = [_PREFIX.sub("", line) for line in raw]
    header = next((line for line in raw if line.startswith("&&&& RUNNING TensorRT.trtexec")), None)
    if header is None:
        raise TrtexecLogError("not a trtexec log: no '&&&& RUNNING TensorRT.trtexec' line")
    result: Dict[str, Any] = {
        "command": header.split("# ", 1)[1].strip() if "# " in header else None,
        "passed": any(line.startswith("&&&& PASSED TensorRT.trtexec") for line in raw),
        "failed": any(line.startswith("&&&& FAILED TensorRT.trtexec") for line in raw),
        "tensorrt_version": None, "device": None, "compute_capability": None, "precision": None,
        "engine_build_s": None, "engine_bytes": None, "engine_deserialize_s": None,
        "context_device_memory_bytes": None, "activation_memory_bytes": None, "weights_memory_bytes": None,
        "device_persistent_memory_bytes": None, "throughput_qps": None, "queries": None, "window_s": None,
        "warmup_queries": None, "total_host_walltime_s": None, "total_gpu_compute_s": None,
        "summary": {}, "bindings": [], "profile": None, "warnings": [],
        "method": "trtexec's own summary over its iterations (statistics, not per-sample latencies)",
    }
    patterns = [
        (r"^TensorRT version: (\S+)", "tensorrt_version", str),
        (r"^Selected Device: (.+)$", "device", str),
        (r"^Compute Capability: (\S+)", "compute_capability", str),
        (r"^Precision: (.+)$", "precision", str),
        (r"^Engine built in ([0-9.]+) sec", "engine_build_s", _num),
        (r"^Created engine with size: ([0-9.]+) MiB", "engine_bytes", lambda v: int(round(_num(v) * _MIB))),
        (r"^Engine deserialized in ([0-9.eE+-]+) sec", "engine_deserialize_s", _num),
        (r"^Created execution context with device memory size: ([0-9.]+) MiB", "context_device_memory_bytes",
         lambda v: int(round(_num(v) * _MIB))),
        (r"^\[TRT\] Total Activation Memory: (\d+) bytes", "activation_memory_bytes", int),
        (r"^\[TRT\] Total Weights Memory: (\d+) bytes", "weights_memory_bytes", int),
        (r"^\[TRT\] Total Device Persistent Memory: (\d+) bytes", "device_persistent_memory_bytes", int),
        (r"^Throughput: ([0-9.]+) qps", "throughput_qps", _num),
        (r"^Warmup completed (\d+) queries", "warmup_queries", int),
        (r"^Total Host Walltime: ([0-9.]+) s", "total_host_walltime_s", _num),
        (r"^Total GPU Compute Time: ([0-9.]+) s", "total_gpu_compute_s", _num),
    ]
    for i, line in enumerate(lines):
        for pattern, key, conv in patterns:
            m = re.match(pattern, line)
            if m and result[key] is None:
                result[key] = conv(m.group(1))
        m = re.match(r"^Timing trace has (\d+) queries over ([0-9.]+) s", line)
        if m:
            result["queries"], result["window_s"] = int(m.group(1)), _num(m.group(2))
        label, _, body = line.partition(": ")
        if label in _METRICS and "=" in body:
            result["summary"][_METRICS[label]] = _stats(body)
        m = re.match(r"^(Input|Output) binding for (\S+) with dimensions (\S+) and type (\S+) is created", line)
        if m:
            result["bindings"].append({"io": m.group(1).lower(), "name": m.group(2),
                                       "shape": [int(d) for d in m.group(3).split("x")], "dtype": m.group(4)})
        if line.startswith("=== Profile ("):
            result["profile"] = _profile(lines, i)
        if re.match(r"^\[[^\]]*\] \[W\] ", raw[i]) and "[TRT]" not in line:
            result["warnings"].append(line.strip())
    if not result["summary"] and result["profile"] is not None:
        result["summary_reason"] = ("no end-to-end summary: trtexec ran with --dumpProfile, which adds "
                                    "synchronisations; only the per-layer profile is valid")
    return result


class TrtexecTimesError(ValueError):
    """The text is not a trtexec ``--exportTimes`` trace; the message says what is wrong."""


#: Per-iteration fields of ``--exportTimes`` (TensorRT >= 8: h2d/compute/d2h) and of TensorRT 7 (in/out).
_TIMES_KEYS = {"latencyMs", "computeMs"}


def parse_times(text: str, warmup_queries: Optional[int] = None) -> Dict[str, Any]:
    """The per-iteration trace that ``trtexec --exportTimes=FILE`` writes: a JSON array with one object
    per inference, e.g. ``{ "startEnqMs" : 200.1, ..., "h2dMs" : 0.004, "computeMs" : 0.036,
    "d2hMs" : 0.003, "latencyMs" : 0.043 }`` (TensorRT's ``samples/common/sampleReporting.cpp``,
    ``exportJSONTrace``). ``latencyMs`` is H2D + GPU compute + D2H of one inference from CUDA events.

    TensorRT >= 8 leaves the warm-up iterations out of the file; TensorRT 7 wrote them too (keys
    ``startInMs``/``inMs``/``outMs``): pass the log's ``warmup_queries`` to drop them there.

    Returns {"format", "latencies_ms", "compute_ms", "h2d_ms", "d2h_ms" (lists in ms, None where the
    format has no such field), "span_ms" (first start to last end on trtexec's clock), "dropped_warmup"}.
    """
    try:
        rows = json.loads(text)
    except ValueError as exc:
        raise TrtexecTimesError("not a trtexec --exportTimes trace: %s" % exc)
    if not isinstance(rows, list) or not rows:
        raise TrtexecTimesError("not a trtexec --exportTimes trace: expected a non-empty JSON array")
    if not all(isinstance(r, dict) and _TIMES_KEYS <= set(r) for r in rows):
        raise TrtexecTimesError("not a trtexec --exportTimes trace: every entry needs %s"
                                % " and ".join(sorted(_TIMES_KEYS)))
    legacy = "startInMs" in rows[0]
    dropped = 0
    if legacy and warmup_queries:
        dropped = min(int(warmup_queries), len(rows) - 1)
        rows = rows[dropped:]

    def column(key: str) -> Optional[List[float]]:
        if key not in rows[0]:
            return None
        values = [float(r[key]) for r in rows]
        bad = next((i for i, v in enumerate(values) if not math.isfinite(v) or v < 0), None)
        if bad is not None:
            raise TrtexecTimesError("entry %d has %s = %r: not a finite, non-negative time" % (bad, key, values[bad]))
        return values

    start, end = ("startInMs", "endOutMs") if legacy else ("startEnqMs", "endD2hMs")
    span = None
    if start in rows[0] and end in rows[-1]:
        span = float(rows[-1][end]) - float(rows[0][start])
    return {"format": "tensorrt7" if legacy else "tensorrt8+",
            "latencies_ms": column("latencyMs"), "compute_ms": column("computeMs"),
            "h2d_ms": column("inMs" if legacy else "h2dMs"), "d2h_ms": column("outMs" if legacy else "d2hMs"),
            "span_ms": span, "dropped_warmup": dropped}
