"""Energy integration: hand-computed cases, then the real sampler thread against synthetic sensors
whose true energy is known analytically (step, ramp, noise, counter wrap), within 1%."""

from __future__ import annotations

import pytest

from device_agents.sensors.energy import (clock_drop_evidence, counter_energy_mj, integrate_power_mj, per_inference,
                                          unwrap_counter)
from device_agents.sensors.synthetic import measure_window, standard_cases


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


@pytest.mark.parametrize("case", range(4), ids=["step", "ramp", "noise", "counter-wrap"])
def test_sampler_and_integration_within_one_percent(case: int) -> None:
    """The real sampler thread against sensors whose true energy is known (step, ramp, noise, wrap)."""
    label, sensor, truth = standard_cases()[case]
    energy, inside, a, b = measure_window(sensor, 1.0, 200.0 if sensor.kind == "power" else 100.0)
    assert inside >= 90, label
    assert energy == pytest.approx(truth(a, b), rel=0.01), label
