"""Peak memory of the agent process per phase, over the baseline taken before the model loads.

Linux: ``VmHWM`` from ``/proc/self/status``, reset between phases by writing ``5`` to
``/proc/self/clear_refs``. Elsewhere: ``ru_maxrss`` (bytes on macOS, KiB on Linux), which cannot be
reset, so later phases report the cumulative peak and say so in ``method``.
"""

from __future__ import annotations

import platform
from typing import Any, Dict, List, Optional

from .sysinfo import kib_field_bytes, read_kv

_STATUS = "/proc/self/status"


def _ru_maxrss_bytes() -> Optional[int]:
    try:
        import resource
    except ImportError:  # Windows
        return None
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(value) if platform.system() == "Darwin" else int(value) * 1024


class MemoryTracker:
    """Records the RSS baseline and the peak RSS of each named phase (all figures in bytes)."""

    def __init__(self) -> None:
        fields = read_kv(_STATUS)
        self.proc_status = "VmHWM" in fields
        self.resettable = self.proc_status and self._reset()
        self.baseline_rss_bytes: Optional[int] = None
        self.phases: List[Dict[str, Any]] = []

    @staticmethod
    def _reset() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            return True
        except OSError:
            return False

    def _rss(self) -> Optional[int]:
        if self.proc_status:
            return kib_field_bytes(read_kv(_STATUS), "VmRSS")
        return _ru_maxrss_bytes()

    def _peak(self) -> Optional[int]:
        if self.proc_status:
            return kib_field_bytes(read_kv(_STATUS), "VmHWM")
        return _ru_maxrss_bytes()

    @property
    def method(self) -> str:
        if self.resettable:
            return "VmHWM of /proc/self/status, reset per phase via /proc/self/clear_refs; baseline VmRSS before load"
        if self.proc_status:
            return "VmHWM of /proc/self/status (not resettable here: phase peaks are cumulative)"
        return "getrusage ru_maxrss (not resettable: phase peaks are cumulative)"

    def start(self) -> None:
        """Take the baseline (after the runtime is imported, before the model loads)."""
        self.baseline_rss_bytes = self._rss()
        if self.resettable:
            self._reset()

    def end_phase(self, name: str) -> None:
        """Close phase ``name``: record its peak, then start the next phase from the current RSS."""
        peak = self._peak()
        over = (peak - self.baseline_rss_bytes
                if peak is not None and self.baseline_rss_bytes is not None else None)
        self.phases.append({"phase": name, "peak_rss_bytes": peak, "peak_over_baseline_bytes": over})
        if self.resettable:
            self._reset()

    def to_json(self) -> Dict[str, Any]:
        peaks = [p["peak_rss_bytes"] for p in self.phases if p["peak_rss_bytes"] is not None]
        peak = max(peaks) if peaks else None
        return {
            "method": self.method,
            "baseline_rss_bytes": self.baseline_rss_bytes,
            "peak_rss_bytes": peak,
            "peak_over_baseline_bytes": (peak - self.baseline_rss_bytes
                                         if peak is not None and self.baseline_rss_bytes is not None else None),
            "phases": self.phases,
        }


def platform_memory() -> Dict[str, Any]:
    """Platform figures beside RSS: Jetson's shared CPU/GPU memory (NvMapMemUsed), Android's PSS."""
    out: Dict[str, Any] = {}
    meminfo = read_kv("/proc/meminfo")
    nvmap = kib_field_bytes(meminfo, "NvMapMemUsed")
    if nvmap is not None:
        out["jetson_nvmap_used_bytes"] = nvmap
    import os
    import shutil
    import subprocess

    if shutil.which("dumpsys") and os.path.isdir("/system"):
        try:
            text = subprocess.run(["dumpsys", "meminfo", str(os.getpid())], capture_output=True, text=True,
                                  timeout=10).stdout
            from .sensors.android import parse_meminfo

            out["android_total_pss_bytes"] = parse_meminfo(text)["total_pss_bytes"]
        except (OSError, subprocess.SubprocessError) as exc:
            out["android_total_pss_reason"] = str(exc)
    return out
