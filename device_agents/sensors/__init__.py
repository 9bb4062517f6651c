"""Power, energy, thermal and clock sensors: one file per source, one interface (``base.Sensor``).

``discover()`` tries every source and returns the available ones plus, for each unavailable one,
the reason — so a result can say exactly why a figure is null.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from .base import Sample, Sensor

#: name -> (module, class, constructor keyword that takes a root override, if any)
_SOURCES = {
    "rapl": ("rapl", "RaplSensor", "powercap_root"),
    "nvml": ("nvml", "NvmlSensor", None),
    "jetson_ina3221": ("ina", "JetsonIna3221Sensor", "i2c_root"),
    "tegrastats": ("tegrastats", "TegrastatsSensor", None),
    "rpi5_pmic": ("rpi", "RpiPmicSensor", None),
    "rpi_firmware": ("rpi", "RpiFirmwareSensor", None),
    "android_battery": ("android", "AndroidBatterySensor", "battery_root"),
    "powermetrics": ("powermetrics", "PowermetricsSensor", None),
    "ina2xx": ("ina", "Ina2xxSensor", "hwmon_root"),
    "linux_thermal": ("thermal", "ThermalSensor", None),
}
_ROOT_KW = {"powercap_root": "root", "i2c_root": "root", "battery_root": "root", "hwmon_root": "root"}
#: Preference among power sources when several exist: counters first, then the widest boundary.
POWER_PREFERENCE = ["rapl", "nvml", "jetson_ina3221", "tegrastats", "android_battery", "powermetrics", "ina2xx",
                    "rpi5_pmic"]


#: Sources that can give temperatures, clocks or throttle flags.
THERMAL_SOURCES = ("linux_thermal", "rpi_firmware", "tegrastats", "powermetrics", "nvml", "android_battery")


def source_names() -> List[str]:
    return list(_SOURCES)


def make(name: str, paths: Optional[Dict[str, str]] = None) -> Sensor:
    import importlib

    module, cls, root_key = _SOURCES[name]
    ctor = getattr(importlib.import_module("device_agents.sensors." + module), cls)
    paths = paths or {}
    if name == "linux_thermal":
        kwargs = {k: paths[k] for k in ("thermal_root", "cpu_root") if k in paths}
        return ctor(**kwargs)
    if root_key and root_key in paths:
        return ctor(**{_ROOT_KW[root_key]: paths[root_key]})
    return ctor()


def discover(names: Optional[List[str]] = None, paths: Optional[Dict[str, str]] = None
             ) -> Tuple[List[Sensor], Dict[str, str]]:
    """(available sensors, {source: why unavailable}) over ``names`` (default: every source)."""
    found: List[Sensor] = []
    missing: Dict[str, str] = {}
    for name in names or source_names():
        if name not in _SOURCES:
            missing[name] = "unknown sensor source (known: %s)" % ", ".join(source_names())
            continue
        try:
            sensor = make(name, paths)
            ok, why = sensor.available()
        except Exception as exc:  # a broken driver must not break the job
            ok, why = False, "%s: %s" % (type(exc).__name__, exc)
        if ok:
            found.append(sensor)
        else:
            missing[name] = why
    return found, missing


def availability(paths: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    found, missing = discover(paths=paths)
    out: Dict[str, Any] = {s.name: dict(s.describe(), available=True) for s in found}
    out.update({n: {"available": False, "reason": r} for n, r in missing.items()})
    return out


__all__ = ["Sample", "Sensor", "discover", "availability", "make", "source_names", "POWER_PREFERENCE",
           "THERMAL_SOURCES"]
