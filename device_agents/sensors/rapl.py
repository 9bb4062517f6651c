"""Intel/AMD RAPL energy counters (``/sys/class/powercap/intel-rapl:*``), cumulative µJ with wrap-around.

Since Linux 5.10 ``energy_uj`` is root-only (mode 0400): without root the sensor is unavailable and
says so. Package domains (``intel-rapl:N``) are summed for the whole-CPU figure; sub-domains (core,
uncore, dram) are reported as rails.
"""

from __future__ import annotations

import glob
import os
import re
import stat
from typing import Dict, List, Tuple

from .base import OpenFiles, Sample, Sensor


class RaplSensor(Sensor):
    name = "rapl"
    kind = "energy"
    boundary = "CPU package(s) (RAPL)"
    max_rate_hz = 100.0

    def __init__(self, root: str = "/sys/class/powercap") -> None:
        self.root = root
        self.files = OpenFiles()
        self.domains: Dict[str, str] = {}
        self.packages: List[str] = []
        self.wrap_uj = None

    def _discover(self) -> None:
        self.domains = {}
        self.packages = []
        for path in sorted(glob.glob(os.path.join(self.root, "intel-rapl:*"))):
            name = self.files.read(os.path.join(path, "name")) or os.path.basename(path)
            label = "%s(%s)" % (name, os.path.basename(path))
            self.domains[label] = path
            if re.match(r"^intel-rapl:\d+$", os.path.basename(path)):
                self.packages.append(label)

    def available(self) -> Tuple[bool, str]:
        if not os.path.isdir(self.root):
            return False, "no sensor: %s absent" % self.root
        self._discover()
        if not self.packages:
            return False, "no RAPL package domain under %s" % self.root
        first = os.path.join(self.domains[self.packages[0]], "energy_uj")
        if not os.access(first, os.R_OK):
            mode = stat.S_IMODE(os.stat(first).st_mode) if os.path.exists(first) else None
            return False, ("%s is not readable by uid %d (mode %s): root-only since Linux 5.10; run the agent as "
                           "root or grant read access" % (first, os.geteuid(), oct(mode) if mode is not None else "?"))
        ranges = [self.files.read_number(os.path.join(self.domains[p], "max_energy_range_uj")) for p in self.packages]
        self.wrap_uj = sum(r for r in ranges if r) if all(ranges) and len(ranges) == 1 else (ranges[0] or None)
        return True, ""

    def open(self) -> None:
        if not self.domains:
            self._discover()

    def read(self, t_s: float) -> Sample:
        per_domain = {}
        for label, path in self.domains.items():
            value = self.files.read_number(os.path.join(path, "energy_uj"))
            if value is not None:
                per_domain[label] = value
        total = sum(per_domain[p] for p in self.packages if p in per_domain)
        return Sample(t_s=t_s, energy_uj=total, extra={"domain_energy_uj": per_domain})

    def close(self) -> None:
        self.files.close()
