"""LiteRT (TensorFlow Lite): ``ai-edge-litert``, else ``tflite_runtime``, else ``tensorflow.lite``.

Options: thread count and XNNPACK on/off (off = builtin kernels without default delegates).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .base import Availability, ModelLoadError, Runtime, RuntimeUnavailable, TensorSpec
from .packages import package_version

#: Interpreter modules tried in order: (import path, label).
_BACKENDS = (
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow.lite", "tensorflow"),
)


def _import_backend() -> Tuple[Any, str, str]:
    """(interpreter module, package label, version) of the first LiteRT backend that imports."""
    import importlib

    errors = []
    for module, label in _BACKENDS:
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            errors.append("%s: %s" % (module, exc))
            continue
        return mod, label, package_version(label)
    raise RuntimeUnavailable("no LiteRT interpreter importable (%s); install: %s"
                             % ("; ".join(errors), LiteRtRuntime.install_hint))


def _dims(details: Dict[str, Any]) -> List[Any]:
    sig = details.get("shape_signature")
    shape = sig if sig is not None and len(sig) == len(details["shape"]) else details["shape"]
    return [int(d) if int(d) > 0 else None for d in shape]


def _quant(details: Dict[str, Any]) -> Optional[Tuple[float, int]]:
    scale, zero = details.get("quantization", (0.0, 0))
    return (float(scale), int(zero)) if scale else None


class LiteRtRuntime(Runtime):
    name = "litert"
    install_hint = "python3 -m pip install ai-edge-litert"
    default_options: Dict[str, Any] = {"threads": None, "xnnpack": True}

    def __init__(self, options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(options)
        self.interpreter: Any = None
        self._backend = ""
        self._version: Optional[str] = None
        self._inputs: List[Dict[str, Any]] = []

    @classmethod
    def availability(cls) -> Availability:
        try:
            _, label, version = _import_backend()
        except RuntimeUnavailable as exc:
            return Availability(False, reason=str(exc))
        return Availability(True, version=version, details={"backend": label})

    def load(self, model_path: str) -> None:
        mod, self._backend, self._version = _import_backend()
        kwargs: Dict[str, Any] = {"model_path": model_path}
        if self.options["threads"] is not None:
            kwargs["num_threads"] = int(self.options["threads"])
        if not self.options["xnnpack"]:
            kwargs["experimental_op_resolver_type"] = mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            self.interpreter = mod.Interpreter(**kwargs)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError("LiteRT could not load %s: %s" % (os.path.basename(model_path),
                                                                 str(exc).strip()[:800]))
        self._inputs = self.interpreter.get_input_details()

    def input_specs(self) -> List[TensorSpec]:
        return [TensorSpec(d["name"], _dims(d), str(d["dtype"].__name__ if hasattr(d["dtype"], "__name__")
                                                     else d["dtype"]), _quant(d))
                for d in self._inputs]

    def resize_inputs(self, shapes: Dict[str, Sequence[int]]) -> None:
        changed = False
        for d in self._inputs:
            want = list(shapes.get(d["name"], d["shape"]))
            if want != [int(x) for x in d["shape"]]:
                self.interpreter.resize_tensor_input(d["index"], want)
                changed = True
        if changed:
            self.interpreter.allocate_tensors()
            self._inputs = self.interpreter.get_input_details()

    def prepare(self, feeds: Dict[str, Any]) -> None:
        for d in self._inputs:
            self.interpreter.set_tensor(d["index"], feeds[d["name"]])

    def run_once(self) -> None:
        self.interpreter.invoke()

    def outputs(self) -> List[Tuple[str, Any]]:
        out = []
        for d in self.interpreter.get_output_details():
            value = self.interpreter.get_tensor(d["index"])
            q = _quant(d)
            if q is not None and value.dtype.kind in "iu":
                value = (value.astype("float32") - q[1]) * q[0]
            out.append((d["name"], value))
        return out

    def describe(self) -> Dict[str, Any]:
        return {"engine": "litert", "backend": self._backend, "version": self._version,
                "threads": self.options["threads"], "xnnpack": bool(self.options["xnnpack"]),
                "options": dict(self.options)}
