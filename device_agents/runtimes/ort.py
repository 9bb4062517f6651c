"""ONNX Runtime: execution providers, thread counts, graph optimisation level, optional profiling.

Placement is checked, not assumed: the providers the session kept are compared with those the job
asked for (a dropped one makes the job ``unavailable`` unless ``allow_fallback``), and the nodes each
provider took are counted (ORT's graph-assignment record). On a CUDA device the session runs on a
stream of the agent's own, so device compute time is read with CUDA events on that stream, apart
from the host↔device copies; ``io_binding`` keeps inputs and outputs resident on the device.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .base import Availability, BadOption, ModelLoadError, Runtime, RuntimeUnavailable, TensorSpec

_ONNX_DTYPES = {
    "tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int16)": "int16",
    "tensor(int8)": "int8", "tensor(uint8)": "uint8", "tensor(bool)": "bool",
    "tensor(string)": "string", "tensor(bfloat16)": "bfloat16",
}
_OPT_LEVELS = ("disable", "basic", "extended", "all")


class OrtRuntime(Runtime):
    name = "onnxruntime"
    install_hint = "python3 -m pip install onnxruntime"
    default_options: Dict[str, Any] = {
        "threads": None,              # intra-op threads; None = ORT's default (one per physical core)
        "inter_op_threads": None,
        "graph_optimization_level": "all",
        "providers": ["CPUExecutionProvider"],
        "execution_mode": "sequential",
        "profile": False,             # ORT's built-in profiler: per-run and per-operator times
        "allow_fallback": False,      # a requested provider the session dropped: ok with a warning, not unavailable
        "io_binding": False,          # inputs/outputs resident on the GPU (no copies in the timed call)
        "device_id": 0,               # the GPU a CUDA/TensorRT provider uses
        "device_timing": True,        # CUDA: device compute time (events) and copy times after the window
    }

    def __init__(self, options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(options)
        if self.options["graph_optimization_level"] not in _OPT_LEVELS:
            raise BadOption("graph_optimization_level must be one of %s, not %r"
                            % (", ".join(_OPT_LEVELS), self.options["graph_optimization_level"]))
        if self.options["execution_mode"] not in ("sequential", "parallel"):
            raise BadOption("execution_mode must be 'sequential' or 'parallel'")
        if isinstance(self.options["providers"], str):
            self.options["providers"] = [self.options["providers"]]
        self._ort: Any = None
        self.session: Any = None
        self._feeds: Dict[str, Any] = {}
        self._last: List[Any] = []
        self._profile_summary: Dict[str, Any] = {}
        self._placement: Optional[Dict[str, Any]] = None
        self._cudart: Any = None
        self._stream: Optional[int] = None
        self._binding: Any = None
        self._cuda_note: Optional[str] = None

    @classmethod
    def availability(cls) -> Availability:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            return Availability(False, reason="onnxruntime not importable (%s); install: %s"
                                % (exc, cls.install_hint))
        return Availability(True, version=ort.__version__,
                            details={"providers": list(ort.get_available_providers())})

    def load(self, model_path: str) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise RuntimeUnavailable("onnxruntime not importable (%s); install: %s" % (exc, self.install_hint))
        self._ort = ort
        have = list(ort.get_available_providers())
        missing = [p for p in self.options["providers"] if p not in have]
        if missing:
            raise RuntimeUnavailable("execution provider(s) %s not in this onnxruntime %s (it has %s)"
                                     % (", ".join(missing), ort.__version__, ", ".join(have)))
        so = ort.SessionOptions()
        if self.options["threads"] is not None:
            so.intra_op_num_threads = int(self.options["threads"])
        if self.options["inter_op_threads"] is not None:
            so.inter_op_num_threads = int(self.options["inter_op_threads"])
        so.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[self.options["graph_optimization_level"]]
        so.execution_mode = (ort.ExecutionMode.ORT_PARALLEL if self.options["execution_mode"] == "parallel"
                             else ort.ExecutionMode.ORT_SEQUENTIAL)
        if self.options["profile"]:
            so.enable_profiling = True
            so.profile_file_prefix = os.path.join(os.getcwd(), "ort_profile")  # the job directory
        try:
            so.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
        except Exception:
            pass  # older ORT: node counts come from the profile, if any
        requested = list(self.options["providers"])
        providers = [self._provider_entry(p) for p in requested]
        with _StderrCapture() as captured:
            try:
                self.session = ort.InferenceSession(model_path, sess_options=so, providers=providers)
            except Exception as exc:  # ORT raises its own pybind exception types for bad files
                raise ModelLoadError("onnxruntime could not load %s: %s" % (os.path.basename(model_path),
                                                                          str(exc).strip()[:800]))
        self._placement = self._check_placement(requested, captured.text)

    def _provider_entry(self, name: str) -> Any:
        """A provider with its options: CUDA gets the device id and, for device timing, our own stream."""
        if name == "CUDAExecutionProvider":
            opts: Dict[str, Any] = {"device_id": str(int(self.options["device_id"]))}
            if self.options["device_timing"]:
                from ..cuda import CudaUnavailable, Cudart

                try:
                    self._cudart = Cudart()
                    self._stream = self._cudart.stream()
                    opts["user_compute_stream"] = str(self._stream)
                    opts["has_user_compute_stream"] = "1"
                except CudaUnavailable as exc:
                    self._cuda_note = "no device timing: %s" % exc
            return (name, opts)
        if name == "TensorrtExecutionProvider":
            return (name, {"device_id": str(int(self.options["device_id"]))})
        return name

    def _check_placement(self, requested: List[str], log: str) -> Dict[str, Any]:
        """Requested vs used providers and nodes per provider; a dropped provider raises RuntimeUnavailable
        unless ``allow_fallback`` (then a warning says so)."""
        from ..units import CPU, primary_unit

        used = list(self.session.get_providers())
        # ORT always appends the CPU provider as the last resort; only requested ones can be "dropped".
        dropped = [p for p in requested if p not in used]
        why = _provider_log(log)
        placement: Dict[str, Any] = {"requested": requested, "used": used, "dropped": dropped,
                                     "compute_unit": primary_unit(used), "warnings": []}
        if dropped and not self.options["allow_fallback"]:
            raise RuntimeUnavailable(
                "onnxruntime dropped the requested execution provider(s) %s when it created the session (it would "
                "run on %s)%s. Install what %s needs, or set --option onnxruntime.allow_fallback=true to measure "
                "on %s with a warning" % (", ".join(dropped), ", ".join(used), ": " + why if why else "",
                                          "it" if len(dropped) == 1 else "they", ", ".join(used)))
        if dropped:
            placement["warnings"].append("requested provider(s) %s were dropped; the job ran on %s%s" % (
                ", ".join(dropped), ", ".join(used), " (%s)" % why if why else ""))
        nodes = self._assigned_nodes()
        if nodes is not None:
            placement["nodes_per_provider"] = nodes
            placement["nodes_method"] = "ORT graph-assignment record (session.record_ep_graph_assignment_info)"
            total = sum(nodes.values())
            on_cpu = nodes.get("CPUExecutionProvider", 0)
            # the unit is where the nodes went, not which providers the session merely kept
            placement["compute_unit"] = primary_unit([p for p in used if nodes.get(p)])
            if placement["compute_unit"] != CPU and on_cpu:
                placement["warnings"].append("%d of %d nodes fell back to CPU" % (on_cpu, total))
            idle = [p for p in requested if p in used and p != "CPUExecutionProvider" and not nodes.get(p)]
            if idle:
                placement["warnings"].append("requested provider(s) %s took no node: the job ran on %s"
                                             % (", ".join(idle), placement["compute_unit"]))
        else:
            placement["nodes_per_provider"] = None
            placement["nodes_reason"] = "this onnxruntime does not record graph assignment"
        return placement

    def _assigned_nodes(self) -> Optional[Dict[str, int]]:
        try:
            info = self.session.get_provider_graph_assignment_info()
        except Exception:
            return None
        counts: Dict[str, int] = {}
        for sub in info:
            counts[sub.ep_name] = counts.get(sub.ep_name, 0) + len(sub.get_nodes())
        return counts or None

    def placement(self) -> Optional[Dict[str, Any]]:
        return self._placement

    def _device(self) -> Optional[str]:
        used = self.session.get_providers() if self.session is not None else []
        return "cuda" if "CUDAExecutionProvider" in used else None

    def input_specs(self) -> List[TensorSpec]:
        return [TensorSpec(i.name, [d if isinstance(d, int) and d > 0 else (d or None) for d in i.shape],
                           _ONNX_DTYPES.get(i.type, i.type)) for i in self.session.get_inputs()]

    def prepare(self, feeds: Dict[str, Any]) -> None:
        self._feeds = feeds
        if self.options["io_binding"]:
            device = self._device()
            if device is None:
                raise BadOption("io_binding keeps inputs on a GPU, but this session runs on %s"
                                % ", ".join(self.session.get_providers()))
            self._binding = self._bind(device)

    def _bind(self, device: str) -> Any:
        """An IOBinding with every input copied to the device once and outputs left there."""
        binding = self.session.io_binding()
        for name, arr in self._feeds.items():
            binding.bind_ortvalue_input(name, self._ort.OrtValue.ortvalue_from_numpy(
                arr, device, int(self.options["device_id"])))
        for out in self.session.get_outputs():
            binding.bind_output(out.name, device, int(self.options["device_id"]))
        return binding

    def run_once(self) -> None:
        if self._binding is not None:
            self.session.run_with_iobinding(self._binding)  # ORT synchronises the device before returning
        else:
            self._last = self.session.run(None, self._feeds)

    def outputs(self) -> List[Tuple[str, Any]]:
        if self._binding is not None:
            self._last = self._binding.copy_outputs_to_cpu()
        return [(o.name, v) for o, v in zip(self.session.get_outputs(), self._last)]

    def device_timing(self, runs: int = 200) -> Optional[Dict[str, Any]]:
        """On a CUDA session: device compute time per inference (CUDA events on the session's stream around
        a run with inputs and outputs resident, so no copies inside), and the host→device and
        device→host copy times of the inputs and outputs (host wall clock around ORT's synchronous copies).
        None on other providers; ``reason`` where it cannot be measured."""
        device = self._device()
        if device is None:
            return None
        if self._cudart is None or self._stream is None:
            return {"device_compute_ms": None, "reason": self._cuda_note or "device timing is off (device_timing=false)"}
        import time

        import numpy as np

        binding = self._binding or self._bind(device)
        start, end = self._cudart.event(), self._cudart.event()
        compute: List[float] = []
        resident: List[float] = []
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            self._cudart.record(start, self._stream)
            self.session.run_with_iobinding(binding)
            self._cudart.record(end, self._stream)
            ms = self._cudart.elapsed_ms(start, end)
            resident.append((time.perf_counter_ns() - t0) / 1e6)
            compute.append(ms)
        self._cudart.destroy_event(start)
        self._cudart.destroy_event(end)
        h2d: List[float] = []
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            for arr in self._feeds.values():
                self._ort.OrtValue.ortvalue_from_numpy(arr, device, int(self.options["device_id"]))
            h2d.append((time.perf_counter_ns() - t0) / 1e6)
        outs = binding.get_outputs()
        d2h: List[float] = []
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            for value in outs:
                value.numpy()
            d2h.append((time.perf_counter_ns() - t0) / 1e6)
        med = lambda xs: float(np.median(xs))  # noqa: E731
        return {
            "device_compute_ms_p50": med(compute), "resident_wall_ms_p50": med(resident),
            "host_overhead_ms_p50": med([w - c for w, c in zip(resident, compute)]),
            "h2d_ms_p50": med(h2d), "d2h_ms_p50": med(d2h),
            "device_compute_ms": compute, "resident_wall_ms": resident, "h2d_ms": h2d, "d2h_ms": d2h, "runs": runs,
            "input_bytes": int(sum(a.nbytes for a in self._feeds.values())),
            "method": {"device_compute": "CUDA events recorded on the session's own stream around "
                                         "run_with_iobinding, inputs and outputs resident on the GPU",
                       "resident_wall": "host wall clock around the same calls (so device vs host time is "
                                        "compared within one loop, measured after the timed window)",
                       "copies": "host wall clock around ORT's synchronous host->device (OrtValue from numpy) "
                                 "and device->host (OrtValue.numpy) copies of all inputs / all outputs"},
            "is_estimate": False,
        }

    def describe(self) -> Dict[str, Any]:
        so = self.session.get_session_options() if self.session is not None else None
        return {
            "engine": "onnxruntime",
            "version": self._ort.__version__ if self._ort else None,
            "providers": self.session.get_providers() if self.session is not None else None,
            "intra_op_threads": so.intra_op_num_threads if so is not None else None,
            "inter_op_threads": so.inter_op_num_threads if so is not None else None,
            "options": dict(self.options),
            "placement": self._placement,
        }

    def finish(self) -> Dict[str, Any]:
        if not self.options["profile"] or self.session is None:
            return {}
        path = self.session.end_profiling()
        try:
            with open(path, encoding="utf-8") as fh:
                events = json.load(fh)
        finally:
            try:
                os.remove(path)
            except OSError:
                pass
        return {"ort_profile": summarise_profile(events)}


def summarise_profile(events: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Reduce ORT's chrome-trace profile to per-run times (ms) and per-operator totals (ms).

    ``model_run`` events (category Session) give ORT's own time for each ``run`` call; ``Node``
    events named ``*_kernel_time`` give each operator's kernel time.
    """
    runs_ms: List[float] = []
    ops: Dict[str, Dict[str, Any]] = {}
    for ev in events:
        if ev.get("cat") == "Session" and ev.get("name") == "model_run":
            runs_ms.append(ev.get("dur", 0) / 1000.0)
        elif ev.get("cat") == "Node" and str(ev.get("name", "")).endswith("_kernel_time"):
            args = ev.get("args", {})
            node = str(ev["name"])[: -len("_kernel_time")]
            entry = ops.setdefault(node, {"node": node, "op_type": args.get("op_name"),
                                          "provider": args.get("provider"), "total_ms": 0.0, "calls": 0})
            entry["total_ms"] += ev.get("dur", 0) / 1000.0
            entry["calls"] += 1
    return {"model_run_ms": runs_ms, "nodes": sorted(ops.values(), key=lambda e: -e["total_ms"])}


class _StderrCapture:
    """Capture what native code writes to file descriptor 2 (ORT logs why it drops a provider there), and
    pass it on to the real stderr afterwards."""

    def __enter__(self) -> "_StderrCapture":
        import tempfile

        self.text = ""
        try:
            self._tmp = tempfile.TemporaryFile(mode="w+b")
            self._saved = os.dup(2)
            os.dup2(self._tmp.fileno(), 2)
        except OSError:
            self._saved = None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._saved is None:
            return
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._tmp.seek(0)
        data = self._tmp.read()
        self._tmp.close()
        self.text = data.decode("utf-8", "replace")
        if data:
            os.write(2, data)


def _provider_log(text: str) -> str:
    """The lines of ORT's log that say why a provider failed, shortened."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # ORT colours its log lines
    keep = [ln.strip() for ln in text.splitlines()
            if any(k in ln for k in ("ExecutionProvider", "provider", "libnvinfer", "cannot open shared object",
                                     "Failed to", "failed to"))]
    return " | ".join(keep)[-600:]
