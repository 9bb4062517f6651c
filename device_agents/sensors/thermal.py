"""Linux thermal zones and CPU frequencies (sysfs), and captured zone listings.

``/sys/class/thermal/thermal_zone*/{type,temp}`` (m°C; −256 °C or below = zone offline) and
``/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq`` (kHz).
"""

from __future__ import annotations

import glob
import os
import re
from typing import Dict, List, Optional, Tuple

from .base import OpenFiles, Sample, Sensor, content_lines

OFFLINE_MC = -256000


class ThermalSensor(Sensor):
    name = "linux_thermal"
    kind = "thermal"
    boundary = "thermal zones and cpufreq"
    max_rate_hz = 50.0

    def __init__(self, thermal_root: str = "/sys/class/thermal",
                 cpu_root: str = "/sys/devices/system/cpu") -> None:
        self.thermal_root = thermal_root
        self.cpu_root = cpu_root
        self.files = OpenFiles()
        self.zones: Dict[str, str] = {}
        self.cpus: Dict[str, str] = {}

    def _discover(self) -> None:
        self.zones = {}
        for zone in sorted(glob.glob(os.path.join(self.thermal_root, "thermal_zone*")), key=_index):
            ztype = self.files.read(os.path.join(zone, "type")) or os.path.basename(zone)
            name = ztype if ztype not in self.zones else "%s.%s" % (ztype, _index(zone))
            self.zones[name] = os.path.join(zone, "temp")
        self.cpus = {os.path.basename(os.path.dirname(os.path.dirname(p))): p for p in
                     sorted(glob.glob(os.path.join(self.cpu_root, "cpu[0-9]*", "cpufreq", "scaling_cur_freq")),
                            key=lambda p: _index(os.path.dirname(os.path.dirname(p))))}

    def available(self) -> Tuple[bool, str]:
        self._discover()
        if not self.zones and not self.cpus:
            return False, "no thermal zones (%s/thermal_zone*) and no cpufreq (%s/cpu*/cpufreq) on this device" % (
                self.thermal_root, self.cpu_root)
        return True, ""

    def open(self) -> None:
        if not self.zones and not self.cpus:
            self._discover()

    def read(self, t_s: float) -> Sample:
        temps: Dict[str, float] = {}
        offline: List[str] = []
        for name, path in self.zones.items():
            value = self.files.read_number(path)
            if value is None:
                continue
            if value <= OFFLINE_MC:
                offline.append(name)
            else:
                temps[name] = value / 1000.0
        clocks = {}
        for cpu, path in self.cpus.items():
            khz = self.files.read_number(path)
            if khz is not None:
                clocks[cpu] = khz / 1000.0
        extra = {"offline_zones": offline} if offline else {}
        return Sample(t_s=t_s, temps_c=temps, clocks_mhz=clocks, extra=extra)

    def close(self) -> None:
        self.files.close()


def _index(path: str) -> int:
    m = re.search(r"(\d+)$", path.rstrip("/"))
    return int(m.group(1)) if m else -1


_LISTING = re.compile(r"thermal_zone(\d+)(?:/type)?\s*:\s*(\S.*)$")
_CAT = re.compile(r"cat\s+\S*thermal_zone(\d+)/type\s*$")
_CAT_TEMP = re.compile(r"cat\s+\S*thermal_zone(\d+)/temp\s*$")


def parse_zone_listing(text: str) -> List[Sample]:
    """Zone index → type from a captured listing (``…/thermal_zoneN: TYPE`` lines, or a transcript of
    ``cat …/thermal_zoneN/type`` commands each followed by its answer); temperatures where the
    transcript also has ``…/temp`` answers (m°C)."""
    zones: Dict[int, str] = {}
    temps: Dict[str, float] = {}
    pending_type: Optional[int] = None
    pending_temp: Optional[int] = None
    for line in content_lines(text):
        stripped = line.strip()
        m = _LISTING.search(stripped)
        if m and "cat " not in stripped:
            zones[int(m.group(1))] = m.group(2).strip()
            continue
        c = _CAT.search(stripped)
        t = _CAT_TEMP.search(stripped)
        if c:
            pending_type = int(c.group(1))
        elif t:
            pending_temp = int(t.group(1))
        elif pending_type is not None:
            zones[pending_type] = stripped
            pending_type = None
        elif pending_temp is not None and re.match(r"^-?\d+$", stripped):
            temps["zone%d" % pending_temp] = int(stripped) / 1000.0
            pending_temp = None
    names = {"zone%d" % i: t for i, t in zones.items()}
    temps_named = {names.get(k, k): v for k, v in temps.items()}
    return [Sample(t_s=None, temps_c=temps_named, extra={"zones": {str(i): t for i, t in sorted(zones.items())}})]
