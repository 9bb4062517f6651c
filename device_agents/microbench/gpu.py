"""Ceilings of a GPU, measured through the same runtime and provider the jobs use (ONNX Runtime's CUDA
or TensorRT execution provider): peak compute per precision (a large matrix product) and memory
bandwidth (a large element-wise add), with inputs and outputs resident on the GPU (IOBinding) and
time from CUDA events on the session's own stream — no host↔device copies inside the figure.

Each item: {"kind": "matmul"|"add", "runtime": "onnxruntime", "provider": "CUDAExecutionProvider",
"precision": "fp32"|"fp16", "path": model with dynamic dims}. Sizes follow the GPU's free memory.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from .compute import until_stable

_DTYPES = {"fp32": "float32", "fp16": "float16"}


def _free_bytes(device_id: int) -> Optional[int]:
    try:
        import pynvml  # type: ignore

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(device_id)).free)
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return None


def measure_gpu_item(item: Dict[str, Any], repeats: int = 10, max_trials: int = 10, max_s: float = 30.0,
                     device_id: int = 0) -> Dict[str, Any]:
    """GFLOP/s of a matrix product or GB/s of an add on the GPU; null with the reason where it cannot run."""
    provider = str(item.get("provider", "CUDAExecutionProvider"))
    precision = str(item.get("precision", "fp32"))
    kind = str(item.get("kind", "matmul"))
    out: Dict[str, Any] = {"runtime": "onnxruntime", "provider": provider, "unit": "gpu", "precision": precision,
                           "kind": kind, "gops": None, "gbps": None}
    path = item.get("path")
    if not path or not os.path.isfile(path):
        out["reason"] = item.get("error") or "microbenchmark model missing on the device"
        return out
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as exc:
        out["reason"] = "onnxruntime not importable: %s" % exc
        return out
    if provider not in ort.get_available_providers():
        out["reason"] = "%s is not in this onnxruntime %s (it has %s)" % (
            provider, ort.__version__, ", ".join(ort.get_available_providers()))
        return out
    from ..cuda import CudaUnavailable, Cudart

    try:
        cudart = Cudart()
        stream = cudart.stream()
    except CudaUnavailable as exc:
        out["reason"] = str(exc)
        return out
    opts: Dict[str, str] = {"device_id": str(device_id), "user_compute_stream": str(stream),
                            "has_user_compute_stream": "1"}
    sess = ort.InferenceSession(path, providers=[(provider, opts)])
    if provider not in sess.get_providers():
        out["reason"] = "onnxruntime dropped %s when creating the session (it kept %s)" % (
            provider, ", ".join(sess.get_providers()))
        return out
    out["provider_options"] = {k: v for k, v in (sess.get_provider_options().get(provider) or {}).items()
                               if k in ("use_tf32", "cudnn_conv_algo_search", "device_id", "gpu_mem_limit")}
    free = _free_bytes(device_id)
    dt = np.dtype(_DTYPES[precision])
    rng = np.random.default_rng(0)
    if kind == "matmul":
        n = 8192 if (free is None or free > 3 * 8192 * 8192 * dt.itemsize * 2) else 4096
        feeds = {name: rng.standard_normal((n, n)).astype(dt) for name in [i.name for i in sess.get_inputs()]}
        work = 2.0 * n * n * n
        out["shape_mnk"] = [n, n, n]
    else:
        elems = (1 << 27) if (free is None or free > 6 * (1 << 27) * dt.itemsize) else (1 << 24)
        feeds = {name: rng.standard_normal(elems).astype(dt) for name in [i.name for i in sess.get_inputs()]}
        work = 3.0 * elems * dt.itemsize  # two arrays read, one written
        out["elements"] = elems
        out["bytes_per_run"] = int(work)
    binding = sess.io_binding()
    for name, arr in feeds.items():
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(arr, "cuda", device_id))
    for o in sess.get_outputs():
        binding.bind_output(o.name, "cuda", device_id)
    sess.run_with_iobinding(binding)  # first run discarded (cuBLAS handles, algorithm choice)
    start, end = cudart.event(), cudart.event()
    times_ms: List[float] = []

    def trial() -> float:
        best = float("inf")
        for _ in range(max(1, repeats)):
            cudart.record(start, stream)
            sess.run_with_iobinding(binding)
            cudart.record(end, stream)
            ms = cudart.elapsed_ms(start, end)
            times_ms.append(ms)
            best = min(best, ms)
        return work / (best / 1000.0) / 1e9

    try:
        res = until_stable(trial, max_trials, max_s)
    finally:
        cudart.destroy_event(start)
        cudart.destroy_event(end)
    out["gops" if kind == "matmul" else "gbps"] = res["best"]
    out.update(trials=res["trials"], stable=res["stable"], spread_rel=res["spread_rel"], runs=len(times_ms),
               best_ms=min(times_ms),
               method="CUDA events on the session's stream around run_with_iobinding (inputs/outputs resident); "
                      "best run of each trial, trials until the best figures agree within 3 %")
    return out
