"""Jetson ``tegrastats``: parse its lines (every JetPack format seen) and run it live.

Rails are ``NAME cur/avg`` in mW (with or without the ``mW`` suffix), or ``NAME cur/avg/max`` on
JetPack 7 (Thor); only ``cur`` is used — the others are since tegrastats started and must never be
integrated. Temperatures are ``name@42.5C``, or ``name@42.5C/43.1C`` on JetPack 7 (the first is the
current reading); −256 °C means the zone is offline and is dropped. JetPack 5+ lines start with a
``MM-DD-YYYY HH:MM:SS`` timestamp (device local time). A token that looks like a rail but fits none
of these (another unit, another separator) is listed in ``unparsed_rail_tokens`` and makes the
line's total power null with that reason: a format we do not know is never read as "no rails".
"""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from .base import Sample, Sensor, content_lines, stamp_relative
from .jetson_rails import total_power

_TS = re.compile(r"^(\d\d)-(\d\d)-(\d{4}) (\d\d):(\d\d):(\d\d)\s+")
_RAIL = re.compile(r"(?:(?<=\s)|^)([A-Za-z][A-Za-z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?:/(\d+)(?:mW)?)?(?=\s|$)")
_TEMP = re.compile(r"(?:(?<=\s)|^)([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?) ?C(?:/-?\d+(?:\.\d+)? ?C)?(?=\s|$)")
#: Anything shaped like an upper-case rail with a power figure: checked against what _RAIL understood.
_RAIL_LIKE = re.compile(r"(?:(?<=\s)|^)([A-Z][A-Z0-9_]*_[A-Z0-9_]+|VDD[A-Z0-9_]*|VIN[A-Z0-9_]*|POM[A-Z0-9_]*) "
                        r"([-\d.]+ ?(?:[mu]?W|mA|mV)?(?:/[-\d.]+ ?(?:[mu]?W|mA|mV)?)*)(?=\s|$)")
_RAM = re.compile(r"RAM (\d+)/(\d+)MB")
_CPU = re.compile(r"CPU \[([^\]]*)\]")
_CPU_OLD = re.compile(r"cpu \[([^\]]*)\]@(\d+)")
_GPU = re.compile(r"GR3D(?:_FREQ)? (\d+)%(?:@\[?([\d,]+)\]?)?")
_EMC = re.compile(r"EMC(?:_FREQ)? (\d+)%(?:@(\d+))?")
OFFLINE_C = -256.0


def parse_line(line: str) -> Optional[Sample]:
    """One tegrastats line as a Sample; its timestamp (if any) is kept as ``wall_time`` (device local)."""
    line = line.strip()
    if not line or "RAM" not in line:
        return None
    t_s = None
    wall = None
    m = _TS.match(line)
    if m:
        mo, dd, yy, hh, mi, ss = (int(x) for x in m.groups())
        wall = datetime.datetime(yy, mo, dd, hh, mi, ss).isoformat()
        line = line[m.end():]
    rails = {}
    rails_avg = {}
    for name, cur, avg, _peak in _RAIL.findall(line):
        if name in ("RAM", "SWAP", "IRAM"):
            continue
        rails[name] = float(cur)
        rails_avg[name] = float(avg)
    unparsed = [" ".join(m) for m in _RAIL_LIKE.findall(line) if m[0] not in rails]
    temps = {}
    offline = []
    for name, value in _TEMP.findall(line):
        if float(value) <= OFFLINE_C:
            offline.append(name)
        else:
            temps[name] = float(value)
    total, rule = total_power(rails)
    if unparsed:
        total = None
        rule = ("tokens %s look like power rails but are in a format this parser does not know: whole-device "
                "power unknown (please report the tegrastats line)" % ", ".join(repr(u) for u in unparsed[:4]))
    extra: Dict[str, Any] = {"total_rule": rule}
    if unparsed:
        extra["unparsed_rail_tokens"] = unparsed
    if wall:
        extra["wall_time"] = wall
    if offline:
        extra["offline_zones"] = offline
    if rails_avg:
        extra["rails_avg_since_start_mw"] = rails_avg
    clocks: Dict[str, float] = {}
    ram = _RAM.search(line)
    if ram:
        extra["ram_used_mb"], extra["ram_total_mb"] = int(ram.group(1)), int(ram.group(2))
    cpu = _CPU.search(line)
    if cpu:
        loads, freqs = [], []
        for core in cpu.group(1).split(","):
            if "@" in core:
                load, freq = core.split("@", 1)
                loads.append(float(load.rstrip("%")))
                freqs.append(float(freq))
        if freqs:
            clocks["cpu_max"] = max(freqs)
            extra["cpu_load_pct"] = loads
    else:
        old = _CPU_OLD.search(line)
        if old:
            clocks["cpu_max"] = float(old.group(2))
            extra["cpu_load_pct"] = [float(x.rstrip("%")) for x in old.group(1).split(",") if x.strip()]
    gpu = _GPU.search(line)
    if gpu:
        extra["gpu_load_pct"] = float(gpu.group(1))
        if gpu.group(2):
            clocks["gpu"] = max(float(f) for f in gpu.group(2).split(","))
    emc = _EMC.search(line)
    if emc and emc.group(2):
        clocks["emc"] = float(emc.group(2))
    return Sample(t_s=t_s, rails_mw=rails, total_power_mw=total, temps_c=temps, throttled=None,
                  clocks_mhz=clocks, extra=extra)


def parse(text: str) -> List[Sample]:
    """Every line of a tegrastats log; ``t_s`` is made relative to the first timestamped sample."""
    samples = [s for s in (parse_line(ln) for ln in content_lines(text)) if s is not None]
    stamp_relative(samples)
    return samples


class TegrastatsSensor(Sensor):
    """``tegrastats --interval MS`` kept running; the latest line is the current sample."""

    name = "tegrastats"
    kind = "power"
    boundary = "module (largest-scope rails)"
    max_rate_hz = 10.0

    def __init__(self, interval_ms: int = 100, binary: str = "tegrastats") -> None:
        self.interval_ms = interval_ms
        self.binary = binary
        self._proc: Optional[subprocess.Popen] = None
        self._latest: Optional[Tuple[float, str]] = None
        self._thread: Optional[threading.Thread] = None

    def available(self) -> Tuple[bool, str]:
        if shutil.which(self.binary) is None:
            return False, "tegrastats not on PATH (not a Jetson, or L4T tools not installed)"
        return True, ""

    def open(self) -> None:
        self._proc = subprocess.Popen([self.binary, "--interval", str(self.interval_ms)], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True)
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self._latest = (time.perf_counter(), line)

    def read(self, t_s: float) -> Sample:
        if self._latest is None:
            return Sample(t_s=t_s)
        stamp, line = self._latest
        sample = parse_line(line) or Sample(t_s=stamp)
        sample.t_s = stamp  # when the line arrived, on the agent's clock
        return sample

    def close(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
