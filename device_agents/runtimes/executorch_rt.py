"""ExecuTorch (PyTorch Mobile's successor): a ``.pte`` program run through ExecuTorch's Python runtime
(``executorch.runtime``), with whatever delegate the program was lowered to (XNNPACK in the zoo).

The runtime's Python bindings take and return torch tensors, so torch must be importable too. Input
and output names come from the program's ``edgebench_meta`` constant method (written by
``models/convert/executorch_export.py``); a program without it gets ``input_N`` / ``output_N``.
Threads: the ``threads`` option resizes ExecuTorch's own thread pool (the one XNNPACK uses) through
the pybindings' ``_unsafe_reset_threadpool``; ``describe()`` reports the pool's size as read back.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Optional, Tuple

from .base import Availability, ModelLoadError, Runtime, RuntimeUnavailable, TensorSpec
from .packages import package_availability, package_version

#: Constant method holding {"input_names", "output_names"} as UTF-8 JSON bytes in a uint8 tensor.
META_METHOD = "edgebench_meta"


def _import() -> Tuple[Any, Any]:
    try:
        import torch
        from executorch.runtime import Runtime as EtRuntime
    except ImportError as exc:
        raise RuntimeUnavailable("executorch not importable (%s); install: %s" % (exc, ExecuTorchRuntime.install_hint))
    return torch, EtRuntime


class ExecuTorchRuntime(Runtime):
    name = "executorch"
    install_hint = "python3 -m pip install executorch (it needs torch; check its torch pin against yours)"
    default_options: Dict[str, Any] = {"threads": None}

    def __init__(self, options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(options)
        self._torch: Any = None
        self._method: Any = None
        self._specs: List[TensorSpec] = []
        self._output_names: List[str] = []
        self._inputs: List[Any] = []
        self._last: List[Any] = []

    @classmethod
    def availability(cls) -> Availability:
        """Presence and version without importing (the import takes seconds; every job's probe asks)."""
        avail = package_availability("executorch.runtime", "executorch", cls.install_hint)
        if avail.available:
            torch = package_availability("torch", "torch", "python3 -m pip install torch")
            if not torch.available:
                return Availability(False, reason="executorch's Python runtime needs torch: %s" % torch.reason)
        return avail

    def load(self, model_path: str) -> None:
        torch, et_runtime = _import()
        self._torch = torch
        if self.options["threads"] is not None:
            reset = getattr(_pybindings(), "_unsafe_reset_threadpool", None)
            if reset is None:
                raise RuntimeUnavailable("this executorch %s cannot resize its thread pool; drop the threads option"
                                         % package_version("executorch"))
            reset(int(self.options["threads"]))
        try:
            program = et_runtime.get().load_program(model_path)
            meta: Dict[str, Any] = {}
            if META_METHOD in program.method_names:  # before forward: it names the delegate forward needs
                raw = program.load_method(META_METHOD).execute([])[0]
                meta = json.loads(bytes(raw.tolist()).decode("utf-8"))
            if meta.get("backend") == "CoreMLBackend" and sys.platform != "darwin":
                raise RuntimeUnavailable("this .pte is delegated to Core ML, which runs only on macOS/iOS; run "
                                         "it on an Apple device, or use pte-xnnpack-fp32 here")
            self._method = program.load_method("forward")
        except RuntimeUnavailable:
            raise
        except Exception as exc:
            raise ModelLoadError("ExecuTorch could not load %s: %s: %s" % (
                os.path.basename(model_path), type(exc).__name__, str(exc).strip()[:800]))
        info = self._method.metadata
        names = meta.get("input_names") or ["input_%d" % i for i in range(info.num_inputs())]
        self._specs = []
        for i, name in enumerate(names):
            tm = info.input_tensor_meta(i)
            dtype = str(torch.empty(0, dtype=_scalar_type(torch, tm.dtype())).dtype).replace("torch.", "")
            self._specs.append(TensorSpec(name, [int(d) for d in tm.sizes()], dtype))
        self._output_names = list(meta.get("output_names") or [])

    def input_specs(self) -> List[TensorSpec]:
        return list(self._specs)

    def prepare(self, feeds: Dict[str, Any]) -> None:
        self._inputs = [self._torch.from_numpy(feeds[s.name]) for s in self._specs]

    def run_once(self) -> None:
        self._last = self._method.execute(self._inputs)

    def outputs(self) -> List[Tuple[str, Any]]:
        names = self._output_names if len(self._output_names) == len(self._last) else \
            ["output_%d" % i for i in range(len(self._last))]
        return [(n, t.detach().cpu().numpy()) for n, t in zip(names, self._last)]

    def describe(self) -> Dict[str, Any]:
        return {"engine": "executorch", "version": package_version("executorch"),
                "threads": _pool_size(),
                "options": dict(self.options)}


def _pybindings() -> Any:
    from executorch.extension.pybindings import portable_lib

    return portable_lib


def _pool_size() -> Optional[int]:
    """Threads in ExecuTorch's thread pool as the runtime reports them (None where it cannot say)."""
    get = getattr(_pybindings(), "_threadpool_get_thread_count", None)
    return int(get()) if get is not None else None


def _scalar_type(torch: Any, code: Any) -> Any:
    """torch dtype of an ExecuTorch ScalarType code (the same numbering as c10::ScalarType)."""
    table = {0: torch.uint8, 1: torch.int8, 2: torch.int16, 3: torch.int32, 4: torch.int64, 5: torch.float16,
             6: torch.float32, 7: torch.float64, 11: torch.bool, 15: torch.bfloat16}
    return table[int(code)]
