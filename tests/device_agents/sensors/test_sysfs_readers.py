"""Live readers on directory trees laid out as the real drivers lay them out (paths from the drivers'
documentation and TELEMETRY.md). This machine has none of these sensors, so the trees stand in for /sys."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from device_agents.sensors import discover
from device_agents.sensors.android import AndroidBatterySensor
from device_agents.sensors.ina import Ina2xxSensor, JetsonIna3221Sensor
from device_agents.sensors.rapl import RaplSensor
from device_agents.sensors.thermal import ThermalSensor


def put(root: Path, rel: str, value: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value + "\n")
    return path


def test_ina3221_iio_layout_jetpack4(tmp_path: Path) -> None:
    dev = "ina3221x/6-0040/iio:device0/"
    for k, (name, mw) in enumerate([("POM_5V_IN", 2793), ("POM_5V_GPU", 76), ("POM_5V_CPU", 1222)]):
        put(tmp_path, dev + "rail_name_%d" % k, name)
        put(tmp_path, dev + "in_power%d_input" % k, str(mw))
    s = JetsonIna3221Sensor(str(tmp_path))
    assert s.available() == (True, "")
    sample = s.read(1.0)
    assert sample.rails_mw == {"POM_5V_IN": 2793.0, "POM_5V_GPU": 76.0, "POM_5V_CPU": 1222.0}
    assert sample.total_power_mw == 2793.0
    put(tmp_path, dev + "in_power0_input", "3000")  # the open handle is re-read, not cached
    assert s.read(2.0).total_power_mw == 3000.0
    s.close()


def test_ina3221_hwmon_layout_jetpack5(tmp_path: Path) -> None:
    hw = "ina3221/1-0040/hwmon/hwmon3/"
    put(tmp_path, hw + "in1_label", "VDD_IN")
    put(tmp_path, hw + "in1_input", "5000")      # mV
    put(tmp_path, hw + "curr1_input", "1200")    # mA  -> 6000 mW
    put(tmp_path, hw + "in2_label", "VDD_CPU_GPU_CV")
    put(tmp_path, hw + "in2_input", "5000")
    put(tmp_path, hw + "curr2_input", "300")     # 1500 mW
    put(tmp_path, hw + "in3_label", "NC")
    put(tmp_path, hw + "in3_input", "0")
    put(tmp_path, hw + "curr3_input", "0")
    put(tmp_path, hw + "in7_label", "sum of shunt voltages")
    put(tmp_path, hw + "in7_input", "10")
    put(tmp_path, hw + "curr7_input", "1500")
    s = JetsonIna3221Sensor(str(tmp_path))
    assert s.available()[0]
    sample = s.read(0.0)
    assert sample.rails_mw == {"VDD_IN": 6000.0, "VDD_CPU_GPU_CV": 1500.0}
    assert sample.total_power_mw == 6000.0


def test_rapl_tree_and_energy_counter(tmp_path: Path) -> None:
    put(tmp_path, "intel-rapl:0/name", "package-0")
    put(tmp_path, "intel-rapl:0/energy_uj", "1000000")
    put(tmp_path, "intel-rapl:0/max_energy_range_uj", "262143328850")
    put(tmp_path, "intel-rapl:0:0/name", "core")
    put(tmp_path, "intel-rapl:0:0/energy_uj", "400000")
    s = RaplSensor(str(tmp_path))
    assert s.available() == (True, "") and s.wrap_uj == 262143328850
    sample = s.read(0.0)
    assert sample.energy_uj == 1000000.0  # packages only; the core sub-domain is a rail
    assert sample.extra["domain_energy_uj"]["core(intel-rapl:0:0)"] == 400000.0


def test_rapl_absent_names_the_path(tmp_path: Path) -> None:
    ok, why = RaplSensor(str(tmp_path / "powercap")).available()
    assert not ok and why == "no sensor: %s absent" % (tmp_path / "powercap")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop to nobody")
def test_rapl_root_only_counter_is_unavailable_for_a_normal_user(tmp_path: Path) -> None:
    """Modes as in the captured `ls -l` (energy_uj 0400 root) and a real non-root process reading them."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="edgebench-rapl-"))  # pytest's tmp dirs are 0700: nobody can't enter
    base.chmod(0o755)
    tree = base / "powercap"
    put(tree, "intel-rapl:0/name", "package-0").chmod(0o444)
    put(tree, "intel-rapl:0/energy_uj", "1").chmod(0o400)
    put(tree, "intel-rapl:0/max_energy_range_uj", "2").chmod(0o400)
    for d in (tree, tree / "intel-rapl:0"):
        d.chmod(0o755)
    repo = Path(__file__).resolve().parents[3]
    code = ("import sys; sys.path.insert(0, %r); from device_agents.sensors.rapl import RaplSensor; "
            "print(RaplSensor(%r).available())" % (str(repo), str(tree)))
    proc = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c", code],
                          capture_output=True, text=True)
    shutil.rmtree(base)
    if proc.returncode != 0 and "Permission denied" in proc.stderr:
        pytest.skip("nobody cannot run this interpreter here: %s" % proc.stderr.strip()[-200:])
    assert proc.returncode == 0, proc.stderr
    assert "False" in proc.stdout and "root-only since Linux 5.10" in proc.stdout and "0o400" in proc.stdout


def test_thermal_zones_and_cpufreq(tmp_path: Path) -> None:
    th, cpu = tmp_path / "thermal", tmp_path / "cpu"
    put(th, "thermal_zone0/type", "CPU-therm")
    put(th, "thermal_zone0/temp", "45500")
    put(th, "thermal_zone1/type", "GPU-therm")
    put(th, "thermal_zone1/temp", "-256000")  # offline
    put(th, "thermal_zone10/type", "CPU-therm")  # duplicate type, later index
    put(th, "thermal_zone10/temp", "47000")
    put(cpu, "cpu0/cpufreq/scaling_cur_freq", "1479000")
    put(cpu, "cpu1/cpufreq/scaling_cur_freq", "102000")
    s = ThermalSensor(str(th), str(cpu))
    assert s.available()[0]
    sample = s.read(0.0)
    assert sample.temps_c == {"CPU-therm": 45.5, "CPU-therm.10": 47.0}
    assert sample.extra["offline_zones"] == ["GPU-therm"]
    assert sample.clocks_mhz == {"cpu0": 1479.0, "cpu1": 102.0}


def test_android_battery_sysfs(tmp_path: Path) -> None:
    for leaf, value in (("current_now", "-500000"), ("voltage_now", "3900000"), ("status", "Discharging"),
                        ("temp", "300"), ("capacity", "80")):
        put(tmp_path, leaf, value)
    s = AndroidBatterySensor(str(tmp_path))
    assert s.available()[0]
    sample = s.read(3.0)
    assert sample.total_power_mw == pytest.approx(1950.0) and sample.temps_c == {"battery": 30.0}


def test_external_ina219_hwmon(tmp_path: Path) -> None:
    put(tmp_path, "hwmon0/name", "coretemp")
    put(tmp_path, "hwmon1/name", "ina219")
    put(tmp_path, "hwmon1/power1_input", "2500000")  # µW
    s = Ina2xxSensor(str(tmp_path))
    assert s.available()[0] and s.read(0.0).total_power_mw == 2500.0


def test_discover_reports_every_missing_source(tmp_path: Path) -> None:
    found, missing = discover(paths={"powercap_root": str(tmp_path / "none"), "thermal_root": str(tmp_path / "none"),
                                     "cpu_root": str(tmp_path / "none"), "i2c_root": str(tmp_path / "none"),
                                     "hwmon_root": str(tmp_path / "none"), "battery_root": str(tmp_path / "none")})
    names = {s.name for s in found}
    assert "rapl" not in names and "rapl" in missing and "linux_thermal" in missing
    assert all(isinstance(v, str) and v for v in missing.values())
