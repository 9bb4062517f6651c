"""Parse LiteRT/TFLite ``benchmark_model`` output (stdout+stderr) into the harness's terms (ms, bytes).

What the tool prints (tensorflow/lite/tools/benchmark/benchmark_model.cc and the stat line of
tensorflow/core/util/stats_calculator.h): one ``count=.. first=.. curr=.. min=.. max=.. avg=.. std=..``
line (µs) per "Running benchmark for at least N iterations" block (the first is the warm-up, the last
the timed run; newer builds may append ``p5= median= p95=``), ``Inference timings in us: Init: ..,
First inference: .., Warmup (avg): .., Inference (avg): ..`` (older builds: ``Average inference timings
in us: Warmup: .., Init: .., Inference: ..``), and the memory line in one of three forms. The tool gives
no per-run samples: ``latencies_ms`` stays null and the summary is the tool's own.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

_STAT = re.compile(r"^count=(\d+)((?:\s+\w+=[-+0-9.eE]+)+)\s*$")
_KV = re.compile(r"(\w+)=([-+0-9.eE]+)")
_US = 1e-3  # µs -> ms
_MB = 1024 * 1024


class LiteRtLogError(ValueError):
    """The output has no timed run (the tool failed or this is not its output); the message says why."""


def _stat(line: str) -> Optional[Dict[str, float]]:
    m = _STAT.match(line.strip())
    if not m:
        return None
    out = {"count": float(m.group(1))}
    out.update({k: float(v) for k, v in _KV.findall(m.group(2))})
    return out


def _summary(stat: Dict[str, float]) -> Dict[str, Any]:
    """The stat line (µs) as the harness's summary (ms); percentiles only where the tool printed them."""
    names = {"min": "min_ms", "max": "max_ms", "avg": "mean_ms", "std": "std_ms", "first": "first_ms",
             "p5": "p5_ms", "median": "p50_ms", "p95": "p95_ms"}
    out: Dict[str, Any] = {"n": int(stat["count"])}
    for key, name in names.items():
        if key in stat:
            out[name] = stat[key] * _US
    return out


def parse_op_profile(text: str) -> Optional[List[Dict[str, Any]]]:
    """The "Summary by node type" table of --enable_op_profiling (the last one: the timed run); None if absent."""
    lines = text.splitlines()
    starts = [i for i, ln in enumerate(lines) if "Summary by node type" in ln]
    if not starts:
        return None
    rows = []
    for ln in lines[starts[-1] + 2:]:
        parts = ln.split()
        if len(parts) < 4 or not parts[1].isdigit():
            break
        rows.append({"node_type": parts[0], "count": int(parts[1]), "avg_ms": float(parts[2]),
                     "avg_pct": float(parts[3].rstrip("%"))})
    return rows


def parse_output(text: str) -> Dict[str, Any]:
    """Everything the harness uses from one run; absent items are None (never guessed)."""
    lines = [ln.rstrip() for ln in text.splitlines()]
    blocks: List[Dict[str, float]] = []
    in_run = False
    for ln in lines:
        if ln.startswith("Running benchmark for at least"):
            in_run = True
            continue
        stat = _stat(ln) if in_run else None
        if stat is not None:
            blocks.append(stat)
            in_run = False
    out: Dict[str, Any] = {"load_ms": None, "first_inference_ms": None, "warmup_mean_ms": None,
                           "summary_ms": None, "warmup": None, "peak_memory_bytes": None,
                           "memory_init_bytes": None, "memory_method": None, "model_size_bytes": None,
                           "op_profile": parse_op_profile(text), "num_threads": None}
    for ln in lines:
        m = re.match(r"Inference timings in us: Init: ([0-9.eE+-]+), First inference: ([0-9.eE+-]+), "
                     r"Warmup \(avg\): ([0-9.eE+-]+), Inference \(avg\): ([0-9.eE+-]+)", ln)
        if m:
            out["load_ms"], out["first_inference_ms"], out["warmup_mean_ms"] = (
                float(m.group(1)) * _US, float(m.group(2)) * _US, float(m.group(3)) * _US)
        m = re.match(r"Average inference timings in us: Warmup: ([0-9.eE+-]+), Init: ([0-9.eE+-]+), "
                     r"Inference: ([0-9.eE+-]+)", ln)
        if m:
            out["warmup_mean_ms"], out["load_ms"] = float(m.group(1)) * _US, float(m.group(2)) * _US
        m = re.match(r"(?:Peak memory footprint|Memory footprint delta from the start of the tool) \(MB\): "
                     r"init=([0-9.eE+-]+) overall=([0-9.eE+-]+)", ln)
        if m:
            out["memory_init_bytes"] = int(float(m.group(1)) * _MB)
            out["peak_memory_bytes"] = int(float(m.group(2)) * _MB)
            out["memory_method"] = "benchmark_model's memory footprint delta from the tool's start (approximate)"
        m = re.match(r"Overall peak memory footprint \(MB\) via periodic monitoring: ([0-9.eE+-]+)", ln)
        if m:
            out["peak_memory_bytes"] = int(float(m.group(1)) * _MB)
            out["memory_method"] = "benchmark_model's periodic peak memory monitoring"
        m = re.match(r"The input model file size \(MB\): ([0-9.eE+-]+)", ln)
        if m:
            out["model_size_bytes"] = int(float(m.group(1)) * 1e6)
        m = re.match(r"#threads used for CPU inference: \[(\d+)\]", ln)
        if m:
            out["num_threads"] = int(m.group(1))
    if not blocks:
        tail = [ln for ln in lines if ln.strip()][-1:] or ["no output"]
        raise LiteRtLogError("benchmark_model printed no timed run (last line: %s)" % tail[0][:200])
    out["summary_ms"] = _summary(blocks[-1])
    if len(blocks) > 1:
        out["warmup"] = _summary(blocks[0])
    if out["first_inference_ms"] is None and out["warmup"] is not None and "first_ms" in out["warmup"]:
        out["first_inference_ms"] = out["warmup"]["first_ms"]
    return out
