"""The conditions a job was measured under, read from ``/proc`` and ``/sys``: load, CPU time used by
other processes, steal time, CPU frequency, temperatures, governor and power mode.

``Snapshot`` reads the counters at one instant; ``interval(a, b)`` turns two snapshots into what
happened between them (CPU seconds, cores' worth of busy time, the busiest other processes).
Every figure that cannot be read is None with a ``<figure>_reason`` beside it (macOS has no /proc).

Other processes' CPU time = (user + nice + system + irq + softirq jiffies of the cores the job may
run on, from /proc/stat) − (this process's utime + stime, from /proc/self/stat). ``steal`` (time the
hypervisor gave the vCPU to someone else) is kept apart. Resolution: one clock tick (usually 10 ms)
per reading.
"""

from __future__ import annotations

import glob
import os
import time
from typing import Any, Dict, List, Optional, Tuple

from .sysinfo import read_text

PROC_STAT = "/proc/stat"
#: /proc/stat cpu columns: user nice system idle iowait irq softirq steal guest guest_nice
_BUSY_COLUMNS = (0, 1, 2, 5, 6)
_STEAL_COLUMN = 7
#: How many of the busiest other processes a record names.
TOP_OTHERS = 3


def clock_ticks() -> Optional[int]:
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return None


def _cpu_lines(text: str) -> Dict[str, List[int]]:
    out: Dict[str, List[int]] = {}
    for line in text.splitlines():
        if line.startswith("cpu"):
            parts = line.split()
            try:
                out[parts[0]] = [int(v) for v in parts[1:]]
            except ValueError:
                continue
    return out


def _proc_times(stat_text: str) -> Optional[Tuple[str, int]]:
    """(command name, utime + stime ticks) from a /proc/<pid>/stat line."""
    try:
        name = stat_text[stat_text.index("(") + 1:stat_text.rindex(")")]
        fields = stat_text[stat_text.rindex(")") + 2:].split()
        return name, int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of proc(5))
    except (ValueError, IndexError):
        return None


def _all_process_times(skip_pid: int) -> Dict[int, Tuple[str, int]]:
    out: Dict[int, Tuple[str, int]] = {}
    for path in glob.glob("/proc/[0-9]*/stat"):
        pid = int(path.split("/")[2])
        if pid == skip_pid:
            continue
        text = read_text(path)
        parsed = _proc_times(text) if text else None
        if parsed:
            out[pid] = parsed
    return out


def _cpu_freqs_mhz(cores: List[int], cpu_root: str) -> Tuple[Optional[Dict[str, float]], str]:
    freqs: Dict[str, float] = {}
    for c in cores:
        text = read_text(os.path.join(cpu_root, "cpu%d" % c, "cpufreq", "scaling_cur_freq"))
        if text and text.strip().isdigit():
            freqs["cpu%d" % c] = int(text) / 1000.0
    if freqs:
        return freqs, "%s/cpu*/cpufreq/scaling_cur_freq" % cpu_root
    return None, "no cpufreq under %s (virtual machine, container or no cpufreq driver)" % cpu_root


def _temps_c(thermal_root: str) -> Tuple[Optional[Dict[str, float]], str]:
    temps: Dict[str, float] = {}
    for zone in sorted(glob.glob(os.path.join(thermal_root, "thermal_zone*"))):
        value = read_text(os.path.join(zone, "temp"))
        try:
            mc = int(value) if value is not None else None
        except ValueError:
            mc = None
        if mc is None or mc <= -256000:
            continue
        ztype = read_text(os.path.join(zone, "type")) or os.path.basename(zone)
        key = ztype if ztype not in temps else "%s.%s" % (ztype, os.path.basename(zone))
        temps[key] = mc / 1000.0
    if temps:
        return temps, "%s/thermal_zone*/temp" % thermal_root
    return None, "no readable thermal zone under %s" % thermal_root


def power_mode() -> Tuple[Optional[str], str]:
    """The device's power mode where one exists: Jetson nvpmodel, ACPI platform profile."""
    status = read_text("/var/lib/nvpmodel/status")
    if status:
        return "nvpmodel " + status.replace("\n", " "), "/var/lib/nvpmodel/status"
    profile = read_text("/sys/firmware/acpi/platform_profile")
    if profile:
        return "platform_profile " + profile, "/sys/firmware/acpi/platform_profile"
    return None, "no power-mode interface (no nvpmodel status, no ACPI platform_profile)"


def governors(cores: List[int], cpu_root: str = "/sys/devices/system/cpu") -> Tuple[Optional[List[str]], str]:
    found = sorted({g for g in (read_text(os.path.join(cpu_root, "cpu%d" % c, "cpufreq", "scaling_governor"))
                                for c in cores) if g})
    if found:
        return found, ""
    return None, "no cpufreq governor under %s" % cpu_root


class Snapshot:
    """Counters at one instant (monotonic ``t_s`` = ``time.perf_counter()``)."""

    def __init__(self, cores: Optional[List[int]] = None, with_processes: bool = True,
                 cpu_root: str = "/sys/devices/system/cpu", thermal_root: str = "/sys/class/thermal") -> None:
        self.t_s = time.perf_counter()
        if cores is None:
            cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self.cores = list(cores)
        text = read_text(PROC_STAT)
        self.cpu = _cpu_lines(text) if text else None
        own = read_text("/proc/self/stat")
        parsed = _proc_times(own) if own else None
        self.self_ticks = parsed[1] if parsed else None
        self.processes = _all_process_times(os.getpid()) if with_processes and self.cpu is not None else None
        try:
            self.loadavg: Optional[Tuple[float, float, float]] = os.getloadavg()
        except (AttributeError, OSError):
            self.loadavg = None
        self.freqs_mhz, self.freq_source = _cpu_freqs_mhz(self.cores, cpu_root)
        self.temps_c, self.temp_source = _temps_c(thermal_root)

    def instant(self) -> Dict[str, Any]:
        """What a single reading tells: load averages, frequencies, temperatures."""
        out: Dict[str, Any] = {}
        if self.loadavg is not None:
            out["loadavg_1m"], out["loadavg_5m"], out["loadavg_15m"] = [round(v, 2) for v in self.loadavg]
        else:
            out["loadavg_1m"] = None
            out["loadavg_1m_reason"] = "os.getloadavg() unavailable on this OS"
        out["cpu_freq_mhz"] = self.freqs_mhz
        if self.freqs_mhz is None:
            out["cpu_freq_mhz_reason"] = self.freq_source
        out["temps_c"] = self.temps_c
        if self.temps_c is None:
            out["temps_c_reason"] = self.temp_source
        return out


def interval(a: Snapshot, b: Snapshot) -> Dict[str, Any]:
    """CPU use between two snapshots: the job's cores' busy time, this process's, everyone else's."""
    seconds = b.t_s - a.t_s
    out: Dict[str, Any] = {"seconds": round(seconds, 4), "cores": a.cores}
    hz = clock_ticks()
    if a.cpu is None or b.cpu is None or hz is None or a.self_ticks is None or b.self_ticks is None:
        out.update(other_busy_cores=None, other_busy_cores_reason="%s or /proc/self/stat not readable (no procfs)"
                   % PROC_STAT)
        return out
    names = ["cpu%d" % c for c in a.cores] if a.cores else ["cpu"]
    names = [n for n in names if n in a.cpu and n in b.cpu] or ["cpu"]

    def delta(col: int) -> int:
        return sum(b.cpu[n][col] - a.cpu[n][col] for n in names if len(b.cpu[n]) > col)

    busy_s = sum(delta(c) for c in _BUSY_COLUMNS) / hz
    steal_s = delta(_STEAL_COLUMN) / hz
    self_s = (b.self_ticks - a.self_ticks) / hz
    other_s = max(0.0, busy_s - self_s)
    all_names = [n for n in a.cpu if n != "cpu" and n in b.cpu]
    all_busy_s = sum(sum(b.cpu[n][c] - a.cpu[n][c] for c in _BUSY_COLUMNS) for n in all_names) / hz
    out.update({
        "job_cores_busy_s": round(busy_s, 3), "self_cpu_s": round(self_s, 3),
        "other_cpu_s": round(other_s, 3),
        # average number of the job's cores kept busy by other processes over the interval
        "other_busy_cores": round(other_s / seconds, 3) if seconds > 0 else None,
        "steal_s": round(steal_s, 3), "steal_cores": round(steal_s / seconds, 3) if seconds > 0 else None,
        "all_cores_other_busy_cores": round(max(0.0, all_busy_s - self_s) / seconds, 3) if seconds > 0 else None,
        "tick_s": 1.0 / hz,
    })
    if a.processes is not None and b.processes is not None:
        used = []
        for pid, (name, ticks) in b.processes.items():
            before = a.processes.get(pid)  # by pid only: a kworker's name changes with its work item
            d = ticks - (before[1] if before else 0)
            if d > 0:
                used.append((d, pid, name))
        used.sort(reverse=True)
        out["top_other_processes"] = [{"pid": pid, "name": name, "cpu_s": round(d / hz, 3),
                                       "cores": round(d / hz / seconds, 3) if seconds > 0 else None}
                                      for d, pid, name in used[:TOP_OTHERS]]
    return out


class ConditionsRecorder:
    """Snapshots at the job's edges: ``mark('before')`` ... ``mark('window_start')``, ``mark('window_end')``.

    ``record()`` gives {before: instant figures at the first mark, load_and_warmup: CPU use from it
    to the window start, during: CPU use over the timed window plus the instant figures at its end}."""

    def __init__(self, cores: Optional[List[int]] = None) -> None:
        self.cores = cores
        self.marks: Dict[str, Snapshot] = {}

    def mark(self, name: str) -> None:
        try:
            self.marks[name] = Snapshot(self.cores)
        except Exception as exc:  # never let bookkeeping break a measurement
            self.marks.pop(name, None)
            self.error = "%s: %s" % (type(exc).__name__, exc)

    def record(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"method": "/proc/stat busy jiffies of the job's cores minus /proc/self/stat "
                                         "utime+stime; loadavg; cpufreq and thermal zones from sysfs"}
        first = self.marks.get("before")
        start = self.marks.get("window_start")
        end = self.marks.get("window_end")
        out["before"] = first.instant() if first else None
        out["load_and_warmup"] = interval(first, start) if first and start else None
        if start and end:
            during = interval(start, end)
            during.update(end.instant())
            out["during"] = during
        else:
            out["during"] = None
            out["during_reason"] = getattr(self, "error", "the timed window did not complete")
        cores = (first or start or end).cores if (first or start or end) else []
        gov, why = governors(cores or [0])
        out["governors"] = gov
        if gov is None:
            out["governors_reason"] = why
        out["power_mode"], source = power_mode()
        if out["power_mode"] is None:
            out["power_mode_reason"] = source
        return out


def cool_down(limit_c: float, max_s: float, poll_s: float = 1.0,
              thermal_root: str = "/sys/class/thermal") -> Dict[str, Any]:
    """Wait until every readable thermal zone is below ``limit_c`` (°C), at most ``max_s`` seconds.

    Returns the record kept in the result: start/end hottest temperature, seconds waited, whether the
    limit was reached; ``reached: None`` with the reason where no temperature can be read."""
    t0 = time.perf_counter()
    temps, source = _temps_c(thermal_root)
    out: Dict[str, Any] = {"limit_c": limit_c, "max_s": max_s}
    if temps is None:
        out.update(reached=None, waited_s=0.0, start_max_c=None, end_max_c=None,
                   reason="cannot gate on temperature: %s" % source)
        return out
    out["start_max_c"] = max(temps.values())
    hottest = out["start_max_c"]
    while hottest >= limit_c and time.perf_counter() - t0 < max_s:
        time.sleep(min(poll_s, max(0.0, max_s - (time.perf_counter() - t0))))
        temps, _ = _temps_c(thermal_root)
        hottest = max(temps.values()) if temps else hottest
    out.update(reached=hottest < limit_c, waited_s=round(time.perf_counter() - t0, 3), end_max_c=hottest,
               zones_c=temps)
    return out
