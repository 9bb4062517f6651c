"""ONNX Runtime: execution providers, thread counts, graph optimisation level, optional profiling."""

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
            self.session = ort.InferenceSession(model_path, sess_options=so, providers=self.options["providers"])
        except Exception as exc:  # ORT raises its own pybind exception types for bad files
            raise ModelLoadError("onnxruntime could not load %s: %s" % (os.path.basename(model_path),
                                                                      str(exc).strip()[:800]))

    def input_specs(self) -> List[TensorSpec]:
        return [TensorSpec(i.name, [d if isinstance(d, int) and d > 0 else (d or None) for d in i.shape],
                           _ONNX_DTYPES.get(i.type, i.type)) for i in self.session.get_inputs()]

    def prepare(self, feeds: Dict[str, Any]) -> None:
        self._feeds = feeds

    def run_once(self) -> None:
        self._last = self.session.run(None, self._feeds)

    def outputs(self) -> List[Tuple[str, Any]]:
        return [(o.name, v) for o, v in zip(self.session.get_outputs(), self._last)]

    def describe(self) -> Dict[str, Any]:
        so = self.session.get_session_options() if self.session is not None else None
        return {
            "engine": "onnxruntime",
            "version": self._ort.__version__ if self._ort else None,
            "providers": self.session.get_providers() if self.session is not None else None,
            "intra_op_threads": so.intra_op_num_threads if so is not None else None,
            "inter_op_threads": so.inter_op_num_threads if so is not None else None,
            "options": dict(self.options),
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
