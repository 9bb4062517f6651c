"""One measurement job, start to finish, as one result dict that never raises.

Status is ``ok``, ``unavailable`` (the device lacks the runtime/provider: ``reason`` says what to
install) or ``error`` (``error_type`` + ``error``: bad job, missing or corrupt model, model load,
input generation, inference).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
import time
import traceback
from typing import Any, Dict, List, Optional

from . import AGENT_VERSION, SCHEMA_VERSION
from .conditions import ConditionsRecorder, cool_down
from .hashing import sha256_file
from .inputs import InputGenerationError, generate_inputs
from .job import BadJob, Job
from .measure import time_call_ms, timed_window, warm_up
from .memory import MemoryTracker, platform_memory
from .phases import Phases
from .probe import probe
from .runtimes import runtime_class
from .runtimes.base import BadOption, ModelLoadError, RuntimeUnavailable
from .telemetry import POWER_FIELDS, JobTelemetry
from .trtexec_run import TrtexecFailed, run_trtexec

TIMED_CALL = {
    "onnxruntime": "InferenceSession.run(None, feeds) on prepared numpy inputs",
    "litert": "Interpreter.invoke() with inputs set once before the window",
    "torch": ("module(**feeds) on inputs already on the device (eager graph module, torch.compile'd or "
              "AOTInductor per the mode option), then torch.cuda/mps.synchronize() on GPUs"),
    "executorch": "Method.execute(inputs) on torch tensors made once before the window",
    "tensorrt": "IExecutionContext.execute_async_v3(stream) + cudaStreamSynchronize, inputs resident on the GPU",
}


#: How the job's process was made (``serve`` sets it in the children it forks).
PROCESS = "one fresh agent process per job"

#: Run cap while the window is stretched for energy (time, not count, must end such a window).
STRETCHED_MAX_RUNS = 1000000


class JobFailed(Exception):
    def __init__(self, status: str, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _output_summary(outputs: List[Any]) -> List[Dict[str, Any]]:
    import numpy as np

    out = []
    for name, value in outputs:
        arr = np.ascontiguousarray(value)
        as_float = arr.astype(np.float64).ravel()
        finite = as_float[np.isfinite(as_float)]
        out.append({"name": name, "shape": list(arr.shape), "dtype": str(arr.dtype),
                    "sha256": hashlib.sha256(arr.tobytes()).hexdigest(),
                    "non_finite_count": int(as_float.size - finite.size),
                    "mean": float(finite.mean()) if finite.size else None,
                    "std": float(finite.std()) if finite.size else None})
    return out


def _pin(cores: Optional[List[int]]) -> Dict[str, Any]:
    if not cores:
        return {"pinned": False, "cpu_affinity": sorted(os.sched_getaffinity(0))
                if hasattr(os, "sched_getaffinity") else None}
    if not hasattr(os, "sched_setaffinity"):
        raise JobFailed("unavailable", "pinning", "the job asks to pin to cores %s but this OS has no "
                        "sched_setaffinity; drop pin_cores for this device" % cores)
    try:
        os.sched_setaffinity(0, set(int(c) for c in cores))
    except OSError as exc:
        raise JobFailed("error", "pinning", "cannot pin to cores %s: %s (device has %s)"
                        % (cores, exc, sorted(os.sched_getaffinity(0))))
    return {"pinned": True, "cpu_affinity": sorted(os.sched_getaffinity(0))}


def _asks_for_gpu(job: Job) -> bool:
    from .units import GPU, unit_of_provider

    providers = job.runtime_options.get("providers") or []
    return any(unit_of_provider(str(p)) == GPU for p in ([providers] if isinstance(providers, str) else providers))


class _GpuMemory:
    """The agent process's GPU memory at the end of each phase and before the model loaded."""

    def __init__(self) -> None:
        from .cuda import process_gpu_memory

        self._read = process_gpu_memory
        self.baseline = process_gpu_memory()
        self.phases: Dict[str, Any] = {}

    def phase(self, name: str) -> None:
        self.phases[name] = self._read()

    def to_json(self) -> Dict[str, Any]:
        from .cuda import gpu_memory_report

        return gpu_memory_report(self.baseline, self.phases)


def _execute(job: Job, result: Dict[str, Any], ph: Phases) -> None:
    try:
        cls = runtime_class(job.runtime)
    except KeyError as exc:
        raise JobFailed("error", "bad_job", str(exc.args[0]))
    with ph.phase("runtime_check"):
        avail = cls.availability()
    result["runtime"] = {"name": cls.name, "availability": avail.to_json()}
    if not avail.available:
        raise JobFailed("unavailable", "runtime_missing", avail.reason or "runtime %s missing" % cls.name)
    # TensorRT without its Python bindings: trtexec (JetPack ships it) runs the job instead
    trtexec = avail.details.get("trtexec") if avail.details.get("via") == "trtexec" else None
    runtime = None
    if trtexec is None:
        try:
            runtime = cls(job.runtime_options)
        except BadOption as exc:
            raise JobFailed("error", "bad_job", str(exc))

    path = job.model.path
    if not os.path.isfile(path):
        raise JobFailed("error", "model_missing", "model file %s does not exist on the device" % path)
    model_info: Dict[str, Any] = {"path": path, "file_bytes": os.path.getsize(path), "name": job.model.name,
                                  "variant": job.model.variant, "format": job.model.format}
    result["model"] = model_info
    if job.model.sha256:
        with ph.phase("verify_model"):
            actual = sha256_file(path)
        model_info["sha256"] = actual
        if actual != job.model.sha256:
            raise JobFailed("error", "model_corrupt", "model file %s has sha256 %s, expected %s: the copy on "
                            "the device is corrupt or stale; re-run to push it again"
                            % (path, actual[:12], job.model.sha256[:12]))
    result["pinning"] = _pin(job.measure.pin_cores)

    spec = job.measure
    if spec.cooldown_temp_c is not None:  # before the load: the job starts from a cool device
        with ph.phase("cooldown"):
            result["cooldown"] = cool_down(spec.cooldown_temp_c, spec.cooldown_max_s)
    with ph.phase("conditions"):
        conditions = ConditionsRecorder(result["pinning"].get("cpu_affinity"))
        conditions.mark("before")
    with ph.phase("telemetry"):
        telemetry = JobTelemetry(spec.sample_rate_hz, spec.sensors, spec.sensor_paths, spec.temp_limit_c,
                                 spec.energy_min_samples)
        result["sampler"] = telemetry.describe()
        telemetry.start()
    try:
        if trtexec is not None:
            with ph.phase("window"):
                _measure_trtexec(job, trtexec, telemetry, result, conditions)
        else:
            _measure(job, runtime, path, telemetry, result, conditions, ph)
    finally:
        with ph.phase("telemetry"):
            telemetry.stop()
        with ph.phase("conditions"):
            result["conditions"] = conditions.record()


def _measure_trtexec(job: Job, binary: str, telemetry: JobTelemetry, result: Dict[str, Any],
                     conditions: ConditionsRecorder) -> None:
    """The job as one trtexec run (device_agents.trtexec_run); power over its timed window is unknown."""
    conditions.mark("window_start")
    t0 = time.perf_counter()
    try:
        run_trtexec(job, result, binary)
    except BadOption as exc:
        raise JobFailed("error", "bad_job", str(exc))
    except TrtexecFailed as exc:
        raise JobFailed("error", "inference", str(exc))
    t1 = time.perf_counter()
    conditions.mark("window_end")
    telemetry.stop()
    result["power"] = {k: None for k in POWER_FIELDS}
    result["power"].update(is_estimate=False, reason=(
        "TensorRT ran through trtexec, whose timed window the agent cannot place on its own clock: "
        "energy per inference is not measured on this path (install the tensorrt Python bindings)"))
    result["thermal"], result["throttle"] = telemetry.thermal_report(t0, t1)
    result["memory"].update(platform_memory())
    result["status"] = "ok"


def _measure(job: Job, runtime: Any, path: str, telemetry: JobTelemetry, result: Dict[str, Any],
             conditions: ConditionsRecorder, ph: Phases) -> None:
    memory = MemoryTracker()
    memory.start()
    # GPU memory from before the load (the CUDA context and the weights count), where a GPU is asked for
    gpu_mem = _GpuMemory() if _asks_for_gpu(job) else None
    try:
        with ph.phase("load"):
            load_ms = time_call_ms(lambda: runtime.load(path))
    except ModelLoadError as exc:
        raise JobFailed("error", "model_load", str(exc))
    except RuntimeUnavailable as exc:
        raise JobFailed("unavailable", "runtime_missing", str(exc))
    memory.end_phase("load")
    result["runtime"].update(runtime.describe())
    placement = runtime.placement()
    result["placement"] = placement
    result["compute_unit"] = (placement or {}).get("compute_unit", "cpu")
    if placement and placement.get("warnings"):
        result.setdefault("warnings", []).extend(placement["warnings"])
    if result["compute_unit"] != "gpu":
        gpu_mem = None
    if gpu_mem is not None:
        gpu_mem.phase("load")

    try:
        with ph.phase("inputs"):
            specs = runtime.input_specs()
            feeds, recipe = generate_inputs(specs, job.measure.seed, job.measure.seq_len, job.model.input_hints,
                                            {**job.model.input_shapes, **job.measure.input_shapes},
                                            job.measure.batch)
            runtime.resize_inputs({k: list(v.shape) for k, v in feeds.items()})
            runtime.prepare(feeds)
    except InputGenerationError as exc:
        raise JobFailed("error", "input_generation", str(exc))
    except BadOption as exc:  # an option that does not fit the session (io_binding without a GPU)
        raise JobFailed("error", "bad_job", str(exc))
    result["inputs"] = recipe

    try:
        with ph.phase("first_inference"):
            first_ms = time_call_ms(runtime.run_once)
        memory.end_phase("first_inference")
        if gpu_mem is not None:
            gpu_mem.phase("first_inference")
        with ph.phase("warmup"):
            warm = warm_up(runtime.run_once, job.measure)
        with ph.phase("idle_baseline"):
            telemetry.measure_idle(job.measure.idle_s)
        spec = job.measure
        need_s = telemetry.min_window_s()
        if need_s > spec.min_seconds and spec.scenario == "single":
            spec = dataclasses.replace(spec, min_seconds=need_s, max_seconds=max(spec.max_seconds, need_s * 1.5),
                                       max_runs=max(spec.max_runs, STRETCHED_MAX_RUNS))
            result.setdefault("warnings", []).append(
                "timed window stretched to %.1f s so the %s sensor gives %d samples" % (
                    need_s, telemetry.power.name if telemetry.power else "?", spec.energy_min_samples))
        conditions.mark("window_start")
        with ph.phase("window"):
            window = _window(job, runtime, spec, telemetry, result)
        conditions.mark("window_end")
        memory.end_phase("steady_state")
        if gpu_mem is not None:
            gpu_mem.phase("steady_state")
        try:
            result["device_timing"] = runtime.device_timing()
        except Exception as exc:  # an extra: never at the cost of the measured window
            result["device_timing"] = {"device_compute_ms": None, "reason": "%s: %s" % (type(exc).__name__, exc)}
    except Exception as exc:  # the engine rejected the inputs or failed mid-run
        raise JobFailed("error", "inference", "%s: %s" % (type(exc).__name__, str(exc).strip()[:800]))

    summaries_t0 = time.perf_counter()
    result["outputs"] = _output_summary(runtime.outputs())
    bad = [o["name"] for o in result["outputs"] if o["non_finite_count"]]
    if bad:
        result.setdefault("warnings", []).append(
            "output(s) %s hold NaN/inf: the model or its inputs are broken, timings may not be representative"
            % ", ".join(bad))
    profiled = bool(job.runtime_options.get("profile"))  # a profile must not count the pass's runs
    if job.accuracy is not None and not profiled:
        _accuracy(job, runtime, specs, feeds, result, ph)
    result["extras"] = runtime.finish()
    if job.accuracy is not None and profiled:
        _accuracy(job, runtime, specs, feeds, result, ph)
    result["timing"] = {
        "load_ms": load_ms,
        "first_inference_ms": first_ms,
        "warmup_runs": warm["warmup_runs"],
        "warmup_s": warm["warmup_s"],
        "runs": window["runs"],
        "window_s": window["window_s"],
        "window_wall_s": window["window_wall_s"],
        "window_start_s": window["window_start_s"],
        "window_end_s": window["window_end_s"],
        "stop_reason": window["stop_reason"],
        "target_ci_pct": window["target_ci_pct"],
        "ci95_half_width_pct": window["ci95_half_width_pct"],
    }
    result["latencies_ms"] = window["latencies_ms"]
    result["memory"] = memory.to_json()
    if gpu_mem is not None:
        result["memory"]["gpu"] = gpu_mem.to_json()
    result["memory"].update(platform_memory())
    t0, t1 = window["window_start_s"], window["window_end_s"]
    telemetry.stop()
    scenario = window.pop("scenario", None)
    if scenario is not None:
        result["scenario"] = scenario
    if scenario and scenario.get("name") == "sustained" and scenario.get("intervals"):
        # earlier intervals' sensor samples were aggregated and let go: the power figures describe the last
        # interval (the steady state); scenario.energy_per_inference_mj covers the whole sustained window
        last = scenario["intervals"][-1]
        t_last = t1 - float(last["duration_s"])
        result["power"] = telemetry.power_report(t_last, t1, int(last["n"]), job.model.flops)
        result["power"]["scope"] = "the last interval of the sustained window (%.1f s)" % last["duration_s"]
    else:
        result["power"] = telemetry.power_report(t0, t1, window["runs"], job.model.flops)
    result["thermal"], result["throttle"] = telemetry.thermal_report(t0, t1)
    anchor = time.time() - time.perf_counter()  # one anchor: both edges keep the window's exact length
    result["timing"]["window_start_unix_s"] = t0 + anchor
    result["timing"]["window_end_unix_s"] = t1 + anchor
    offset = datetime.datetime.now().astimezone().utcoffset()
    result["timing"]["utc_offset_s"] = offset.total_seconds() if offset is not None else 0.0
    ph.add("summaries", time.perf_counter() - summaries_t0)
    result["status"] = "ok"


def _accuracy(job: Job, runtime: Any, specs: Any, feeds: Dict[str, Any], result: Dict[str, Any],
              ph: Phases) -> None:
    """The accuracy pass (device_agents.accuracy) at the timed job's input shapes, outside the timed window."""
    from .accuracy import accuracy_pass

    with ph.phase("accuracy"):
        result["accuracy_pass"] = accuracy_pass(job.accuracy, runtime, specs,
                                                {k: list(v.shape) for k, v in feeds.items()})
    if result["accuracy_pass"].get("error"):
        result.setdefault("warnings", []).append("accuracy pass not run: %s" % result["accuracy_pass"]["error"])


def _window(job: Job, runtime: Any, spec: Any, telemetry: JobTelemetry, result: Dict[str, Any]) -> Dict[str, Any]:
    """The measured window of the job's scenario (device_agents.scenarios): one timed window (``single``), a
    sustained run, a frame stream or an offline batch sweep."""
    from . import scenarios

    if spec.scenario == "sustained":
        return scenarios.sustained(runtime.run_once, float(spec.duration_s), float(spec.interval_s), telemetry,
                                   (result.get("pinning") or {}).get("cpu_affinity"))
    if spec.scenario == "stream":
        return scenarios.stream(runtime.run_once, float(spec.fps), float(spec.duration_s), spec.deadline_ms)
    if spec.scenario == "offline":
        specs = runtime.input_specs()

        def prepare(batch: int) -> None:
            feeds, _ = generate_inputs(specs, spec.seed, spec.seq_len, job.model.input_hints,
                                       {**job.model.input_shapes, **spec.input_shapes}, batch)
            fixed = {k: v.shape[0] for k, v in feeds.items() if v.ndim and v.shape[0] != batch}
            if fixed:
                raise ValueError("the model's batch dimension is fixed (%s): it cannot run batch %d" % (
                    ", ".join("%s %d" % kv for kv in sorted(fixed.items())), batch))
            runtime.resize_inputs({k: list(v.shape) for k, v in feeds.items()})
            runtime.prepare(feeds)

        return scenarios.offline(prepare, runtime.run_once, list(spec.offline_batches or [1]),
                                 max(spec.min_seconds, 0.5), spec.warmup_runs)
    return timed_window(runtime.run_once, spec)


def run_job(data: Any, phases: Optional[Phases] = None) -> Dict[str, Any]:
    """Run the job described by ``data`` (parsed JSON) and return the result dict; ``phases`` (seconds per
    phase of the agent's own work) is filled as the job goes, and stored by the caller."""
    ph = phases if phases is not None else Phases()
    result: Dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "agent_version": AGENT_VERSION,
        "job_id": data.get("job_id") if isinstance(data, dict) else None,
        "started_at": _now(),
        "status": "error",
        "job": data,
    }
    try:
        job = Job.from_json(data)
        result["measure"] = job.to_json()["measure"]
        result["method"] = {
            "timer": "time.perf_counter_ns around each timed call",
            "timed_call": TIMED_CALL.get(job.runtime, "Runtime.run_once"),
            "process": PROCESS,
            "latency_unit": "ms",
        }
        with ph.phase("probe"):
            result["device"] = probe()
        _execute(job, result, ph)
    except BadJob as exc:
        result.update(error_type="bad_job", error=str(exc))
    except JobFailed as exc:
        result.update(status=exc.status, error_type=exc.error_type,
                      **({"reason": str(exc)} if exc.status == "unavailable" else {"error": str(exc)}))
    except Exception as exc:  # a bug or an engine failure we did not foresee: keep the traceback
        result.update(error_type="agent_exception", error="%s: %s" % (type(exc).__name__, exc),
                      traceback=traceback.format_exc()[-4000:])
    result["finished_at"] = _now()
    return result
