"""NVIDIA GPU energy through NVML: ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since driver load,
Volta and newer), read through ``pynvml`` (nvidia-ml-py) or ``libnvidia-ml.so.1`` via ctypes.

Instant power (``nvmlDeviceGetPowerUsage``) is a 1 s average on Ampere and newer, so energy comes from
the counter, which steps about every 100 ms.
"""

from __future__ import annotations

import ctypes
from typing import Any, Optional, Tuple

from .base import Sample, Sensor


class _Nvml:
    """The few NVML calls we need, from pynvml if importable, else straight from the library."""

    def __init__(self) -> None:
        self.lib: Any = None
        self.py: Any = None
        try:
            import pynvml  # type: ignore

            pynvml.nvmlInit()
            self.py = pynvml
            return
        except Exception:
            pass
        lib = ctypes.CDLL("libnvidia-ml.so.1")
        if lib.nvmlInit_v2() != 0:
            raise OSError("nvmlInit_v2 failed")
        self.lib = lib

    def handle(self, index: int) -> Any:
        if self.py:
            return self.py.nvmlDeviceGetHandleByIndex(index)
        h = ctypes.c_void_p()
        rc = self.lib.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(h))
        if rc != 0:
            raise OSError("nvmlDeviceGetHandleByIndex_v2(%d) returned %d" % (index, rc))
        return h

    def name(self, h: Any) -> str:
        if self.py:
            n = self.py.nvmlDeviceGetName(h)
            return n.decode() if isinstance(n, bytes) else str(n)
        buf = ctypes.create_string_buffer(96)
        self.lib.nvmlDeviceGetName(h, buf, ctypes.c_uint(96))
        return buf.value.decode()

    def energy_mj(self, h: Any) -> int:
        if self.py:
            return int(self.py.nvmlDeviceGetTotalEnergyConsumption(h))
        v = ctypes.c_ulonglong()
        rc = self.lib.nvmlDeviceGetTotalEnergyConsumption(h, ctypes.byref(v))
        if rc != 0:
            raise OSError("nvmlDeviceGetTotalEnergyConsumption returned %d (pre-Volta GPU?)" % rc)
        return int(v.value)

    def power_mw(self, h: Any) -> Optional[int]:
        try:
            if self.py:
                return int(self.py.nvmlDeviceGetPowerUsage(h))
            v = ctypes.c_uint()
            return int(v.value) if self.lib.nvmlDeviceGetPowerUsage(h, ctypes.byref(v)) == 0 else None
        except Exception:
            return None

    def temp_c(self, h: Any) -> Optional[int]:
        try:
            if self.py:
                return int(self.py.nvmlDeviceGetTemperature(h, 0))
            v = ctypes.c_uint()
            return int(v.value) if self.lib.nvmlDeviceGetTemperature(h, 0, ctypes.byref(v)) == 0 else None
        except Exception:
            return None


class NvmlSensor(Sensor):
    name = "nvml"
    kind = "energy"
    boundary = "GPU board (NVML)"
    max_rate_hz = 10.0

    def __init__(self, index: int = 0) -> None:
        self.index = index
        self.nvml: Optional[_Nvml] = None
        self.handle: Any = None

    def available(self) -> Tuple[bool, str]:
        try:
            self.nvml = _Nvml()
            self.handle = self.nvml.handle(self.index)
            self.nvml.energy_mj(self.handle)
        except OSError as exc:
            return False, "no NVML energy counter: %s" % exc
        except Exception as exc:
            return False, "NVML unusable: %s: %s" % (type(exc).__name__, exc)
        self.boundary = "GPU board: %s (NVML)" % self.nvml.name(self.handle)
        return True, ""

    def read(self, t_s: float) -> Sample:
        assert self.nvml is not None
        energy_mj = self.nvml.energy_mj(self.handle)
        temps = {}
        t = self.nvml.temp_c(self.handle)
        if t is not None:
            temps["gpu"] = float(t)
        extra = {}
        p = self.nvml.power_mw(self.handle)
        if p is not None:
            extra["instant_power_1s_avg_mw"] = float(p)
        return Sample(t_s=t_s, energy_uj=energy_mj * 1000.0, temps_c=temps, extra=extra)
