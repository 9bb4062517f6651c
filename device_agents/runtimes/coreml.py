"""Core ML (``coremltools`` on macOS): a zipped ``.mlpackage`` is unpacked into the job directory,
compiled for the device's compute units and run with ``predict``. Elsewhere it is unavailable."""

from __future__ import annotations

import os
import platform
import zipfile
from typing import Any, Dict, List, Optional, Tuple

from .base import Availability, ModelLoadError, Runtime, RuntimeUnavailable, TensorSpec

_UNITS = ("ALL", "CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE")


class CoreMlRuntime(Runtime):
    name = "coreml"
    install_hint = "python3 -m pip install coremltools (macOS only)"
    default_options: Dict[str, Any] = {"compute_units": "ALL", "threads": None}

    def __init__(self, options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(options)
        self.model: Any = None
        self._feeds: Dict[str, Any] = {}
        self._last: Dict[str, Any] = {}
        self._version: Optional[str] = None

    @classmethod
    def availability(cls) -> Availability:
        if platform.system() != "Darwin":
            return Availability(False, reason="Core ML runs only on macOS/iOS; this device is %s" % platform.system())
        try:
            import coremltools
        except ImportError as exc:
            return Availability(False, reason="coremltools not importable (%s); install: %s" % (exc, cls.install_hint))
        return Availability(True, version=coremltools.__version__)

    def load(self, model_path: str) -> None:
        avail = self.availability()
        if not avail.available:
            raise RuntimeUnavailable(avail.reason or "Core ML unavailable")
        import coremltools as ct

        self._version = avail.version
        target = os.path.join(os.getcwd(), "coreml_model")
        try:
            with zipfile.ZipFile(model_path) as zf:
                zf.extractall(target)
            units = getattr(ct.ComputeUnit, str(self.options["compute_units"]))
            self.model = ct.models.MLModel(os.path.join(target, "model.mlpackage"), compute_units=units)
        except Exception as exc:
            raise ModelLoadError("Core ML could not load %s: %s" % (os.path.basename(model_path), exc))

    def input_specs(self) -> List[TensorSpec]:
        specs = []
        for inp in self.model.get_spec().description.input:
            arr = inp.type.multiArrayType
            dtype = {65568: "float32", 65552: "float16", 131104: "int32"}.get(arr.dataType, "float32")
            specs.append(TensorSpec(inp.name, [int(d) for d in arr.shape], dtype))
        return specs

    def prepare(self, feeds: Dict[str, Any]) -> None:
        self._feeds = feeds

    def run_once(self) -> None:
        self._last = self.model.predict(self._feeds)

    def outputs(self) -> List[Tuple[str, Any]]:
        return list(self._last.items())

    def placement(self) -> Optional[Dict[str, Any]]:
        """Core ML chooses the unit per layer (CPU, GPU, Neural Engine) and does not say which it used: only
        CPU_ONLY pins the job to the CPU; otherwise the unit is 'mixed' and no single roof applies."""
        units = str(self.options["compute_units"])
        return {"requested": [units], "used": None, "dropped": [], "warnings": [],
                "compute_unit": "cpu" if units == "CPU_ONLY" else "mixed",
                "nodes_per_provider": None, "nodes_reason": "Core ML does not report where each layer ran"}

    def describe(self) -> Dict[str, Any]:
        return {"engine": "coreml", "version": self._version, "options": dict(self.options)}
