"""Raspberry Pi firmware readings through ``vcgencmd``: the Pi 5 PMIC ADC, temperature, throttling.

``pmic_read_adc`` prints ``<RAIL>_A current(i)=<amps>A`` and ``<RAIL>_V volt(j)=<volts>V``; rails are
paired by name, never by index. EXT5V_V and BATT_V are voltage only, so the sum of the rails is the
PMIC's outputs, not the 5 V input: whole-device power stays None and ``rails_sum_mw`` carries the sum.
``get_throttled`` bits 0–3 are "now" (under-voltage, frequency capped, throttled, soft temperature
limit), bits 16–19 the same "since boot".
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any, Dict, List, Optional, Tuple

from .base import Sample, Sensor, content_lines

_ADC = re.compile(r"^\s*([A-Za-z0-9_]+)_(A|V)\s+(?:current|volt)\(\d+\)=(-?[\d.]+)(A|V)\s*$")
THROTTLE_BITS = {
    0: "under-voltage now", 1: "arm frequency capped now", 2: "throttled now", 3: "soft temperature limit now",
    16: "under-voltage has occurred", 17: "arm frequency capping has occurred", 18: "throttling has occurred",
    19: "soft temperature limit has occurred",
}
PMIC_NOT_TOTAL = "PMIC rails are the regulator outputs; the 5 V input (EXT5V) has no current reading"


def parse_pmic(text: str) -> Sample:
    amps: Dict[str, float] = {}
    volts: Dict[str, float] = {}
    for line in content_lines(text):
        m = _ADC.match(line)
        if not m:
            continue
        rail, kind, value, _ = m.groups()
        (amps if kind == "A" else volts)[rail] = float(value)
    rails = {r: amps[r] * volts[r] * 1000.0 for r in amps if r in volts}
    extra: Dict[str, Any] = {"rails_a": amps, "rails_v": volts, "voltage_only": sorted(set(volts) - set(amps)),
                             "rails_sum_mw": sum(rails.values()) if rails else None,
                             "total_rule": PMIC_NOT_TOTAL}
    return Sample(t_s=None, rails_mw=rails, total_power_mw=None, extra=extra)


def decode_throttled(value: int) -> Tuple[bool, List[str]]:
    """(throttled now, names of every set bit)."""
    flags = [name for bit, name in sorted(THROTTLE_BITS.items()) if value & (1 << bit)]
    return bool(value & 0xF), flags


def parse_vcgencmd(text: str) -> List[Sample]:
    """Answers of measure_temp / get_throttled / measure_volts / measure_clock, grouped into samples:
    a new sample starts when a reading repeats."""
    samples: List[Sample] = []
    cur: Optional[Sample] = None
    seen: set = set()

    def start() -> Sample:
        nonlocal cur, seen
        cur = Sample(t_s=None)
        samples.append(cur)
        seen = set()
        return cur

    for line in content_lines(text):
        line = line.strip()
        key = None
        m_temp = re.match(r"^temp=(-?[\d.]+)'C$", line)
        m_thr = re.match(r"^throttled=(0x[0-9a-fA-F]+)$", line)
        m_volt = re.match(r"^volt=([\d.]+)V$", line)
        m_clk = re.match(r"^frequency\((\d+)\)=(\d+)$", line)
        if m_temp:
            key = "temp"
        elif m_thr:
            key = "throttled"
        elif m_volt:
            key = "volt"
        elif m_clk:
            key = "clock%s" % m_clk.group(1)
        if key is None:
            continue
        s = cur if cur is not None and key not in seen else start()
        seen.add(key)
        if m_temp:
            s.temps_c["soc"] = float(m_temp.group(1))
        elif m_thr:
            value = int(m_thr.group(1), 16)
            s.throttled, s.extra["throttle_flags"] = decode_throttled(value)
            s.extra["throttled_raw"] = m_thr.group(1)
        elif m_volt:
            s.extra["core_volt_v"] = float(m_volt.group(1))
        elif m_clk:
            s.clocks_mhz["clock%s" % m_clk.group(1)] = int(m_clk.group(2)) / 1e6
    return samples


class _Vcgencmd:
    def __init__(self, binary: str = "vcgencmd") -> None:
        self.binary = binary

    def available(self) -> Tuple[bool, str]:
        if shutil.which(self.binary) is None:
            return False, "vcgencmd not on PATH (not a Raspberry Pi, or firmware tools not installed)"
        return True, ""

    def call(self, *args: str) -> str:
        out = subprocess.run([self.binary] + list(args), capture_output=True, text=True, timeout=2)
        return out.stdout


class RpiPmicSensor(Sensor, _Vcgencmd):
    """Pi 5 PMIC rails (one vcgencmd call per sample, ~23 ms: at most ~40 Hz)."""

    name = "rpi5_pmic"
    kind = "power"
    boundary = "PMIC regulator outputs (sum of rails; excludes 5 V input conversion and USB peripherals)"
    max_rate_hz = 20.0

    def available(self) -> Tuple[bool, str]:
        ok, why = _Vcgencmd.available(self)
        if not ok:
            return ok, why
        if "VDD_CORE_A" not in self.call("pmic_read_adc"):
            return False, "vcgencmd pmic_read_adc gives no rails (not a Raspberry Pi 5)"
        return True, ""

    def read(self, t_s: float) -> Sample:
        s = parse_pmic(self.call("pmic_read_adc"))
        s.t_s = t_s
        # Live energy uses the rails' sum, labelled by this sensor's boundary.
        s.total_power_mw = s.extra.get("rails_sum_mw")
        return s


class RpiFirmwareSensor(Sensor, _Vcgencmd):
    """SoC temperature and the throttle flags."""

    name = "rpi_firmware"
    kind = "thermal"
    boundary = "SoC"
    max_rate_hz = 10.0

    def available(self) -> Tuple[bool, str]:
        return _Vcgencmd.available(self)

    def read(self, t_s: float) -> Sample:
        samples = parse_vcgencmd(self.call("measure_temp") + self.call("get_throttled"))
        s = samples[0] if samples else Sample(t_s=t_s)
        s.t_s = t_s
        return s
