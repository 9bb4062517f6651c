"""External USB power meters (RDTech UM25C/UM24C/UM34C) — decoded output of ``rdserialtool``.

Used as a log attached to a run (the meter sits between the supply and the device, so its power is
the device's wall-side input). Lines: ``USB: 5.062V, 0.1146A,  0.580W,   44.1Ω`` and
``Collection time: 2019-02-23 22:53:08.468732``; a new reading starts at each ``USB:`` line.
"""

from __future__ import annotations

import re
from typing import List, Optional

from .base import Sample, content_lines, stamp_relative

_USB = re.compile(r"^USB:\s*([\d.]+)V,\s*([\d.]+)A,\s*([\d.]+)W")
_TEMP = re.compile(r"temperature:\s*(-?\d+)C")
_TIME = re.compile(r"^Collection time:\s*(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(?:\.\d+)?)")


def parse(text: str) -> List[Sample]:
    samples: List[Sample] = []
    cur: Optional[Sample] = None
    for line in content_lines(text):
        line = line.strip()
        m = _USB.match(line)
        if m:
            volts, amps, watts = (float(x) for x in m.groups())
            cur = Sample(t_s=None, rails_mw={"usb": watts * 1000.0}, total_power_mw=watts * 1000.0,
                         extra={"voltage_v": volts, "current_a": amps, "total_rule": "USB input (meter in the supply)"})
            samples.append(cur)
            continue
        if cur is None:
            continue
        t = _TEMP.search(line)
        if t:
            cur.temps_c["meter"] = float(t.group(1))
        c = _TIME.match(line)
        if c:
            cur.extra["wall_time"] = "%sT%s" % c.groups()
    stamp_relative(samples)
    return samples
