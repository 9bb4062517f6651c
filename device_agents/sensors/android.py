"""Android battery fuel gauge (``/sys/class/power_supply/battery``) and ``dumpsys meminfo``.

The kernel ABI says ``current_now`` is in µA, positive while charging, and ``voltage_now`` in µV —
but vendors differ (inverted sign; mA instead of µA). The sign is resolved from ``status``
(Charging/Discharging) where the sample says which way current flows; the unit from a plausibility
range. On external power (Charging, Not charging, Full) the battery does not show the device's
drain, so whole-device power is None with that reason.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from .base import OpenFiles, Sample, Sensor, content_lines

#: A phone draws between ~5 mA and ~10 A: a |current| reading below this many units is taken as mA.
MA_THRESHOLD = 20000.0
ON_EXTERNAL_POWER = "on external power: battery current does not show the device's drain"


def drain_sign(status: Optional[str], current: float) -> Tuple[int, str]:
    """(+1 or −1 to turn the reading into discharge-positive current, how it was decided)."""
    st = (status or "").lower()
    if st == "discharging":
        if current > 0:
            return 1, "status Discharging with positive current: vendor reports discharge as positive (inverted ABI)"
        return -1, "status Discharging with negative current: kernel ABI sign"
    if st == "charging":
        if current < 0:
            return 1, "status Charging with negative current: vendor reports charge as negative (inverted ABI)"
        return -1, "status Charging with positive current: kernel ABI sign"
    return -1, "sign not observable from status %r: kernel ABI assumed" % status


def battery_sample(fields: Dict[str, str], t_s: Optional[float] = None) -> Sample:
    """A sample from power_supply fields (keys with or without the POWER_SUPPLY_ prefix)."""
    f = {k.replace("POWER_SUPPLY_", "").upper(): v.strip() for k, v in fields.items()}
    status = f.get("STATUS")
    extra: Dict[str, Any] = {"status": status}
    temps: Dict[str, float] = {}
    if f.get("TEMP"):
        temps["battery"] = float(f["TEMP"]) / 10.0  # tenths of °C
    try:
        current_raw = float(f["CURRENT_NOW"])
        voltage_raw = float(f["VOLTAGE_NOW"])
    except (KeyError, ValueError):
        return Sample(t_s=t_s, temps_c=temps, extra=dict(extra, total_rule="no CURRENT_NOW/VOLTAGE_NOW"))
    volts = voltage_raw / 1e6 if voltage_raw > 1000 else voltage_raw / 1e3 if voltage_raw > 10 else voltage_raw
    unit = "uA"
    amps = current_raw / 1e6
    if current_raw != 0 and abs(current_raw) < MA_THRESHOLD and (status or "").lower() == "discharging":
        unit, amps = "mA", current_raw / 1e3
    sign, sign_rule = drain_sign(status, current_raw)
    drain_mw = sign * amps * volts * 1000.0
    extra.update({"current_unit_assumed": unit, "sign_rule": sign_rule, "voltage_v": volts,
                  "battery_drain_mw": drain_mw, "capacity_pct": float(f["CAPACITY"]) if f.get("CAPACITY") else None})
    total = None
    st = (status or "").lower()
    if st == "discharging":
        total = drain_mw
        extra["total_rule"] = "battery discharge power (V x I)"
    elif st in ("", "unknown"):
        total = drain_mw  # the sign is settled by the idle→load step (AndroidBatterySensor.calibrate)
        extra["total_rule"] = "battery power (V x I), sign from the idle→load step"
        extra["sign_unverified"] = True
    else:
        extra["total_rule"] = ON_EXTERNAL_POWER
    return Sample(t_s=t_s, rails_mw={"battery": drain_mw}, total_power_mw=total, temps_c=temps, extra=extra)


def parse_uevent(text: str) -> List[Sample]:
    fields = {}
    for line in content_lines(text):
        if "=" in line:
            k, _, v = line.partition("=")
            fields[k.strip()] = v
    return [battery_sample(fields)]


_MEMROW = re.compile(r"^\s*([A-Za-z.][A-Za-z .]*?)\s+(\d+)((?:\s+\d+)*)\s*$")


def parse_meminfo(text: str) -> Dict[str, Any]:
    """``dumpsys meminfo <pkg>``: PSS per category (KB→bytes) and TOTAL PSS when the output has it."""
    rows: Dict[str, int] = {}
    total = None
    for line in content_lines(text):
        m = _MEMROW.match(line)
        if not m:
            continue
        name, pss = m.group(1).strip(), int(m.group(2))
        if name.upper() == "TOTAL" or name.upper() == "TOTAL PSS":
            total = pss * 1024
        else:
            rows[name] = pss * 1024
    return {"pss_bytes_by_category": rows, "total_pss_bytes": total,
            "total_pss_reason": None if total is not None else "no TOTAL line in this output"}


#: A phone under load draws between these (mW); outside, the unit assumption is wrong.
PLAUSIBLE_MW = (50.0, 20000.0)


def calibrate_step(series: List[Sample], idle: Tuple[float, float], window: Tuple[float, float]) -> Dict[str, Any]:
    """Settle the sign from the idle→load step (the load must draw more than idle) and check the range.

    Samples whose sign the status could not tell are flipped in place when the step says so."""
    def mean(t0: float, t1: float) -> Optional[float]:
        vals = [s.total_power_mw for s in series if s.t_s is not None and t0 <= s.t_s <= t1
                and s.total_power_mw is not None]
        return sum(vals) / len(vals) if vals else None

    idle_mw, load_mw = mean(*idle), mean(*window)
    out: Dict[str, Any] = {"method": "idle→load step", "idle_mw": idle_mw, "load_mw": load_mw, "flipped": False}
    if idle_mw is None or load_mw is None:
        out["evidence"] = "no battery power in the idle or load window"
        return out
    unverified = any(s.extra.get("sign_unverified") for s in series)
    if unverified and load_mw < idle_mw:
        for s in series:
            if s.extra.get("sign_unverified") and s.total_power_mw is not None:
                s.total_power_mw = -s.total_power_mw
                s.rails_mw = {k: -v for k, v in s.rails_mw.items()}
        out.update(flipped=True, idle_mw=-idle_mw, load_mw=-load_mw)
    out["evidence"] = "load %.0f mW vs idle %.0f mW" % (out["load_mw"], out["idle_mw"])
    out["plausible"] = PLAUSIBLE_MW[0] <= abs(out["load_mw"]) <= PLAUSIBLE_MW[1]
    if not out["plausible"]:
        out["warning"] = ("battery power %.0f mW under load is outside %.0f–%.0f mW: the vendor's unit differs "
                          "from the kernel ABI" % (out["load_mw"], PLAUSIBLE_MW[0], PLAUSIBLE_MW[1]))
    return out


class AndroidBatterySensor(Sensor):
    name = "android_battery"
    kind = "power"
    boundary = "battery"
    max_rate_hz = 10.0

    def __init__(self, root: str = "/sys/class/power_supply/battery") -> None:
        self.root = root
        self.files = OpenFiles()

    def available(self) -> Tuple[bool, str]:
        for leaf in ("current_now", "voltage_now"):
            if self.files.read(self.root + "/" + leaf) is None:
                return False, "%s/%s absent or unreadable" % (self.root, leaf)
        return True, ""

    def read(self, t_s: float) -> Sample:
        fields = {k: self.files.read(self.root + "/" + k.lower()) or "" for k in
                  ("CURRENT_NOW", "VOLTAGE_NOW", "STATUS", "TEMP", "CAPACITY")}
        return battery_sample({k: v for k, v in fields.items() if v}, t_s)

    def calibrate(self, series: List[Sample], idle: Tuple[float, float], window: Tuple[float, float]
                  ) -> Optional[Dict[str, Any]]:
        return calibrate_step(series, idle, window)

    def close(self) -> None:
        self.files.close()
