"""The sensor interface and the per-sample record shared by live readers and log replay.

A sensor is one source of power, energy, temperature or clock readings on the device. Live
sensors keep their files open and re-read them (no process per sample where avoidable).
Units are in every key: ``_mw`` milliwatts, ``_mj`` millijoules, ``_uj`` microjoules, ``_c`` °C,
``_mhz`` MHz, ``t_s`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple


@dataclass
class Sample:
    """One reading. ``t_s`` is the agent's monotonic clock (live) or the log's clock (replay).

    ``total_power_mw`` is the whole-device (or the sensor's widest) power per the board's rule, or
    None when the source cannot tell; ``energy_uj`` is a cumulative counter where the source has one.
    """

    t_s: Optional[float]
    rails_mw: Dict[str, float] = field(default_factory=dict)
    total_power_mw: Optional[float] = None
    temps_c: Dict[str, float] = field(default_factory=dict)
    throttled: Optional[bool] = None
    energy_uj: Optional[float] = None
    clocks_mhz: Dict[str, float] = field(default_factory=dict)
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"t_s": self.t_s, "rails_mw": self.rails_mw, "total_power_mw": self.total_power_mw,
                               "temps_c": self.temps_c, "throttled": self.throttled}
        if self.energy_uj is not None:
            out["energy_uj"] = self.energy_uj
        if self.clocks_mhz:
            out["clocks_mhz"] = self.clocks_mhz
        out.update(self.extra)
        return out


class Sensor:
    """Base class of live sensors.

    ``kind``: ``power`` (instantaneous power samples), ``energy`` (cumulative counter),
    ``thermal`` (temperatures/clocks/throttle only). ``boundary`` says what the figure covers
    (module, rail, battery, package, wall). ``max_rate_hz`` is the practical sampling limit.
    """

    name = ""
    kind = "power"
    boundary = ""
    max_rate_hz = 10.0
    #: For energy counters: the counter's range in µJ (wraps to 0 past it), if known.
    wrap_uj: Optional[float] = None

    def available(self) -> Tuple[bool, str]:
        """(True, "") or (False, why not: the path or tool that is absent, the permission missing)."""
        raise NotImplementedError

    def open(self) -> None:
        """Open file handles once, before sampling."""

    def read(self, t_s: float) -> Sample:
        raise NotImplementedError

    def close(self) -> None:
        """Release handles and stop helper processes."""

    def describe(self) -> Dict[str, Any]:
        return {"sensor": self.name, "kind": self.kind, "boundary": self.boundary, "max_rate_hz": self.max_rate_hz}

    def calibrate(self, series: List[Sample], idle: Tuple[float, float], window: Tuple[float, float]
                  ) -> Optional[Dict[str, Any]]:
        """Sources whose sign or unit is uncertain fix their samples in place from the idle→load step and
        say how; the default has nothing to calibrate."""
        return None


class OpenFiles:
    """Sysfs files kept open and re-read with seek(0) (cheap, no process per sample)."""

    def __init__(self) -> None:
        self._handles: Dict[str, Any] = {}

    def read(self, path: str) -> Optional[str]:
        fh = self._handles.get(path)
        try:
            if fh is None:
                fh = open(path, "rb", buffering=0)
                self._handles[path] = fh
            fh.seek(0)
            return fh.read(256).decode("ascii", "replace").strip()
        except OSError:
            return None

    def read_number(self, path: str) -> Optional[float]:
        text = self.read(path)
        try:
            return float(text) if text is not None else None
        except ValueError:
            return None

    def close(self) -> None:
        for fh in self._handles.values():
            try:
                fh.close()
            except OSError:
                pass
        self._handles.clear()


def content_lines(text: str) -> List[str]:
    """Lines of a captured log minus blank lines and ``#`` comments (fixtures carry a source line)."""
    return [ln.rstrip("\n") for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def stamp_relative(samples: List[Sample]) -> None:
    """Set ``t_s`` to seconds since the first sample's ``wall_time`` (ISO, device local time)."""
    import datetime

    first = None
    for s in samples:
        wall = s.extra.get("wall_time")
        if not wall:
            continue
        dt = datetime.datetime.fromisoformat(wall)
        first = first or dt
        s.t_s = (dt - first).total_seconds()
