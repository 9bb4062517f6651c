"""TensorRT through ``trtexec`` where the ``tensorrt`` Python bindings are missing (a Jetson whose
Python lacks ``python3-libnvinfer``; JetPack always ships ``/usr/src/tensorrt/bin/trtexec``).

The job becomes one ``trtexec`` run: the engine is built from the ONNX file with the same options as
:class:`~device_agents.runtimes.tensorrt.TensorRtRuntime` (:func:`trtexec_args`) and saved in the
engine cache (key: model hash, GPU, trtexec binary hash, options), or loaded from it; then trtexec
times its own iterations, ``--exportTimes`` writes one entry per timed inference and its log gives the
build time, engine memory and its summary. What this path can and cannot say:

- ``latencies_ms``: trtexec's per-iteration ``latencyMs`` (H2D + GPU compute + D2H, CUDA events), not
  a host wall clock; ``device_timing``: the median of its ``computeMs``.
- Cold start: engine build (or deserialisation) seconds from the log, as ``load_ms``; no first
  inference time (trtexec does not print one): null with the reason.
- Inputs are trtexec's own random data, not the harness's seeded inputs, and the outputs are not read
  back: no output summary, so no fidelity check on this path (said in the result).
- Power: the agent cannot place trtexec's timed window on its own clock, so energy per inference is
  null with that reason; temperatures and throttling cover the whole trtexec process (a superset).
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
import time
from typing import Any, Dict, List

from .hashing import sha256_file
from .job import Job
from .runtimes.base import BadOption
from .runtimes.tensorrt import TensorRtRuntime, engine_cache_key, engine_plan, trtexec_args
from .trtexec_log import TrtexecLogError, TrtexecTimesError, parse_log, parse_times

#: Where JetPack puts trtexec (not on PATH by default).
#: Engine build allowance (s) on top of the window's own limit, for the subprocess deadline.
BUILD_ALLOWANCE_S = 1800.0
TIMED_CALL = ("trtexec iteration, per --exportTimes: H2D + GPU compute + D2H from CUDA events "
              "(trtexec's own loop and random inputs)")


class TrtexecFailed(Exception):
    """trtexec ran but gave no usable result; the message says why (with the log's last lines)."""


def _gpu_name(device_id: int) -> str:
    """The GPU's name for the engine cache key; 'unknown-gpu' where the driver cannot say (the
    trtexec binary's hash and the options still keep engines apart)."""
    from .runtimes.tensorrt import _gpu_name as driver_gpu_name

    try:
        return driver_gpu_name(device_id)
    except Exception:
        return "unknown-gpu"


def benchmark_argv(binary: str, model_path: str, engine_path: str, cached: bool, job: Job,
                   times_path: str) -> List[str]:
    """The trtexec command for ``job``: build (or load) the engine, then time at least ``min_runs``
    iterations and ``min_seconds`` (trtexec takes whole seconds: rounded up) after ``warmup_min_s``."""
    opts = job.runtime_options
    if cached:
        argv = [binary, "--loadEngine=%s" % engine_path]
    else:
        argv = [binary] + trtexec_args(model_path, engine_path, opts)[1:]
    spec = job.measure
    argv += ["--device=%d" % int(opts.get("device_id", 0) or 0),
             "--warmUp=%d" % max(0, int(round(spec.warmup_min_s * 1000))),
             "--iterations=%d" % max(1, spec.min_runs),
             "--duration=%d" % max(1, int(math.ceil(spec.min_seconds))),
             "--percentile=50,90,99",
             "--exportTimes=%s" % times_path]
    return argv


def _tail(text: str, lines: int = 8) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def run_trtexec(job: Job, result: Dict[str, Any], binary: str) -> Dict[str, Any]:
    """Run ``job`` through ``binary`` and fill ``result``'s runtime, timing and latency fields.

    Returns the parsed log (for the caller's telemetry window). Raises BadOption for impossible
    options and TrtexecFailed when trtexec fails or leaves no trace."""
    opts = dict(TensorRtRuntime.default_options)
    opts.update(job.runtime_options)
    plan = engine_plan(opts)
    path = job.model.path
    if path.endswith((".engine", ".plan")):
        engine_path, cached = path, True
    elif path.endswith(".onnx"):
        cache_dir = opts.get("engine_cache_dir") or os.path.expanduser("~/.cache/edgebench/trt-engines")
        os.makedirs(cache_dir, exist_ok=True)
        key = engine_cache_key(job.model.sha256 or sha256_file(path), _gpu_name(int(opts.get("device_id") or 0)),
                               "trtexec-" + sha256_file(binary)[:16], plan)
        engine_path = os.path.join(cache_dir, key + ".engine")
        cached = os.path.isfile(engine_path)
    else:
        raise BadOption("TensorRT (trtexec) takes an .onnx model or a built .engine/.plan, not %s" % path)
    with tempfile.TemporaryDirectory(prefix="edgebench-trtexec-") as tmp:
        times_path = os.path.join(tmp, "times.json")
        argv = benchmark_argv(binary, path, engine_path, cached, job, times_path)
        deadline_s = job.measure.max_seconds + job.measure.warmup_min_s + (0 if cached else BUILD_ALLOWANCE_S) + 60
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=deadline_s,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise TrtexecFailed("trtexec did not finish within %.0f s: %s" % (deadline_s, " ".join(argv)))
        wall_s = time.perf_counter() - t0
        log_text = proc.stdout.decode("utf-8", "replace")
        try:
            log = parse_log(log_text)
        except TrtexecLogError as exc:
            raise TrtexecFailed("%s (exit %d): %s" % (exc, proc.returncode, _tail(log_text)))
        if proc.returncode != 0 or log["failed"] or not log["passed"]:
            if not cached and os.path.isfile(engine_path):
                os.unlink(engine_path)  # a half-written engine must not be loaded next time
            raise TrtexecFailed("trtexec failed (exit %d): %s" % (proc.returncode, _tail(log_text)))
        if not os.path.isfile(times_path):
            raise TrtexecFailed("trtexec passed but wrote no --exportTimes trace (%s)" % times_path)
        try:
            with open(times_path, encoding="utf-8") as fh:
                times = parse_times(fh.read(), log.get("warmup_queries"))
        except TrtexecTimesError as exc:
            raise TrtexecFailed(str(exc))
    _fill(result, job, log, times, cached, engine_path, wall_s, argv)
    return log


def _fill(result: Dict[str, Any], job: Job, log: Dict[str, Any], times: Dict[str, Any], cached: bool,
          engine_path: str, wall_s: float, argv: List[str]) -> None:
    latencies = times["latencies_ms"]
    build_s = log["engine_build_s"] if not cached else log["engine_deserialize_s"]
    result["runtime"].update({
        "via": "trtexec", "command": argv, "tensorrt_version": log["tensorrt_version"], "gpu": log["device"],
        "compute_capability": log["compute_capability"], "precision": log["precision"],
        "engine_from_cache": cached, "engine_path": engine_path,
        "engine_build_ms": log["engine_build_s"] * 1000 if log["engine_build_s"] is not None else None,
        "engine_bytes": log["engine_bytes"], "trace_format": times["format"]})
    result["method"]["timed_call"] = TIMED_CALL
    result["compute_unit"] = "gpu"
    result["placement"] = {"compute_unit": "gpu", "provider": "TensorRT (trtexec)", "requested": "gpu",
                           "warnings": []}
    result["inputs"] = {"generator": "trtexec's own random inputs (not the harness's seeded inputs)"}
    result["outputs"] = []
    result.setdefault("warnings", []).append(
        "TensorRT ran through trtexec: its own inputs and loop; outputs not read back, so no fidelity check")
    compute = times["compute_ms"] or []
    result["device_timing"] = {
        "device_compute_ms": sorted(compute)[len(compute) // 2] if compute else None,
        "method": "median of trtexec's per-iteration computeMs (CUDA events)",
        "h2d_ms_median": sorted(times["h2d_ms"])[len(times["h2d_ms"]) // 2] if times["h2d_ms"] else None,
        "d2h_ms_median": sorted(times["d2h_ms"])[len(times["d2h_ms"]) // 2] if times["d2h_ms"] else None}
    window_s = (times["span_ms"] / 1000.0) if times["span_ms"] is not None else log["window_s"]
    result["timing"] = {
        "load_ms": build_s * 1000 if build_s is not None else None,
        "load_reason": None if build_s is not None else "the trtexec log has no engine build/deserialise time",
        "first_inference_ms": None, "first_inference_reason": "trtexec does not report its first inference",
        "warmup_runs": log["warmup_queries"], "warmup_s": None,
        "runs": len(latencies), "window_s": window_s, "window_wall_s": window_s,
        "stop_reason": "trtexec --iterations/--duration", "process_wall_s": wall_s,
        "target_ci_pct": None, "ci95_half_width_pct": None,
        "trtexec_queries": log["queries"], "trtexec_throughput_qps": log["throughput_qps"],
    }
    if log["queries"] is not None and log["queries"] != len(latencies):
        result["warnings"].append("trtexec's log counts %d timed queries but its trace holds %d"
                                  % (log["queries"], len(latencies)))
    result["latencies_ms"] = latencies
    result["memory"] = {
        "peak_over_baseline_bytes": None,
        "reason": "the benchmark ran in trtexec, not in the agent's process",
        "gpu": {"activation_bytes": log["activation_memory_bytes"], "weights_bytes": log["weights_memory_bytes"],
                "context_device_bytes": log["context_device_memory_bytes"],
                "method": "trtexec's [TRT] memory lines"}}
    result["extras"] = {"trtexec_summary_ms": log["summary"], "trtexec_warnings": log["warnings"][:20]}

