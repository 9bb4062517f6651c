"""A sensor whose true energy is known analytically, for checking the sampler and the energy
integration end to end (tests, ``make perf``): power as a function of time since creation (mW), or a
cumulative µJ counter of a constant 2 W draw that wraps at ``wrap_uj``. Never discovered as a real
source."""

from __future__ import annotations

import random
import time
from typing import Any, Callable, Optional, Tuple

from .base import Sample, Sensor


class KnownSensor(Sensor):
    name = "known"
    max_rate_hz = 1000.0
    boundary = "synthetic"

    def __init__(self, power_mw: Optional[Callable[[float], float]] = None, kind: str = "power",
                 wrap_uj: Optional[float] = None, noise_mw: float = 0.0, counter_mw: float = 2000.0) -> None:
        self.kind = kind
        self.power_mw = power_mw or (lambda t: 0.0)
        self.wrap_uj = wrap_uj
        self.noise_mw = noise_mw
        self.counter_mw = counter_mw
        self.t0 = time.perf_counter()
        self.rng = random.Random(0)

    def available(self) -> Tuple[bool, str]:
        return True, ""

    def read(self, t_s: float) -> Sample:
        t = t_s - self.t0
        if self.kind == "energy":
            value = self.counter_mw * t * 1000.0
            return Sample(t_s=t_s, energy_uj=value % self.wrap_uj if self.wrap_uj else value)
        return Sample(t_s=t_s, total_power_mw=self.power_mw(t) + self.rng.gauss(0, self.noise_mw))


def measure_window(sensor: KnownSensor, seconds: float, rate_hz: float) -> Tuple[Optional[float], int, float, float]:
    """(integrated mJ, samples inside, window start and end in seconds since the sensor's creation)."""
    from .energy import window_energy
    from .sampler import Sampler

    sampler = Sampler([sensor], rate_hz)
    sampler.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    time.sleep(seconds)
    t1 = time.perf_counter()
    time.sleep(0.05)
    sampler.stop()
    energy, inside, _ = window_energy(sampler.series(sensor.name), sensor.kind, t0, t1, sensor.wrap_uj)
    return energy, inside, t0 - sensor.t0, t1 - sensor.t0


def standard_cases() -> Any:
    """(label, sensor, true energy in mJ as a function of the window edges) for step, ramp, noise, wrap."""
    return [
        ("step 1 W -> 3 W at 0.6 s", KnownSensor(lambda t: 1000.0 if t < 0.6 else 3000.0),
         lambda a, b: 1000.0 * (0.6 - a) + 3000.0 * (b - 0.6)),
        ("ramp 0.5 W + 2 W/s", KnownSensor(lambda t: 500.0 + 2000.0 * t),
         lambda a, b: 500.0 * (b - a) + 1000.0 * (b * b - a * a)),
        ("2 W with 10% noise", KnownSensor(lambda t: 2000.0, noise_mw=200.0), lambda a, b: 2000.0 * (b - a)),
        ("2 W counter wrapping 4x/s", KnownSensor(kind="energy", wrap_uj=500000.0), lambda a, b: 2000.0 * (b - a)),
    ]
