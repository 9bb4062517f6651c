"""PyTorch: a ``torch.export`` ExportedProgram file (``.pt2``) run eagerly, ``torch.compile``d, or
compiled ahead of time (AOTInductor).

Modes (option ``mode``):

- ``eager``: the ExportedProgram's graph module (``ep.module()``), run op by op by eager PyTorch.
- ``compile``: that module through ``torch.compile`` (Inductor, ``compile_mode``); the compilation is
  forced inside :meth:`load` with zero inputs of the exported shapes, so it counts as cold start
  (``load_ms``), and its own time is in ``describe()["compile_ms"]``.
- ``exported``: the program compiled ahead of time by AOTInductor (``aoti_compile_and_package``) and
  run through ``aoti_load_package``, the way an exported program is deployed without Python eager
  dispatch; the AOT compile is also inside :meth:`load` (cold start).

Devices ``cpu``, ``cuda`` (``cuda:N``) and ``mps``; precision ``float32``/``float16``/``bfloat16`` by
casting the weights and the floating inputs and running under ``torch.autocast`` for that dtype (casts
to float32 baked into the graph would otherwise meet the cast weights); outputs are read back as float32. The timed call ends
with the device's synchronise (``torch.cuda.synchronize`` / ``torch.mps.synchronize``), so kernels
that were only queued are not counted as done.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .base import Availability, BadOption, ModelLoadError, Runtime, RuntimeUnavailable, TensorSpec
from .packages import package_availability

MODES = ("eager", "compile", "exported")
DTYPES = ("float32", "float16", "bfloat16")
#: Metadata the exporter stores inside the .pt2 (input and output names of the original module).
META_FILE = "edgebench.json"


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise RuntimeUnavailable("torch not importable (%s); install: %s" % (exc, TorchRuntime.install_hint))
    return torch


def _dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def _autocast(torch: Any, module: Any, device_type: str, dtype: Any) -> Any:
    """``module`` (weights already cast) called under ``torch.autocast``: an exported graph keeps the casts
    to float32 its source had (masks, ``.float()``), which would meet the cast weights in one matmul."""

    class Autocast(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, **kwargs: Any) -> Any:
            with torch.autocast(device_type=device_type, dtype=dtype):
                return self.inner(**kwargs)

    return Autocast()


class TorchRuntime(Runtime):
    name = "torch"
    install_hint = ("python3 -m pip install torch (CPU-only: --index-url https://download.pytorch.org/whl/cpu; "
                    "Jetson: the JetPack torch wheel)")
    default_options: Dict[str, Any] = {
        "mode": "eager",              # eager | compile | exported (AOTInductor)
        "device": "cpu",              # cpu | cuda | cuda:N | mps
        "dtype": "float32",           # float32 | float16 | bfloat16 (weights and floating inputs)
        "threads": None,              # torch.set_num_threads; None = torch's default
        "inter_op_threads": None,     # torch.set_num_interop_threads
        "compile_mode": "default",    # torch.compile mode: default | reduce-overhead | max-autotune
        "device_timing": True,        # CUDA: device compute time from CUDA events after the window
    }

    def __init__(self, options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(options)
        if self.options["mode"] not in MODES:
            raise BadOption("torch mode must be one of %s, not %r" % (", ".join(MODES), self.options["mode"]))
        if self.options["dtype"] not in DTYPES:
            raise BadOption("torch dtype must be one of %s, not %r" % (", ".join(DTYPES), self.options["dtype"]))
        device = str(self.options["device"])
        if device.split(":")[0] not in ("cpu", "cuda", "mps"):
            raise BadOption("torch device must be cpu, cuda, cuda:N or mps, not %r" % device)
        self._torch: Any = None
        self._fn: Optional[Callable[..., Any]] = None
        self._sync: Callable[[], None] = lambda: None
        self._specs: List[TensorSpec] = []
        self._output_names: List[str] = []
        self._feeds: Dict[str, Any] = {}
        self._last: Any = None
        self._compile_ms: Optional[float] = None
        self._device: Any = None
        self._version: Optional[str] = None

    @classmethod
    def availability(cls) -> Availability:
        """Without importing torch (every job's probe asks every runtime; torch costs seconds and memory):
        the package's presence and version. CUDA/MPS are checked when a job asks for them."""
        return package_availability("torch", "torch", cls.install_hint)

    # -- load ---------------------------------------------------------------------------------------
    def load(self, model_path: str) -> None:
        torch = self._torch = _import_torch()
        self._version = torch.__version__
        device = self._device = self._check_device(torch)
        dtype = getattr(torch, self.options["dtype"])
        if self.options["threads"] is not None:
            torch.set_num_threads(int(self.options["threads"]))
        if self.options["inter_op_threads"] is not None:
            torch.set_num_interop_threads(int(self.options["inter_op_threads"]))
        torch.set_grad_enabled(False)  # one job per process: no autograd bookkeeping in any call
        extra = {META_FILE: ""}
        try:
            ep = torch.export.load(model_path, extra_files=extra)
        except Exception as exc:
            raise ModelLoadError("torch.export.load could not read %s: %s: %s" % (
                os.path.basename(model_path), type(exc).__name__, str(exc).strip()[:800]))
        meta = json.loads(extra[META_FILE]) if extra[META_FILE] else {}
        self._specs = self._input_specs(ep)
        self._output_names = list(meta.get("output_names") or ep.graph_signature.user_outputs)
        if device.type == "cuda":
            self._sync = torch.cuda.synchronize
        elif device.type == "mps":
            self._sync = torch.mps.synchronize
        if device.type != "cpu":  # devices baked into the graph (arange, asserts) move too, not just weights
            from torch.export.passes import move_to_device_pass

            ep = move_to_device_pass(ep, device)
        module = ep.module().to(device=device, dtype=dtype)
        if dtype != torch.float32:
            module = _autocast(torch, module, device.type, dtype)
        mode = self.options["mode"]
        if mode == "eager":
            self._fn = module
        elif mode == "compile":
            self._fn = torch.compile(module, mode=self.options["compile_mode"])
            self._compile_ms = self._first_call_ms(self._fn, device, dtype)
        else:
            self._fn = self._aot_compile(module, device, dtype)

    def _check_device(self, torch: Any) -> Any:
        device = torch.device(str(self.options["device"]))
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeUnavailable("torch %s has no usable CUDA device (torch.version.cuda=%s); install a CUDA "
                                     "build of torch" % (torch.__version__, torch.version.cuda))
        mps = getattr(torch.backends, "mps", None)
        if device.type == "mps" and not (mps is not None and mps.is_available()):
            raise RuntimeUnavailable("torch %s has no MPS device (Apple silicon with macOS 12.3+ only)"
                                     % torch.__version__)
        if device.type == "cuda" and device.index is None:  # graph asserts compare "cuda:0", not "cuda"
            device = torch.device("cuda", torch.cuda.current_device())
        dtype = self.options["dtype"]
        if device.type == "cuda" and dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
            raise RuntimeUnavailable("this CUDA device has no bfloat16 support (compute capability < 8.0)")
        return device

    def _input_specs(self, ep: Any) -> List[TensorSpec]:
        by_name = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
        specs = []
        for name in ep.graph_signature.user_inputs:
            val = by_name[name].meta.get("val")
            shape = [int(d) if isinstance(d, int) else str(d) for d in val.shape]
            specs.append(TensorSpec(name, shape, _dtype_name(val.dtype)))
        return specs

    def _zeros(self, device: Any, dtype: Any) -> Dict[str, Any]:
        """Zero inputs of the exported shapes (what compilation needs before any real input exists)."""
        torch = self._torch
        out = {}
        for s in self._specs:
            if any(not isinstance(d, int) for d in s.shape):
                raise ModelLoadError("input %s has a dynamic shape %s; the torch runtime compiles for the "
                                     "exported static shapes only" % (s.name, s.shape))
            t = torch.zeros(s.shape, dtype=getattr(torch, s.dtype), device=device)
            out[s.name] = t.to(dtype) if t.is_floating_point() else t
        return out

    def _first_call_ms(self, fn: Callable[..., Any], device: Any, dtype: Any) -> float:
        start = time.perf_counter_ns()
        try:
            fn(**self._zeros(device, dtype))
            self._sync()
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError("torch.compile failed: %s: %s" % (type(exc).__name__, str(exc).strip()[:800]))
        return (time.perf_counter_ns() - start) / 1e6

    def _aot_compile(self, module: Any, device: Any, dtype: Any) -> Callable[..., Any]:
        """AOTInductor: re-export the (cast, placed) module, compile it to a package in the job directory."""
        torch = self._torch
        start = time.perf_counter_ns()
        try:
            ep = torch.export.export(module, args=(), kwargs=self._zeros(device, dtype))
            package = torch._inductor.aoti_compile_and_package(
                ep, package_path=os.path.join(os.getcwd(), "model_aoti.pt2"))
            fn = torch._inductor.aoti_load_package(package)
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError("AOTInductor compilation failed: %s: %s" % (type(exc).__name__,
                                                                            str(exc).strip()[:800]))
        self._compile_ms = (time.perf_counter_ns() - start) / 1e6
        return fn

    # -- run ----------------------------------------------------------------------------------------
    def input_specs(self) -> List[TensorSpec]:
        return list(self._specs)

    def prepare(self, feeds: Dict[str, Any]) -> None:
        """Inputs copied to the device once (floating ones cast to the job's dtype), outside the window."""
        torch = self._torch
        device = self._device
        dtype = getattr(torch, self.options["dtype"])
        self._feeds = {}
        for name, arr in feeds.items():
            t = torch.from_numpy(arr).to(device)
            self._feeds[name] = t.to(dtype) if t.is_floating_point() else t
        self._sync()

    def run_once(self) -> None:
        self._last = self._fn(**self._feeds)  # type: ignore[misc]
        self._sync()

    def outputs(self) -> List[Tuple[str, Any]]:
        from torch.utils._pytree import tree_flatten

        leaves = [x for x in tree_flatten(self._last)[0] if hasattr(x, "detach")]
        names = self._output_names if len(self._output_names) == len(leaves) else \
            ["output_%d" % i for i in range(len(leaves))]
        return [(n, (t.detach().float() if t.is_floating_point() else t.detach()).cpu().numpy())
                for n, t in zip(names, leaves)]

    def describe(self) -> Dict[str, Any]:
        torch = self._torch
        return {"engine": "torch", "version": self._version, "mode": self.options["mode"],
                "device": str(self.options["device"]), "dtype": self.options["dtype"],
                "threads": torch.get_num_threads() if torch is not None else None,
                "compile_ms": self._compile_ms,
                "compile_ms_note": "inside load_ms (cold start)" if self._compile_ms is not None else None,
                "options": dict(self.options)}

    def placement(self) -> Optional[Dict[str, Any]]:
        device = str(self.options["device"]).split(":")[0]
        if device == "cpu":
            return None
        return {"requested": [str(self.options["device"])], "used": [str(self.options["device"])], "dropped": [],
                "compute_unit": "gpu", "warnings": []}

    def device_timing(self, runs: int = 200) -> Optional[Dict[str, Any]]:
        """CUDA: device time per inference from CUDA events on the current stream around the call, beside
        the host wall time of the same call (inputs resident, so no copies inside). None off CUDA."""
        if not str(self.options["device"]).startswith("cuda"):
            return None
        if not self.options["device_timing"]:
            return {"device_compute_ms_p50": None, "reason": "device timing is off (device_timing=false)"}
        import numpy as np

        torch = self._torch
        compute: List[float] = []
        wall: List[float] = []
        for _ in range(runs):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            t0 = time.perf_counter_ns()
            start.record()
            self._fn(**self._feeds)  # type: ignore[misc]
            end.record()
            end.synchronize()
            wall.append((time.perf_counter_ns() - t0) / 1e6)
            compute.append(float(start.elapsed_time(end)))
        return {"device_compute_ms_p50": float(np.median(compute)), "resident_wall_ms_p50": float(np.median(wall)),
                "host_overhead_ms_p50": float(np.median([w - c for w, c in zip(wall, compute)])), "runs": runs,
                "method": "torch.cuda.Event pair on the current stream around module(**feeds); wall = "
                          "perf_counter_ns to the end event's synchronize"}

    def finish(self) -> Dict[str, Any]:
        torch = self._torch
        if torch is not None and str(self.options["device"]).startswith("cuda"):
            return {"cuda_max_memory_allocated_bytes": int(torch.cuda.max_memory_allocated()),
                    "cuda_max_memory_reserved_bytes": int(torch.cuda.max_memory_reserved())}
        return {}
