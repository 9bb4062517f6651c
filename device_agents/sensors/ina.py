"""INA3221 on Jetson (both driver layouts) and external INA2xx meters on I²C, all through sysfs.

- JetPack ≤ 4, ``ina3221x`` IIO driver: ``/sys/bus/i2c/drivers/ina3221x/*/iio:device*/``
  ``rail_name_<k>``, ``in_power<k>_input`` (mW), k = 0..2.
- JetPack 5+, ``ina3221`` hwmon driver: ``/sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/``
  ``in<k>_label``, ``in<k>_input`` (mV), ``curr<k>_input`` (mA), k = 1..3; P = V × I. Labels ``NC``
  and channel 7 (sum of shunts) are skipped.
- External INA219/INA226/INA260 (``ina2xx`` hwmon driver): ``power1_input`` in µW.
"""

from __future__ import annotations

import glob
import os
from typing import Dict, List, Tuple

from .base import OpenFiles, Sample, Sensor
from .jetson_rails import total_power


class JetsonIna3221Sensor(Sensor):
    name = "jetson_ina3221"
    kind = "power"
    boundary = "module (largest-scope rails)"
    max_rate_hz = 100.0

    def __init__(self, root: str = "/sys/bus/i2c/drivers") -> None:
        self.root = root
        self.files = OpenFiles()
        self.rails: Dict[str, Tuple[str, ...]] = {}  # name -> (layout, path(s))

    def _discover(self) -> None:
        self.rails = {}
        for dev in sorted(glob.glob(os.path.join(self.root, "ina3221x", "*", "iio:device*"))):
            for k in range(3):
                name = self.files.read(os.path.join(dev, "rail_name_%d" % k))
                power = os.path.join(dev, "in_power%d_input" % k)
                if name and os.path.exists(power):
                    self.rails[name] = ("iio", power)
        for hw in sorted(glob.glob(os.path.join(self.root, "ina3221", "*", "hwmon", "hwmon*"))):
            for k in range(1, 8):
                label = self.files.read(os.path.join(hw, "in%d_label" % k))
                if not label or label.upper() == "NC" or k == 7 or label.lower().startswith("sum of"):
                    continue
                volt, curr = os.path.join(hw, "in%d_input" % k), os.path.join(hw, "curr%d_input" % k)
                if os.path.exists(volt) and os.path.exists(curr):
                    self.rails[label] = ("hwmon", volt, curr)

    def available(self) -> Tuple[bool, str]:
        self._discover()
        if not self.rails:
            return False, ("no INA3221 rails under %s/ina3221x (JetPack <=4) or %s/ina3221 (JetPack 5+)"
                           % (self.root, self.root))
        return True, ""

    def open(self) -> None:
        if not self.rails:
            self._discover()

    def read(self, t_s: float) -> Sample:
        rails: Dict[str, float] = {}
        for name, spec in self.rails.items():
            if spec[0] == "iio":
                mw = self.files.read_number(spec[1])
            else:
                mv, ma = self.files.read_number(spec[1]), self.files.read_number(spec[2])
                mw = mv * ma / 1000.0 if mv is not None and ma is not None else None
            if mw is not None:
                rails[name] = mw
        total, rule = total_power(rails)
        return Sample(t_s=t_s, rails_mw=rails, total_power_mw=total, extra={"total_rule": rule})

    def close(self) -> None:
        self.files.close()


class Ina2xxSensor(Sensor):
    """An external INA219/INA226/INA260 on I²C placed in the device's supply (the ``ina2xx`` hwmon driver)."""

    name = "ina2xx"
    kind = "power"
    boundary = "external shunt meter in the supply line"
    max_rate_hz = 100.0

    def __init__(self, root: str = "/sys/class/hwmon") -> None:
        self.root = root
        self.files = OpenFiles()
        self.meters: List[str] = []

    def available(self) -> Tuple[bool, str]:
        self.meters = [h for h in sorted(glob.glob(os.path.join(self.root, "hwmon*")))
                       if (self.files.read(os.path.join(h, "name")) or "").startswith(("ina2", "ina260"))
                       and os.path.exists(os.path.join(h, "power1_input"))]
        if not self.meters:
            return False, "no INA2xx meter (hwmon name ina2xx/ina219/ina226/ina260 with power1_input) under %s" % self.root
        return True, ""

    def read(self, t_s: float) -> Sample:
        rails = {}
        for h in self.meters:
            uw = self.files.read_number(os.path.join(h, "power1_input"))
            if uw is not None:
                rails[os.path.basename(h)] = uw / 1000.0
        return Sample(t_s=t_s, rails_mw=rails, total_power_mw=sum(rails.values()) if rails else None,
                      extra={"total_rule": "sum of external meters"})

    def close(self) -> None:
        self.files.close()
