"""Device ceilings judged: the cache read back, its staleness and trust, the spread across measurements, a job
above its roof, and datasheet peaks from ``bench/analysis/reference/device_specs.csv``. Measuring them on the device (the
agent's microbenchmarks, cached with their provenance) is bench/run/ceilings.py.

A cached ceiling is used only while it is still true of the device: it is re-measured when it is older
than ``MAX_AGE_S``, when the device's runtime or numpy versions, CPU governor or power mode differ from
those it was measured under, or when it was not trustworthy (not stable, or measured while other
processes kept the device busy). ``--ceilings keep`` uses the cache as it is (staleness still shown).
Every stored ceiling carries when and under what it was measured (``measured_at``, ``state``,
``conditions``, spreads) and a ``trust`` verdict; a job attaining more than its roof beyond noise
(``roof_check``) marks the ceiling ``suspect``. Cache files are written atomically; an unreadable one
(e.g. truncated by a crash) is treated as absent with one line.
"""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..paths import cache_root
from .peaks import _rate, bandwidth_gbps, measured_peaks, peak_for  # noqa: F401  (importable from here)

SPECS_FILE = Path(__file__).with_name("reference") / "device_specs.csv"
_PEAK = re.compile(r"([\d.]+)\s*(GFLOPS|TFLOPS|GOPS|TOPS)", re.I)
_NUM = re.compile(r"([\d.]+)")

#: A cached ceiling older than this (s) is measured again: firmware, thermals and neighbours change.
MAX_AGE_S = 7 * 24 * 3600.0
#: Other processes' share of the cores during the microbenchmarks above which a ceiling is not trusted
#: (the same limit as a job's, bench.analysis.validity.OTHER_BUSY_MAX).
BUSY_MAX = 0.10
#: An untrusted cached ceiling is kept (with its spread, marked not trusted) rather than measured again while
#: it is younger than this (s), or while the device is busy: measuring again on a busy or noisy device costs
#: a minute and gives another untrusted figure. ``--ceilings remeasure`` always measures.
UNTRUSTED_RETRY_S = 3600.0
#: Measurements of one device's ceilings kept (per cache file) to show their spread across measurements.
HISTORY_MAX = 10
#: A job is "above its roof beyond noise" when attained > roof x (1 + ceiling spread + job CI
#: half-width + this margin).
ROOF_MARGIN = 0.05

Log = Callable[[str], None]


class CeilingsError(RuntimeError):
    pass


def write_atomic(path: Path, data: Dict[str, Any]) -> None:
    """Ceilings as JSON, atomically (the store's one atomic writer: no half file, a full disk said so)."""
    from ..atomic import _write_json

    _write_json(path, data)


def read_cache(path: Path, log: Log = print) -> Optional[Dict[str, Any]]:
    """The cached ceilings, or None when absent or unreadable (then one line says so)."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        log("ceilings: cache %s is unreadable (%s; truncated by a crash?): measuring again" % (path, exc))
        return None
    return data


def stale_reasons(cached: Dict[str, Any], state_now: Optional[Dict[str, Any]], now_s: Optional[float] = None
                  ) -> List[str]:
    """Why a cached ceiling no longer describes the device (empty: still good)."""
    reasons: List[str] = []
    now_s = time.time() if now_s is None else now_s
    measured = cached.get("measured_at_unix_s")
    if not isinstance(measured, (int, float)):
        reasons.append("no measurement time recorded")
    elif now_s - measured > MAX_AGE_S:
        reasons.append("measured %.1f days ago (limit %.0f)" % ((now_s - measured) / 86400, MAX_AGE_S / 86400))
    then = cached.get("state") if isinstance(cached.get("state"), dict) else None
    if then is None:
        reasons.append("measured before ceilings recorded the device state")
    elif state_now is not None:
        for key, label in (("runtime_versions", "runtime versions"), ("numpy_version", "numpy version"),
                           ("governors", "CPU governor"), ("power_mode", "power mode"), ("cpu_model", "CPU")):
            if then.get(key) != state_now.get(key):
                reasons.append("%s changed: %s -> %s" % (label, then.get(key), state_now.get(key)))
    trust = cached.get("trust") if isinstance(cached.get("trust"), dict) else {}
    if trust.get("trusted") is False:
        reasons.append("not trusted when measured: %s" % "; ".join(trust.get("reasons") or []))
    if cached.get("suspect"):
        reasons.append("marked suspect: %s" % cached["suspect"][-1].get("reason", "a job ran above its roof"))
    return reasons


def keep_untrusted(cached: Dict[str, Any], stale: List[str], state_now: Optional[Dict[str, Any]],
                   now_s: Optional[float] = None) -> Optional[str]:
    """Why a cached ceiling whose only fault is that it was not trusted is kept rather than measured again (None:
    measure again). Kept while the device is busy now, or while the figure is younger than UNTRUSTED_RETRY_S."""
    if not stale or any(not r.startswith("not trusted when measured") for r in stale):
        return None  # stale for a reason a new measurement fixes (age, versions, governor, suspect)
    busy = ((state_now or {}).get("busy_now") or {}).get("share")
    if isinstance(busy, (int, float)) and busy > BUSY_MAX:
        return "the device is busy now (other processes use %.0f %% of its cores)" % (100 * busy)
    measured = cached.get("measured_at_unix_s")
    age = (time.time() if now_s is None else now_s) - measured if isinstance(measured, (int, float)) else None
    if age is not None and 0 <= age < UNTRUSTED_RETRY_S:
        return "they were measured %.0f min ago (re-measured at most once an hour)" % (age / 60)
    return None


def _figures(data: Dict[str, Any]) -> Dict[str, float]:
    """The measured figures of one ceilings measurement: ``runtime/precision`` GOP/s and ``triad`` GB/s."""
    out: Dict[str, float] = {}
    for c in data.get("compute") or []:
        if isinstance(c, dict) and _rate(c.get("gops")):
            out["%s/%s%s" % (c.get("runtime"), c.get("precision"), "/" + c["unit"] if c.get("unit") not in (None, "cpu")
                              else "")] = float(c["gops"])
    bw = data.get("bandwidth") if isinstance(data.get("bandwidth"), dict) else {}
    if _rate(bw.get("triad_gbps")):
        out["triad"] = float(bw["triad_gbps"])
    return out


def figures_history(previous: Optional[Dict[str, Any]], data: Dict[str, Any]) -> List[Dict[str, Any]]:
    """This measurement appended to the previous one's history (newest last, at most HISTORY_MAX)."""
    hist = previous.get("history") if isinstance(previous, dict) and isinstance(previous.get("history"), list) else []
    if isinstance(previous, dict) and not hist and _figures(previous):  # cached before histories were kept
        hist = [{"measured_at": previous.get("measured_at"), "figures": _figures(previous),
                 "trusted": (previous.get("trust") or {}).get("trusted")}]
    hist = [h for h in hist if isinstance(h, dict) and isinstance(h.get("figures"), dict)]
    hist.append({"measured_at": data.get("measured_at"), "figures": _figures(data),
                 "trusted": (data.get("trust") or {}).get("trusted")})
    return hist[-HISTORY_MAX:]


def across_measurements(history: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Per figure: the newest value, its change against the previous measurement, and the spread ((max-min) /
    median) across the kept measurements — how much a ceiling of this device moves from run to run."""
    import statistics

    out = []
    names = sorted({k for h in history for k in h["figures"]})
    for name in names:
        values = [float(h["figures"][name]) for h in history if _rate(h["figures"].get(name))]
        if not values:
            continue
        med = statistics.median(values)
        out.append({"figure": name, "unit": "GB/s" if name == "triad" else "GOP/s", "latest": values[-1],
                    "n": len(values), "median": med,
                    "spread_rel": (max(values) - min(values)) / med if len(values) > 1 and med > 0 else None,
                    "change_vs_previous_rel": values[-1] / values[-2] - 1.0 if len(values) > 1 and values[-2] > 0
                    else None})
    return out


def assess(data: Dict[str, Any]) -> Dict[str, Any]:
    """Trust verdict of freshly measured ceilings: every figure stable, and the device not busy."""
    reasons: List[str] = []
    for c in data.get("compute") or []:
        if c.get("gops") and c.get("stable") is False:
            reasons.append("%s/%s peak still moving by %.0f %% between trials" % (
                c.get("runtime"), c.get("precision"), 100 * (c.get("spread_rel") or 0)))
    bw = data.get("bandwidth") or {}
    if bw and bw.get("stable") is False:
        reasons.append("STREAM triad still moving by %.0f %% between trials" % (100 * (bw.get("spread_rel") or 0)))
    during = ((data.get("conditions") or {}).get("during") or {})
    other, cores = during.get("other_busy_cores"), during.get("cores") or []
    if isinstance(other, (int, float)) and cores:
        share = (other + (during.get("steal_cores") or 0.0)) / len(cores)
        if share > BUSY_MAX:
            top = ", ".join("%s (pid %s)" % (p.get("name"), p.get("pid"))
                            for p in during.get("top_other_processes") or [])
            reasons.append("other processes used %.0f %% of the cores while measuring%s" % (
                100 * share, ": " + top if top else ""))
    return {"trusted": not reasons, "reasons": reasons}


def roof_check(result: Dict[str, Any], ceilings: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """Does this ok job attain more than its roof beyond noise? Returns the evidence, else None.

    Compute-bound: above the measured peak means the peak is too low. Memory-bound: above the DRAM
    roof is expected when the job's bytes fit in the last-level cache (served from cache); only when
    they do not is the bandwidth ceiling suspect. Noise = the ceiling's trial spread + the job's median
    CI half-width + ROOF_MARGIN."""
    from .roofline import place_result

    if result.get("status") != "ok" or not ceilings or ceilings.get("error"):
        return None
    peaks = measured_peaks(ceilings)
    bw = bandwidth_gbps(ceilings)
    point = place_result(result, peaks, bw)
    if not point or point.get("efficiency") is None:
        return None
    unit, provider = point.get("unit") or "cpu", point.get("provider")
    entry = peak_for(peaks, result.get("runtime_name", ""), point["precision"], unit, provider) or {}
    stats = result.get("stats") or {}
    ci, p50 = stats.get("p50_ci95_ms"), stats.get("p50_ms")
    job_noise = (ci[1] - ci[0]) / 2 / p50 if ci and p50 else 0.0
    # the roof the efficiency is measured against (at the nominal ridge: also for a point near it)
    binding = "compute" if point["roof_gops"] >= point["peak_gops"] else "memory"
    if binding == "compute":
        spread = entry.get("spread_rel") or 0.0
    elif unit == "cpu":
        spread = (ceilings.get("bandwidth") or {}).get("spread_rel") or 0.0
    else:  # the unit's own bandwidth ceiling, measured through its provider
        spread = (peaks.get("%s:%s/bandwidth" % (unit, provider)) or {}).get("spread_rel") or 0.0
    noise = spread + job_noise + ROOF_MARGIN
    if point["efficiency"] <= 1.0 + noise:
        return None
    llc = (ceilings.get("bandwidth") or {}).get("llc_bytes") if unit == "cpu" else None  # the CPU's cache only
    if binding == "memory" and llc and point["bytes"] <= llc:
        return None  # its working set fits the cache: above the DRAM roof is expected
    bw_name = "STREAM bandwidth" if unit == "cpu" else "%s bandwidth through %s" % (unit.upper(), provider)
    which = ("the %s peak %.1f G/s" % (point.get("peak_used"), point["peak_gops"]) if binding == "compute"
             else "the %s %.1f GB/s (working set %.0f MB > LLC %s)" % (
                 bw_name, point["bandwidth_gbps"], point["bytes"] / 1e6, "%.0f MB" % (llc / 1e6) if llc else "unknown"))
    return {"job_id": result.get("job_id"), "bound": binding, "efficiency": point["efficiency"],
            "attained_gops": point["attained_gops"], "roof_gops": point["roof_gops"], "noise": noise,
            "at_unix_s": time.time(),
            "reason": "%s ran at %.0f %% of its %s roof (noise allowance %.0f %%): %s is too low" % (
                result.get("job_id"), 100 * point["efficiency"], binding, 100 * noise, which)}


def _first(pattern: re.Pattern, text: str) -> Optional[float]:
    m = pattern.search(text or "")
    if not m:
        return None
    value = float(m.group(1))
    if m.lastindex and m.lastindex >= 2 and m.group(2).upper().startswith("T"):
        value *= 1000.0
    return value


def datasheet(name: Optional[str]) -> Optional[Dict[str, Any]]:
    """Theoretical peaks (GFLOP/s or GOP/s) and DRAM bandwidth (GB/s) of a device in the reference sheet."""
    if not name:
        return None
    with open(SPECS_FILE, newline="") as fh:
        rows = {r["device"]: r for r in csv.DictReader(fh)}
    row = rows.get(name)
    if row is None:
        raise CeilingsError("no datasheet entry %r; entries: %s" % (name, ", ".join(sorted(rows))))
    return {"device": name, "unit": row["unit"], "source": row["source"], "verification": row["verification"],
            "fp32": _first(_PEAK, row["fp32_peak"]), "fp16": _first(_PEAK, row["fp16_peak"]),
            "int8": _first(_PEAK, row["int8_peak"]), "bandwidth_gbps": _first(_NUM, row["dram_bw_theoretical_GBps"])}


def datasheet_names() -> List[str]:
    with open(SPECS_FILE, newline="") as fh:
        return [r["device"] for r in csv.DictReader(fh)]


def note_roof(result: Dict[str, Any], run_file: Path) -> Optional[Dict[str, Any]]:
    """Hold an ok job against the run's ceilings (``run_file``); when it is above its roof beyond noise,
    record the evidence in the result (``roof_check``), in the run's ceilings file and in the cache (so
    a later run re-measures), and return it."""
    try:
        ceilings = json.loads(run_file.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(ceilings, dict):
        return None
    suspect = roof_check(result, ceilings)
    if suspect is None:
        return None
    result["roof_check"] = suspect
    ceilings.setdefault("suspect", []).append(suspect)
    write_atomic(run_file, ceilings)
    cache_file = ceilings.get("cache_file")
    cache_dir = (cache_root() / "ceilings").resolve()
    if cache_file and Path(cache_file).resolve().parent == cache_dir:  # a run folder names it: write only there
        cached = read_cache(Path(cache_file), lambda s: None)
        if cached is not None:
            cached.setdefault("suspect", []).append(suspect)
            write_atomic(Path(cache_file), cached)
    return suspect
