"""The CUDA runtime through ctypes (no torch, no cupy on a device): a stream of our own, and events on
it, for device time that does not count host work; and NVML for a process's GPU memory.

Loaded lazily; every entry point returns None (or raises CudaUnavailable with the reason) where the
library is missing, so a CPU-only device never pays for it.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
from typing import Any, Dict, List, Optional


class CudaUnavailable(Exception):
    """libcudart cannot be loaded or a call failed; the message says which."""


def _candidates() -> List[str]:
    names = ["libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so"]
    found: List[str] = []
    for base in sys.path:  # the CUDA runtime wheels (nvidia-cuda-runtime) that onnxruntime-gpu or torch use
        found += sorted(glob.glob(os.path.join(base, "nvidia", "cu*", "lib", "libcudart.so*")))
        found += sorted(glob.glob(os.path.join(base, "nvidia", "cuda_runtime", "lib", "libcudart.so*")))
    return names + found


class Cudart:
    """The few CUDA runtime calls device timing needs."""

    def __init__(self) -> None:
        errors = []
        self.lib: Any = None
        for name in _candidates():
            try:
                self.lib = ctypes.CDLL(name)
                self.path = name
                break
            except OSError as exc:
                errors.append(str(exc))
        if self.lib is None:
            raise CudaUnavailable("no CUDA runtime library (libcudart) could be loaded: %s" % (errors[-1] if errors
                                                                                              else "none found"))

    def _check(self, rc: int, what: str) -> None:
        if rc != 0:
            self.lib.cudaGetErrorString.restype = ctypes.c_char_p
            raise CudaUnavailable("%s failed: CUDA error %d (%s)" % (what, rc, self.lib.cudaGetErrorString(rc).decode()))

    def stream(self) -> int:
        s = ctypes.c_void_p()
        self._check(self.lib.cudaStreamCreate(ctypes.byref(s)), "cudaStreamCreate")
        return int(s.value or 0)

    def event(self) -> ctypes.c_void_p:
        e = ctypes.c_void_p()
        self._check(self.lib.cudaEventCreate(ctypes.byref(e)), "cudaEventCreate")
        return e

    def record(self, event: ctypes.c_void_p, stream: int) -> None:
        self._check(self.lib.cudaEventRecord(event, ctypes.c_void_p(stream)), "cudaEventRecord")

    def elapsed_ms(self, start: ctypes.c_void_p, end: ctypes.c_void_p) -> float:
        self._check(self.lib.cudaEventSynchronize(end), "cudaEventSynchronize")
        ms = ctypes.c_float()
        self._check(self.lib.cudaEventElapsedTime(ctypes.byref(ms), start, end), "cudaEventElapsedTime")
        return float(ms.value)

    def destroy_event(self, event: ctypes.c_void_p) -> None:
        self.lib.cudaEventDestroy(event)


def process_gpu_memory(pid: Optional[int] = None) -> Dict[str, Any]:
    """This process's GPU memory from NVML, summed over the GPUs, beside the device-wide used memory.

    Returns {"process_bytes": int|None, "device_used_bytes": int|None, "reason"?: str}: ``process_bytes``
    is None when NVML does not list the process — before it has a CUDA context, or in containers and
    VMs whose NVML shows no processes at all.
    """
    pid = os.getpid() if pid is None else pid
    try:
        import pynvml  # type: ignore
    except ImportError:
        return {"process_bytes": None, "device_used_bytes": None,
                "reason": "nvidia-ml-py (pynvml) is not installed: python3 -m pip install nvidia-ml-py"}
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, driver not loaded
        return {"process_bytes": None, "device_used_bytes": None, "reason": "NVML unavailable: %s" % exc}
    try:
        total, listed, used_all = 0, False, 0
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            used_all += int(pynvml.nvmlDeviceGetMemoryInfo(h).used)
            for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
                try:
                    procs = getattr(pynvml, getter)(h)
                except Exception:
                    continue
                for p in procs:
                    if int(p.pid) == pid and p.usedGpuMemory is not None:
                        total += int(p.usedGpuMemory)
                        listed = True
        return {"process_bytes": total if listed else None, "device_used_bytes": used_all}
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def gpu_memory_report(baseline: Dict[str, Any], phases: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """Per-phase GPU memory (bytes) with one method for all phases: the process's own figure where NVML
    lists the process after the load (before it, no CUDA context: 0), else device-wide used memory over
    its value before the load, labelled as an estimate (other processes count too)."""
    if any(p.get("process_bytes") is not None for p in phases.values()):
        per_phase = {k: v.get("process_bytes") for k, v in phases.items()}
        base = baseline.get("process_bytes") or 0
        method, estimate = "NVML per-process used GPU memory (0 before the process had a CUDA context)", False
    elif baseline.get("device_used_bytes") is not None:
        per_phase = {k: v.get("device_used_bytes") for k, v in phases.items()}
        base = baseline["device_used_bytes"]
        method, estimate = ("NVML device-wide used memory (NVML lists no per-process figure here; other "
                            "processes count too)"), True
    else:
        return {"per_phase_bytes": None, "peak_over_baseline_bytes": None, "method": None, "is_estimate": False,
                "reason": baseline.get("reason") or "NVML gave no figure"}
    known = [v for v in per_phase.values() if v is not None]
    return {"per_phase_bytes": per_phase, "baseline_bytes": base,
            "peak_bytes": max(known) if known else None,
            "peak_over_baseline_bytes": max(known) - base if known else None,
            "method": method, "is_estimate": estimate}
