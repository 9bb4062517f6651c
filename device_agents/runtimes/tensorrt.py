"""TensorRT through its Python bindings (``tensorrt``): an engine built from an ONNX file (or a prebuilt
``.engine``/``.plan`` deserialised), cached per device + TensorRT version + build options, run with
``execute_async_v3`` on a stream of the agent's own with inputs resident on the GPU.

- Build options (:func:`engine_plan`): precision ``fp32`` | ``fp16`` | ``int8`` | ``best``; ``int8``
  needs an explicitly quantised (QDQ) ONNX model, best built ``strongly_typed`` (precision then comes
  from the model, so no precision flag may be set beside it); workspace limit in MiB; builder
  optimisation level. The same options give the equivalent ``trtexec`` command line
  (:func:`trtexec_args`) for Jetsons whose Python lacks the bindings; that log is parsed by
  :mod:`device_agents.trtexec_log`.
- Cold start: the engine build (or deserialisation) happens in :meth:`load`, so it is in ``load_ms``;
  ``describe()`` has ``engine_build_ms`` and whether the engine came from the cache.
- Timed call: ``execute_async_v3`` then ``cudaStreamSynchronize`` (queued work is counted).
  Device compute time comes from CUDA events on the stream after the window; device memory from the
  engine (``device_memory_size_v2``).
- Static input shapes only (the zoo's ONNX exports are static); a dynamic dimension is a load error.

Where the bindings are missing the runtime is ``unavailable`` with the install hint.
Without the bindings, a job runs through ``trtexec`` where one is found (:mod:`device_agents.trtexec_run`).
NOTE: neither the bindings' build-and-run path nor a real trtexec has been executed by edgebench's tests
(no TensorRT on the CI host); the option building, the trtexec log and trace parsers (real logs) and the
agent's trtexec path (a stand-in trtexec replaying a real log) are tested.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
from typing import Any, Dict, List, Optional, Tuple

from .base import Availability, BadOption, ModelLoadError, Runtime, RuntimeUnavailable, TensorSpec
from .packages import package_availability

PRECISIONS = ("fp32", "fp16", "int8", "best")
_MIB = 1024 * 1024
_H2D, _D2H = 1, 2  # cudaMemcpyKind


def engine_plan(options: Dict[str, Any]) -> Dict[str, Any]:
    """The builder settings a job's options stand for (pure; raises BadOption for impossible mixes).

    Returns {"precision", "flags": [BuilderFlag names], "strongly_typed", "workspace_bytes" (or None),
    "builder_optimization_level" (or None)}.
    """
    precision = options.get("precision", "fp32")
    if precision not in PRECISIONS:
        raise BadOption("tensorrt precision must be one of %s, not %r" % (", ".join(PRECISIONS), precision))
    strongly_typed = bool(options.get("strongly_typed", False))
    if strongly_typed and precision != "fp32":
        raise BadOption("a strongly typed network takes its precisions from the model (QDQ / fp16 tensors); "
                        "leave precision at fp32 with strongly_typed=true")
    flags = {"fp32": [], "fp16": ["FP16"], "int8": ["INT8"], "best": ["FP16", "INT8"]}[precision]
    workspace = options.get("workspace_mb")
    level = options.get("builder_optimization_level")
    if level is not None and not 0 <= int(level) <= 5:
        raise BadOption("builder_optimization_level must be 0..5, not %r" % level)
    return {"precision": precision, "flags": flags, "strongly_typed": strongly_typed,
            "workspace_bytes": int(workspace) * _MIB if workspace is not None else None,
            "builder_optimization_level": int(level) if level is not None else None}


def trtexec_args(onnx_path: str, engine_path: str, options: Dict[str, Any]) -> List[str]:
    """The ``trtexec`` command that builds the same engine as :meth:`TensorRtRuntime.load` would."""
    plan = engine_plan(options)
    args = ["trtexec", "--onnx=%s" % onnx_path, "--saveEngine=%s" % engine_path]
    if plan["strongly_typed"]:
        args.append("--stronglyTyped")
    args += ["--%s" % flag.lower() for flag in plan["flags"]] if plan["precision"] != "best" else ["--best"]
    if plan["workspace_bytes"] is not None:
        args.append("--memPoolSize=workspace:%dM" % (plan["workspace_bytes"] // _MIB))
    if plan["builder_optimization_level"] is not None:
        args.append("--builderOptimizationLevel=%d" % plan["builder_optimization_level"])
    return args


def engine_cache_key(model_sha256: str, device_name: str, trt_version: str, plan: Dict[str, Any]) -> str:
    """Engines are only valid on the GPU model and TensorRT version that built them, for one set of options."""
    blob = json.dumps({"model": model_sha256, "device": device_name, "tensorrt": trt_version, "plan": plan},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _gpu_name(device_id: int) -> str:
    """The GPU's name from the CUDA driver (part of the engine cache key)."""
    lib = ctypes.CDLL("libcuda.so.1")
    dev = ctypes.c_int()
    buf = ctypes.create_string_buffer(256)
    if lib.cuInit(0) or lib.cuDeviceGet(ctypes.byref(dev), int(device_id)) or lib.cuDeviceGetName(buf, 256, dev):
        raise RuntimeUnavailable("the CUDA driver cannot open GPU %d" % device_id)
    return buf.value.decode()


class TensorRtRuntime(Runtime):
    name = "tensorrt"
    install_hint = ("python3 -m pip install tensorrt (x86-64/SBSA with CUDA 12/13); Jetson: JetPack's "
                    "python3-libnvinfer, or trtexec on PATH / EDGEBENCH_TRTEXEC (then jobs run through it)")
    default_options: Dict[str, Any] = {
        "precision": "fp32",              # fp32 | fp16 | int8 (QDQ model) | best
        "strongly_typed": False,          # precisions from the model (QDQ / typed ONNX)
        "workspace_mb": None,             # builder workspace limit; None = TensorRT's default
        "builder_optimization_level": None,
        "device_id": 0,
        "engine_cache_dir": None,         # None = ~/.cache/edgebench/trt-engines
        "threads": None,                  # accepted for --threads; host threads do not apply to TensorRT
    }

    def __init__(self, options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(options)
        self._plan = engine_plan(self.options)
        self._trt: Any = None
        self._cudart: Any = None
        self._stream = 0
        self._engine: Any = None
        self._context: Any = None
        self._io: List[Dict[str, Any]] = []
        self._version: Optional[str] = None
        self._build: Dict[str, Any] = {}

    @classmethod
    def availability(cls) -> Availability:
        avail = package_availability("tensorrt", "tensorrt", cls.install_hint)
        from ..trtexec_find import trtexec_path

        trtexec = trtexec_path()
        if not avail.available and trtexec:  # jobs run through trtexec instead (device_agents.trtexec_run)
            return Availability(True, None, None, {"via": "trtexec", "trtexec": trtexec, "bindings": avail.reason})
        return avail

    # -- load: build or deserialise, cached -----------------------------------------------------------
    def load(self, model_path: str) -> None:
        try:
            import tensorrt as trt
        except ImportError as exc:
            raise RuntimeUnavailable("tensorrt not importable (%s); install: %s" % (exc, self.install_hint))
        from ..cuda import CudaUnavailable, Cudart

        self._trt, self._version = trt, trt.__version__
        try:
            self._cudart = Cudart()
            self._cudart._check(self._cudart.lib.cudaSetDevice(int(self.options["device_id"])), "cudaSetDevice")
            self._stream = self._cudart.stream()
        except CudaUnavailable as exc:
            raise RuntimeUnavailable("TensorRT needs the CUDA runtime: %s" % exc)
        logger = trt.Logger(trt.Logger.WARNING)
        if model_path.endswith(".onnx"):
            blob = self._cached_engine(model_path, logger)
        else:
            with open(model_path, "rb") as fh:
                blob = fh.read()
            self._build = {"engine_source": "prebuilt file"}
        self._engine = trt.Runtime(logger).deserialize_cuda_engine(blob)
        if self._engine is None:
            raise ModelLoadError("TensorRT could not deserialise the engine for %s (built by another TensorRT "
                                 "version or GPU?)" % os.path.basename(model_path))
        self._context = self._engine.create_execution_context()
        self._io = self._bind_io()

    def _cached_engine(self, onnx_path: str, logger: Any) -> bytes:
        import time

        cache_dir = self.options["engine_cache_dir"] or os.path.join(os.path.expanduser("~"), ".cache", "edgebench",
                                                                     "trt-engines")
        key = engine_cache_key(_file_sha256(onnx_path), _gpu_name(int(self.options["device_id"])), self._version or "",
                               self._plan)
        path = os.path.join(cache_dir, key + ".engine")
        if os.path.isfile(path):
            self._build = {"engine_source": "cache", "engine_path": path, "engine_build_ms": None}
            with open(path, "rb") as fh:
                return fh.read()
        start = time.perf_counter_ns()
        blob = self._build_engine(onnx_path, logger)
        self._build = {"engine_source": "built", "engine_path": path,
                       "engine_build_ms": (time.perf_counter_ns() - start) / 1e6}
        os.makedirs(cache_dir, exist_ok=True)
        tmp = path + ".tmp%d" % os.getpid()
        with open(tmp, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)
        return blob

    def _build_engine(self, onnx_path: str, logger: Any) -> bytes:
        trt, plan = self._trt, self._plan
        builder = trt.Builder(logger)
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if plan["strongly_typed"] else 0
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(onnx_path):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ModelLoadError("TensorRT's ONNX parser refused %s: %s" % (os.path.basename(onnx_path), errors[:800]))
        config = builder.create_builder_config()
        for flag in plan["flags"]:
            config.set_flag(getattr(trt.BuilderFlag, flag))
        if plan["workspace_bytes"] is not None:
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan["workspace_bytes"])
        if plan["builder_optimization_level"] is not None:
            config.builder_optimization_level = plan["builder_optimization_level"]
        blob = builder.build_serialized_network(network, config)
        if blob is None:
            raise ModelLoadError("TensorRT failed to build an engine from %s (see the log above)"
                                 % os.path.basename(onnx_path))
        return bytes(blob)

    def _bind_io(self) -> List[Dict[str, Any]]:
        """Every I/O tensor with a device buffer of its own, its address given to the context once."""
        import numpy as np

        trt, lib = self._trt, self._cudart.lib
        io = []
        for i in range(self._engine.num_io_tensors):
            name = self._engine.get_tensor_name(i)
            shape = [int(d) for d in self._engine.get_tensor_shape(name)]
            if any(d < 0 for d in shape):
                raise ModelLoadError("tensor %s has a dynamic shape %s; export the ONNX model with static shapes"
                                     % (name, shape))
            dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(name)))
            nbytes = int(np.prod(shape)) * dtype.itemsize
            ptr = ctypes.c_void_p()
            self._cudart._check(lib.cudaMalloc(ctypes.byref(ptr), ctypes.c_size_t(max(nbytes, 1))), "cudaMalloc")
            self._context.set_tensor_address(name, int(ptr.value or 0))
            io.append({"name": name, "shape": shape, "dtype": dtype, "bytes": nbytes, "ptr": ptr,
                       "input": self._engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT,
                       "host": np.empty(shape, dtype=dtype)})
        return io

    def _copy(self, dst: Any, src: Any, nbytes: int, kind: int) -> None:
        lib = self._cudart.lib
        self._cudart._check(lib.cudaMemcpy(dst, src, ctypes.c_size_t(nbytes), kind), "cudaMemcpy")

    # -- run -------------------------------------------------------------------------------------------
    def input_specs(self) -> List[TensorSpec]:
        return [TensorSpec(t["name"], list(t["shape"]), t["dtype"].name) for t in self._io if t["input"]]

    def prepare(self, feeds: Dict[str, Any]) -> None:
        """Inputs copied to their device buffers once; the timed call reads them there."""
        import numpy as np

        for t in self._io:
            if t["input"]:
                arr = np.ascontiguousarray(feeds[t["name"]], dtype=t["dtype"])
                self._copy(t["ptr"], arr.ctypes.data_as(ctypes.c_void_p), t["bytes"], _H2D)

    def run_once(self) -> None:
        if not self._context.execute_async_v3(self._stream):
            raise RuntimeError("TensorRT execute_async_v3 returned false")
        self._cudart._check(self._cudart.lib.cudaStreamSynchronize(ctypes.c_void_p(self._stream)),
                            "cudaStreamSynchronize")

    def outputs(self) -> List[Tuple[str, Any]]:
        out = []
        for t in self._io:
            if not t["input"]:
                self._copy(t["host"].ctypes.data_as(ctypes.c_void_p), t["ptr"], t["bytes"], _D2H)
                out.append((t["name"], t["host"].copy()))
        return out

    def describe(self) -> Dict[str, Any]:
        memory = getattr(self._engine, "device_memory_size_v2", None)
        if memory is None and self._engine is not None:
            memory = getattr(self._engine, "device_memory_size", None)
        return dict({"engine": "tensorrt", "version": self._version, "plan": self._plan,
                     "engine_device_memory_bytes": int(memory) if memory is not None else None,
                     "io_device_bytes": sum(t["bytes"] for t in self._io),
                     "options": dict(self.options)}, **self._build)

    def placement(self) -> Optional[Dict[str, Any]]:
        return {"requested": ["tensorrt"], "used": ["tensorrt"], "dropped": [], "compute_unit": "gpu",
                "warnings": []}

    def device_timing(self, runs: int = 200) -> Optional[Dict[str, Any]]:
        """Device time per inference from CUDA events recorded on the engine's stream around the enqueue."""
        import numpy as np

        start, end = self._cudart.event(), self._cudart.event()
        compute = []
        for _ in range(runs):
            self._cudart.record(start, self._stream)
            self._context.execute_async_v3(self._stream)
            self._cudart.record(end, self._stream)
            compute.append(self._cudart.elapsed_ms(start, end))
        self._cudart.destroy_event(start)
        self._cudart.destroy_event(end)
        return {"device_compute_ms_p50": float(np.median(compute)), "runs": runs,
                "method": "cudaEventRecord on the engine's stream around execute_async_v3"}

    def finish(self) -> Dict[str, Any]:
        for t in self._io:
            self._cudart.lib.cudaFree(t["ptr"])
        return {}
