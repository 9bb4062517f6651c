"""Energy, thermal and throttle fields in a real agent job: on this machine (no sensors: null with
reasons), and with sysfs trees laid out like a Jetson's (INA3221 hwmon + thermal zones + cpufreq)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import agent_job, quick_measure
from tests.device_agents.sensors.test_sysfs_readers import put


def test_no_sensor_means_null_with_reason(tmp_path: Path, tiny_onnx: Path) -> None:
    none = str(tmp_path / "absent")
    r = agent_job(tmp_path, {"job_id": "n", "model": {"path": str(tiny_onnx)}, "runtime": "onnxruntime",
                             "measure": quick_measure(sensor_paths={"powercap_root": none, "thermal_root": none,
                                                                    "cpu_root": none, "i2c_root": none,
                                                                    "hwmon_root": none, "battery_root": none},
                                                      sensors=["rapl", "jetson_ina3221", "linux_thermal"])})
    assert r["status"] == "ok"
    p = r["power"]
    assert p["energy_per_inference_mj"] is None and p["avg_power_mw"] is None and p["is_estimate"] is False
    assert p["reason"] == "no power or energy sensor on this device"
    assert "absent" in p["sensors_tried"]["rapl"]
    assert r["thermal"]["temps_c"] is None and r["throttle"]["throttled"] is None and r["throttle"]["reason"]


def test_jetson_like_tree_gives_energy_per_inference(tmp_path: Path, tiny_onnx: Path) -> None:
    i2c, th, cpu = tmp_path / "i2c", tmp_path / "thermal", tmp_path / "cpu"
    hw = "ina3221/1-0040/hwmon/hwmon3/"
    put(i2c, hw + "in1_label", "VDD_IN")
    put(i2c, hw + "in1_input", "5000")
    put(i2c, hw + "curr1_input", "1200")  # 6000 mW, constant
    put(th, "thermal_zone0/type", "CPU-therm")
    put(th, "thermal_zone0/temp", "91000")  # over an 85 °C limit
    put(cpu, "cpu0/cpufreq/scaling_cur_freq", "1479000")
    r = agent_job(tmp_path, {
        "job_id": "e", "model": {"path": str(tiny_onnx), "flops": 4096.0}, "runtime": "onnxruntime",
        "measure": quick_measure(sample_rate_hz=100, idle_s=0.2, energy_min_samples=50,
                                 sensors=["jetson_ina3221", "linux_thermal"],
                                 sensor_paths={"i2c_root": str(i2c), "thermal_root": str(th), "cpu_root": str(cpu)})})
    assert r["status"] == "ok", r
    p = r["power"]
    assert p["sensor"] == "jetson_ina3221" and p["boundary"].startswith("module")
    assert p["method"].startswith("trapezoid") and p["is_estimate"] is False
    assert p["avg_power_mw"] == pytest.approx(6000.0) and p["idle_power_mw"] == pytest.approx(6000.0)
    runs, window = r["timing"]["runs"], r["timing"]["window_s"]
    assert window >= 0.5  # stretched for >= 50 samples at 100 Hz
    assert p["energy_per_inference_mj"] == pytest.approx(6000.0 * window / runs, rel=1e-3)
    assert p["energy_per_inference_idle_subtracted_mj"] == pytest.approx(0.0, abs=1e-6)
    assert p["sample_count"] >= 45 and 50 <= p["sample_rate_hz"] <= 110
    assert p["gops_per_w"] == pytest.approx(4096.0 * runs / window / 1e9 / 6.0, rel=1e-3)
    assert r["thermal"]["temps_c"]["linux_thermal:CPU-therm"]["max"] == 91.0
    assert r["throttle"]["throttled"] is True
    assert any("91.0" in e for e in r["throttle"]["evidence"])
