"""Energy integration: hand-computed cases, then the real sampler thread against synthetic sensors
whose true energy is known analytically (step, ramp, noise, counter wrap), within 1%."""

from __future__ import annotations

import math
import random
import time
from typing import Callable

import pytest

from device_agents.sensors.base import Sample, Sensor
from device_agents.sensors.energy import (clock_drop_evidence, counter_energy_mj, integrate_power_mj, per_inference,
                                          unwrap_counter, window_energy)
from device_agents.sensors.sampler import Sampler


def test_trapezoid_by_hand() -> None:
    pts = [(0.0, 1000.0), (1.0, 3000.0), (2.0, 3000.0)]
    assert integrate_power_mj(pts, 0.0, 2.0) == pytest.approx(2000.0 + 3000.0)  # (1000+3000)/2*1 + 3000*1
    assert integrate_power_mj(pts, 0.5, 1.5) == pytest.approx((2000 + 3000) / 2 * 0.5 + 3000 * 0.5)
    assert integrate_power_mj(pts, -1.0, 0.0) == pytest.approx(1000.0)  # held before the first sample
    assert integrate_power_mj([], 0, 1) is None


def test_counter_wrap_by_hand() -> None:
    assert unwrap_counter([90, 95, 3, 8], wrap=100) == [90, 95, 103, 108]
    with pytest.raises(ValueError):
        unwrap_counter([5, 1], wrap=None)
    pts = [(0.0, 90_000.0), (1.0, 95_000.0), (2.0, 3_000.0)]
    assert counter_energy_mj(pts, 0.0, 2.0, wrap_uj=100_000.0) == pytest.approx(13.0)  # 13000 µJ


def test_per_inference_figures() -> None:
    out = per_inference(energy_mj=5000.0, idle_power_mw=1000.0, window_s=2.0, runs=100, flops_per_inference=2e9)
    assert out["avg_power_mw"] == 2500.0 and out["energy_per_inference_mj"] == 50.0
    assert out["energy_per_inference_idle_subtracted_mj"] == pytest.approx((5000 - 2000) / 100)
    assert out["inferences_per_j"] == pytest.approx(20.0)
    assert out["gops_per_w"] == pytest.approx((2e9 * 100 / 2.0 / 1e9) / 2.5)  # 100 GOPS / 2.5 W = 40


def test_clock_drop_is_evidence() -> None:
    steady = {"cpu0": [(i, 1500.0) for i in range(50)]}
    drop = {"cpu0": [(i, 1500.0 if i < 25 else 1000.0) for i in range(50)]}
    assert clock_drop_evidence(steady) == []
    assert "1500 to 1000" in clock_drop_evidence(drop)[0]


class Synthetic(Sensor):
    """A sensor whose power (mW) is a known function of time since start; or a wrapping µJ counter."""

    max_rate_hz = 1000.0

    def __init__(self, power: Callable[[float], float], kind: str = "power", wrap_uj: float = None,
                 noise_mw: float = 0.0) -> None:
        self.name = "synthetic"
        self.kind = kind
        self.wrap_uj = wrap_uj
        self.power = power
        self.noise_mw = noise_mw
        self.t0 = time.perf_counter()
        self.rng = random.Random(0)

    def available(self):
        return True, ""

    def read(self, t_s: float) -> Sample:
        t = t_s - self.t0
        if self.kind == "energy":
            # cumulative energy of a constant 2 W draw, in µJ, wrapping
            return Sample(t_s=t_s, energy_uj=(2000.0 * t * 1000.0) % self.wrap_uj)
        return Sample(t_s=t_s, total_power_mw=self.power(t) + self.rng.gauss(0, self.noise_mw))


def run_window(sensor: Synthetic, seconds: float, rate: float = 200.0):
    sampler = Sampler([sensor], rate)
    sampler.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    time.sleep(seconds)
    t1 = time.perf_counter()
    time.sleep(0.05)
    sampler.stop()
    energy, inside, _ = window_energy(sampler.series("synthetic"), sensor.kind, t0, t1, sensor.wrap_uj)
    return energy, inside, t0 - sensor.t0, t1 - sensor.t0


def test_step() -> None:
    s = Synthetic(lambda t: 1000.0 if t < 0.6 else 3000.0)
    energy, inside, a, b = run_window(s, 1.0)
    true = 1000.0 * (0.6 - a) + 3000.0 * (b - 0.6)
    assert inside >= 100 and energy == pytest.approx(true, rel=0.01)


def test_ramp() -> None:
    s = Synthetic(lambda t: 500.0 + 2000.0 * t)
    energy, _, a, b = run_window(s, 1.0)
    true = 500.0 * (b - a) + 1000.0 * (b * b - a * a)
    assert energy == pytest.approx(true, rel=0.01)


def test_noise() -> None:
    s = Synthetic(lambda t: 2000.0, noise_mw=200.0)
    energy, _, a, b = run_window(s, 1.0)
    assert energy == pytest.approx(2000.0 * (b - a), rel=0.01)


def test_counter_wrap_through_sampler() -> None:
    # 2 W = 2e6 µJ/s; a 0.5e6 µJ range wraps ~4 times a second
    s = Synthetic(lambda t: 0.0, kind="energy", wrap_uj=500_000.0)
    energy, _, a, b = run_window(s, 1.0, rate=100.0)
    assert energy == pytest.approx(2000.0 * (b - a), rel=0.01)
