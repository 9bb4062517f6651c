"""Apple Silicon power: ``powermetrics`` (root; text or NUL-separated plists) and ``macmon pipe`` JSON.

powermetrics reports per-interval CPU/GPU/ANE power in mW ("Combined Power (CPU + GPU + ANE)"), or
per-cluster power on older macOS; ``thermal_pressure`` other than Nominal means throttling. The
boundary is the SoC's compute blocks, not the whole machine. macmon adds ``sys_power`` (SMC, whole
system, W).
"""

from __future__ import annotations

import json
import plistlib
import re
import shutil
import subprocess
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from .base import Sample, Sensor, content_lines

_HEADER = re.compile(r"^\*\*\* Sampled system activity \((.*?)\) \(([\d.]+)ms elapsed\) \*\*\*")
_POWER = re.compile(r"^([A-Za-z0-9 +()\-]+?) Power(?: \(([^)]*)\))?:\s*([\d.]+)\s*mW\s*$")
_PRESSURE = re.compile(r"^Current pressure level:\s*(\w+)")
COMBINED = "Combined Power (CPU + GPU + ANE)"


def _finish(sample: Sample) -> Sample:
    rails = sample.rails_mw
    if "Combined" in rails:
        sample.total_power_mw = rails.pop("Combined")
        sample.extra["total_rule"] = "%s (SoC compute blocks, not the whole machine)" % COMBINED
    elif "Package" in rails:
        sample.total_power_mw = rails["Package"]
        sample.extra["total_rule"] = "Package Power"
    elif any(k in rails for k in ("CPU", "GPU", "ANE")):
        sample.total_power_mw = sum(rails.get(k, 0.0) for k in ("CPU", "GPU", "ANE"))
        sample.extra["total_rule"] = "CPU + GPU + ANE power lines"
    else:
        sample.extra["total_rule"] = ("only per-cluster power in this output: CPU-cluster sum in rails, no total"
                                      if rails else "no power lines in this output (sampler without cpu_power)")
    return sample


def parse_text(text: str) -> List[Sample]:
    samples: List[Sample] = []
    cur: Optional[Sample] = None
    elapsed_total = 0.0
    for line in content_lines(text):
        line = line.strip()
        h = _HEADER.match(line)
        if h:
            if cur is not None and (cur.rails_mw or "thermal_pressure" in cur.extra):
                samples.append(_finish(cur))  # (a preamble before the first header holds nothing)
            cur = Sample(t_s=elapsed_total / 1000.0, extra={"wall_time": h.group(1), "interval_ms": float(h.group(2))})
            elapsed_total += float(h.group(2))
            continue
        if cur is None:
            cur = Sample(t_s=None)
        p = _POWER.match(line)
        if p:
            name = p.group(1).strip()
            key = "Combined" if name.startswith("Combined") else name
            cur.rails_mw[key] = float(p.group(3))
            continue
        pr = _PRESSURE.match(line)
        if pr:
            cur.extra["thermal_pressure"] = pr.group(1)
            cur.throttled = pr.group(1) != "Nominal"
    if cur is not None:
        samples.append(_finish(cur))
    return samples


def parse_plists(blob: bytes) -> List[Sample]:
    """``powermetrics -f plist`` output: plists separated by NUL bytes."""
    samples = []
    t = 0.0
    for chunk in blob.split(b"\0"):
        chunk = chunk.strip()
        if not chunk:
            continue
        try:
            d = plistlib.loads(chunk)
        except Exception:
            continue
        proc = d.get("processor", {})
        rails = {}
        for key, name in (("cpu_power", "CPU"), ("gpu_power", "GPU"), ("ane_power", "ANE")):
            if key in proc:
                rails[name] = float(proc[key])
        if "combined_power" in proc:
            rails["Combined"] = float(proc["combined_power"])
        elapsed_ms = float(d.get("elapsed_ns", 0)) / 1e6
        s = Sample(t_s=t / 1000.0, rails_mw=rails, extra={"interval_ms": elapsed_ms})
        t += elapsed_ms
        if "thermal_pressure" in d:
            s.extra["thermal_pressure"] = d["thermal_pressure"]
            s.throttled = d["thermal_pressure"] != "Nominal"
        samples.append(_finish(s))
    return samples


def parse(data: bytes) -> List[Sample]:
    if b"<plist" in data[:4096] or b"<?xml" in data[:64]:
        return parse_plists(data)
    return parse_text(data.decode("utf-8", "replace"))


def parse_macmon(text: str) -> List[Sample]:
    """``macmon pipe``: one JSON object per line; powers in W."""
    out = []
    for line in content_lines(text):
        try:
            d = json.loads(line)
        except ValueError:
            continue
        rails = {k[:-len("_power")]: float(v) * 1000.0 for k, v in d.items()
                 if k.endswith("_power") and k not in ("all_power", "sys_power") and isinstance(v, (int, float))}
        temps = {k: float(v) for k, v in (d.get("temp") or {}).items() if isinstance(v, (int, float))}
        total = float(d["sys_power"]) * 1000.0 if isinstance(d.get("sys_power"), (int, float)) else None
        clocks = {}
        for key in ("ecpu_usage", "pcpu_usage", "gpu_usage"):
            if isinstance(d.get(key), list) and d[key]:
                clocks[key.replace("_usage", "")] = float(d[key][0])
        extra: Dict[str, Any] = {"wall_time": d.get("timestamp"),
                                 "total_rule": "sys_power (SMC, whole system)" if total is not None else "no sys_power"}
        if isinstance(d.get("all_power"), (int, float)):
            extra["soc_power_mw"] = float(d["all_power"]) * 1000.0
        out.append(Sample(t_s=None, rails_mw=rails, total_power_mw=total, temps_c=temps, clocks_mhz=clocks,
                          extra=extra))
    return out


class PowermetricsSensor(Sensor):
    """``powermetrics`` running beside the job (needs root); at most ~2 Hz in practice."""

    name = "powermetrics"
    kind = "power"
    boundary = "SoC compute blocks (CPU + GPU + ANE)"
    max_rate_hz = 2.0

    def __init__(self, interval_ms: int = 500) -> None:
        self.interval_ms = interval_ms
        self._proc: Optional[subprocess.Popen] = None
        self._latest: Optional[Sample] = None

    def available(self) -> Tuple[bool, str]:
        if shutil.which("powermetrics") is None:
            return False, "powermetrics not on PATH (not macOS)"
        import os

        if os.geteuid() != 0:
            return False, "powermetrics needs root: run the agent with sudo on this Mac"
        return True, ""

    def open(self) -> None:
        self._proc = subprocess.Popen(["powermetrics", "--samplers", "cpu_power,gpu_power,ane_power,thermal", "-i",
                                       str(self.interval_ms), "-f", "plist"], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        buf = b""
        while True:
            chunk = self._proc.stdout.read1(65536) if hasattr(self._proc.stdout, "read1") else self._proc.stdout.read(4096)
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                doc, buf = buf.split(b"\0", 1)
                parsed = parse_plists(doc)
                if parsed:
                    parsed[0].t_s = time.perf_counter()
                    self._latest = parsed[0]

    def read(self, t_s: float) -> Sample:
        return self._latest or Sample(t_s=t_s)

    def close(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc = None
