"""The sampler: reads sensors on a background thread at a fixed rate, timestamps on the agent's
monotonic clock (``time.perf_counter``, the same clock as the timing window)."""

from __future__ import annotations

import threading
import time
from typing import Dict, List, Optional, Tuple

from .base import Sample, Sensor


class Sampler:
    """Samples each sensor at ``min(rate_hz, sensor.max_rate_hz)`` until :meth:`stop`."""

    def __init__(self, sensors: List[Sensor], rate_hz: float) -> None:
        self.sensors = sensors
        self.rate_hz = float(rate_hz)
        self.samples: Dict[str, List[Sample]] = {s.name: [] for s in sensors}
        self.errors: Dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.started_s: Optional[float] = None
        self.stopped_s: Optional[float] = None

    def effective_rate_hz(self, sensor: Sensor) -> float:
        return min(self.rate_hz, sensor.max_rate_hz)

    def start(self) -> None:
        for s in self.sensors:
            s.open()
        self.started_s = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, name="edgebench-sampler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        periods = {s.name: 1.0 / self.effective_rate_hz(s) for s in self.sensors}
        due = {s.name: self.started_s or time.perf_counter() for s in self.sensors}
        while not self._stop.is_set():
            now = time.perf_counter()
            for sensor in self.sensors:
                if now >= due[sensor.name]:
                    try:
                        self.samples[sensor.name].append(sensor.read(time.perf_counter()))
                    except Exception as exc:  # keep sampling the others; report the failure
                        self.errors[sensor.name] = "%s: %s" % (type(exc).__name__, exc)
                    due[sensor.name] += periods[sensor.name]
                    if due[sensor.name] < now:  # fell behind: skip, never burst
                        due[sensor.name] = now + periods[sensor.name]
            wait = min(due.values()) - time.perf_counter()
            if wait > 0:
                self._stop.wait(wait)

    def stop(self) -> None:
        if self.stopped_s is not None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.stopped_s = time.perf_counter()
        for s in self.sensors:
            try:
                s.close()
            except Exception:
                pass

    def series(self, name: str) -> List[Sample]:
        return self.samples.get(name, [])

    def forget_before(self, t_s: float, keep_last: int = 2) -> int:
        """Drop samples older than ``t_s`` (keeping the last ``keep_last`` before it, so an interval's edge value
        can still be held): a sustained scenario aggregates each interval as it closes, so the sampler's memory
        stays bounded over hours. Returns how many were dropped."""
        dropped = 0
        for name, samples in self.samples.items():
            k = 0
            while k < len(samples) and samples[k].t_s is not None and samples[k].t_s < t_s:
                k += 1
            k = max(0, k - keep_last)
            if k:
                del samples[:k]  # list.append on the sampler thread and this del are each atomic under the GIL
                dropped += k
        return dropped


def achieved_rate_hz(samples: List[Sample], t0: float, t1: float) -> Tuple[int, Optional[float]]:
    """(samples inside [t0, t1], their mean rate in Hz)."""
    inside = [s for s in samples if s.t_s is not None and t0 <= s.t_s <= t1]
    if len(inside) < 2 or t1 <= t0:
        return len(inside), None
    return len(inside), (len(inside) - 1) / (inside[-1].t_s - inside[0].t_s) if inside[-1].t_s > inside[0].t_s else None
