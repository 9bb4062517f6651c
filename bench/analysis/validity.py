"""Can this number be trusted? A verdict per measured job, from its own samples and the conditions the
agent recorded: ``{"valid": bool, "warnings": [{"code", "severity", "message"}], "figures": {...}}``.

A warning of severity ``invalid`` makes the job invalid (shown, flagged, and ``--strict`` exits
non-zero); ``caution`` warnings are shown but leave it valid. The thresholds and the reason for each,
with the figures behind them (the project's 2-core x86-64 VM, jobs pinned to one core, 1 thread:
9 quiet runs of a 0.1 ms MatMul and TinyBERT-4 fp32 / INT8, then the same with 1 and 2 busy
``python -c 'while 1: pass'`` processes on the job's core):

- ``MIN_SAMPLES`` = 10: below it the 95 % order-statistics CI of the median spans nearly the whole
  sample range (n = 10: 2nd..9th value) and the shape checks have nothing to work with.
- ``CV_MAX`` = 0.25: quiet CV 0.026–0.093 (TinyBERT-4) and 0.11–0.21 (0.1 ms MatMul, whose tail is
  scheduler jitter); contended 0.30–0.32 (TinyBERT-4) and 2.5–3.6 (MatMul); the issue's bimodal
  MobileBERT 0.58. CV alone misses some contention (one 2-hog TinyBERT run: 0.085): the conditions
  check below is the one that catches it every time.
- ``CI_REL_WIDTH_MAX`` = 0.05 (the median's 95 % CI width over the median): quiet 0.2–2.4 %, one
  quiet run 7.3 % (it had a real level shift); contended 0.7–21 %. Above 5 % the p50 is not known to
  the precision a speed-up figure needs.
- Multi-modality: a kernel density of log-latency (Silverman's robust bandwidth) with a second mode
  holding >= ``MODE_MIN_MASS`` (20 %) of the samples, >= 10 % away and separated by a valley below
  60 % of the smaller peak. Quiet runs: one mode in 7 of 9; the other two had a real second level
  (11 % of samples at +15 %: below 20 %, left alone as a tail; 49 % at +12 %: flagged). A second mode
  that small moves the median little; a fifth of the samples moves it.
- Level shift: block medians (<= 50 blocks of >= 10 samples); the stretch of >= ``SHIFT_MIN_FRACTION``
  (20 %) of the window whose median differs most from the rest; flagged at >= 10 % with a Mann-Whitney
  p < 0.001 of the raw samples inside vs outside. Quiet |shift| 0.6–8 % (two runs 13 % and 22 %, both
  real: visible in their series); contended up to 64 %.
- CPU contention (``OTHER_BUSY_MAX`` = 0.10): other processes (plus hypervisor steal) took more than
  10 % of the job's cores' time during the window. Quiet 0.000–0.010; one busy process on the core
  0.53–0.61; two 0.67–0.73 — the clearest separation of all the checks.
- Timing sanity: a sample non-finite or <= 0, a sample longer than the whole window, samples summing
  to more than the window, the window longer on the device's monotonic clock than on its wall clock
  (by > 1 s + 5 %) or than the host's own wall time for the whole agent process, or one sample > 1 s
  and > 100 x the median: the clock jumped or the device stalled (a +1 h monotonic jump is caught).
- Throttling: ``result["throttle"]["throttled"]`` (vendor flag, a clock drop or a zone at its limit).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

MIN_SAMPLES = 10
CV_MAX = 0.25
CI_REL_WIDTH_MAX = 0.05
MODE_MIN_MASS = 0.20
MODE_MIN_SEPARATION = 0.10
MODE_VALLEY_RATIO = 0.60
SHIFT_MIN_REL = 0.10
SHIFT_P_MAX = 1e-3
SHIFT_MAX_BLOCKS = 50
SHIFT_MIN_BLOCK = 10
SHIFT_MIN_FRACTION = 0.20
OTHER_BUSY_MAX = 0.10
OUTLIER_MIN_MS = 1000.0
OUTLIER_FACTOR = 100.0
CLOCK_TOLERANCE_S = 1.0
CLOCK_TOLERANCE_REL = 0.05
#: Most samples the shape checks look at (evenly spaced, order kept): bounded time for any n.
SHAPE_MAX_SAMPLES = 20000

INVALID = "invalid"
CAUTION = "caution"


def _warn(code: str, message: str, severity: str = INVALID) -> Dict[str, str]:
    return {"code": code, "severity": severity, "message": message}


def _thin(x: np.ndarray, limit: int = SHAPE_MAX_SAMPLES) -> np.ndarray:
    if x.size <= limit:
        return x
    return x[np.linspace(0, x.size - 1, limit).astype(np.int64)]


# -- samples -------------------------------------------------------------------------------------
def modes(latencies_ms: Sequence[float], grid: int = 512) -> List[Dict[str, float]]:
    """Significant modes of the latency density: [{latency_ms, mass}] (main mode first).

    Density of log-latency from a fine histogram smoothed with a Gaussian kernel of Silverman's robust
    bandwidth 0.9·min(std, IQR/1.34)·n^-1/5; modes are local maxima; basins are cut at the minima
    between them; neighbouring modes whose valley is not below MODE_VALLEY_RATIO of the smaller peak,
    that are closer than MODE_MIN_SEPARATION, or that hold less than MODE_MIN_MASS are merged."""
    x = np.log(_thin(np.asarray(latencies_ms, dtype=float)))
    x = x[np.isfinite(x)]
    if x.size < 20:
        return []
    q1, q3 = np.percentile(x, [25, 75])
    spread = min(float(x.std()), float(q3 - q1) / 1.34) or float(x.std())
    if spread <= 0:
        return [{"latency_ms": float(np.exp(x[0])), "mass": 1.0}]
    h = 0.9 * spread * x.size ** -0.2
    lo, hi = float(x.min()) - 3 * h, float(x.max()) + 3 * h
    edges = np.linspace(lo, hi, grid + 1)
    counts, _ = np.histogram(x, bins=edges)
    step = edges[1] - edges[0]
    half = int(math.ceil(4 * h / step))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * step / h) ** 2)
    density = np.convolve(counts.astype(float), kernel / kernel.sum(), mode="same")
    centers = (edges[:-1] + edges[1:]) / 2
    peaks = [i for i in range(1, grid - 1) if density[i] > density[i - 1] and density[i] >= density[i + 1]]
    if not peaks:
        peaks = [int(np.argmax(density))]
    # merge until every neighbouring pair is significant
    while len(peaks) > 1:
        merged = False
        for a, b in zip(peaks, peaks[1:]):
            valley = a + int(np.argmin(density[a:b + 1]))
            smaller = min(density[a], density[b])
            close = centers[b] - centers[a] < math.log1p(MODE_MIN_SEPARATION)
            shallow = density[valley] > MODE_VALLEY_RATIO * smaller
            if close or shallow:
                peaks.remove(a if density[a] < density[b] else b)
                merged = True
                break
        if merged:
            continue
        cuts = [lo] + [centers[a + int(np.argmin(density[a:b + 1]))] for a, b in zip(peaks, peaks[1:])] + [hi]
        masses = [float(np.mean((x >= c0) & (x < c1))) for c0, c1 in zip(cuts, cuts[1:])]
        light = int(np.argmin(masses))
        if masses[light] >= MODE_MIN_MASS:
            break
        peaks.pop(light)
    cuts = [lo] + [centers[a + int(np.argmin(density[a:b + 1]))] for a, b in zip(peaks, peaks[1:])] + [hi + step]
    out = [{"latency_ms": float(np.exp(centers[p])), "mass": float(np.mean((x >= c0) & (x < c1)))}
           for p, c0, c1 in zip(peaks, cuts, cuts[1:])]
    return sorted(out, key=lambda m: -m["mass"])


def level_shift(latencies_ms: Sequence[float]) -> Optional[Dict[str, Any]]:
    """The stretch of the window whose median differs most from the rest (block medians), with its
    relative shift and a Mann-Whitney p-value of the raw samples inside vs outside; None when the
    series is too short (< 4 blocks of SHIFT_MIN_BLOCK)."""
    from .stats import mann_whitney_u

    x = np.asarray(latencies_ms, dtype=float)
    n = x.size
    blocks = min(SHIFT_MAX_BLOCKS, n // SHIFT_MIN_BLOCK)
    if blocks < 4:
        return None
    bounds = np.linspace(0, n, blocks + 1).astype(np.int64)
    med = np.array([np.median(x[bounds[i]:bounds[i + 1]]) for i in range(blocks)])
    if np.any(med <= 0):
        return None
    logm = np.log(med)
    min_len = max(1, int(math.ceil(SHIFT_MIN_FRACTION * blocks)))
    best: Tuple[float, int, int] = (0.0, 0, blocks)
    for i in range(blocks):
        for j in range(i + min_len, blocks + 1):
            if blocks - (j - i) < min_len:
                continue
            inside = float(np.median(logm[i:j]))
            outside = float(np.median(np.concatenate([logm[:i], logm[j:]])))
            if abs(inside - outside) > abs(best[0]):
                best = (inside - outside, i, j)
    diff, i, j = best
    if diff == 0.0:  # every block has the same median: no stretch differs from the rest
        median = float(np.median(x))
        return {"start_sample": 0, "end_sample": n, "shift_rel": 0.0, "p_value": 1.0,
                "inside_median_ms": median, "outside_median_ms": median}
    s0, s1 = int(bounds[i]), int(bounds[j])
    inside = _thin(x[s0:s1], 5000)
    outside = _thin(np.concatenate([x[:s0], x[s1:]]), 5000)
    p = mann_whitney_u(inside, outside)[1] if inside.size and outside.size else 1.0
    return {"start_sample": s0, "end_sample": s1, "shift_rel": float(math.expm1(diff)), "p_value": p,
            "inside_median_ms": float(np.median(x[s0:s1])), "outside_median_ms": float(np.median(outside))}


# -- the verdict --------------------------------------------------------------------------------
def _timing_checks(x: np.ndarray, result: Dict[str, Any], p50: Optional[float]) -> List[Dict[str, str]]:
    out: List[Dict[str, str]] = []
    timing = result.get("timing") if isinstance(result.get("timing"), dict) else {}
    bad = int(np.sum(~np.isfinite(x)))
    nonpos = int(np.sum(np.isfinite(x) & (x <= 0)))
    if bad or nonpos:
        out.append(_warn("timing_insane", "%d non-finite and %d zero/negative latencies: the timer or the result is "
                                          "broken" % (bad, nonpos)))
    window_s = timing.get("window_s")
    finite = x[np.isfinite(x)]
    if isinstance(window_s, (int, float)) and finite.size:
        window_ms = float(window_s) * 1000.0
        if finite.max() > window_ms * (1 + 1e-6) + 1e-3:
            out.append(_warn("timing_insane", "a sample of %.1f ms is longer than the whole %.1f ms window"
                             % (finite.max(), window_ms)))
        elif finite.sum() > window_ms * (1 + 1e-4) + 1e-3:
            out.append(_warn("timing_insane", "the samples add up to %.1f ms, more than the %.1f ms window"
                             % (finite.sum(), window_ms)))
        wall = timing.get("window_wall_s")
        if isinstance(wall, (int, float)) and abs(window_s - wall) > CLOCK_TOLERANCE_S + CLOCK_TOLERANCE_REL * wall:
            out.append(_warn("clock_jump", "the window lasted %.1f s on the device's monotonic clock but %.1f s on its "
                             "wall clock: a clock jumped" % (window_s, wall)))
        host = result.get("host") if isinstance(result.get("host"), dict) else {}
        exec_s = host.get("exec_s")
        if isinstance(exec_s, (int, float)) and exec_s > 0 and window_s > exec_s + CLOCK_TOLERANCE_S:
            out.append(_warn("clock_jump", "the window lasted %.1f s on the device's clock, longer than the %.1f s the "
                             "host saw the whole agent run: the device's clock jumped" % (window_s, exec_s)))
    if p50 and finite.size and finite.max() > OUTLIER_MIN_MS and finite.max() > OUTLIER_FACTOR * p50:
        out.append(_warn("timing_outlier", "one sample took %.0f ms, %.0fx the median %.3f ms: a clock jump or a stall "
                         "of the device" % (finite.max(), finite.max() / p50, p50)))
    return out


def _conditions_checks(result: Dict[str, Any]) -> Tuple[List[Dict[str, str]], Dict[str, Any]]:
    out: List[Dict[str, str]] = []
    figures: Dict[str, Any] = {}
    cond = result.get("conditions") if isinstance(result.get("conditions"), dict) else None
    if cond is None:
        out.append(_warn("conditions_unknown", "the agent recorded no conditions (load, other processes): "
                         "contention cannot be ruled out", CAUTION))
        return out, figures
    during = cond.get("during") if isinstance(cond.get("during"), dict) else {}
    cores = during.get("cores") or []
    ncores = max(1, len(cores))
    other = during.get("other_busy_cores")
    steal = during.get("steal_cores") or 0.0
    seconds = during.get("seconds")
    tick = during.get("tick_s")
    # /proc counts CPU time in ticks (10 ms at USER_HZ 100): over a short window one or two ticks are a
    # large share, so the share carries a resolution of 2 ticks per core over the window
    resolution = (2.0 * tick / (seconds * ncores) if isinstance(tick, (int, float)) and isinstance(seconds, (int, float))
                  and seconds > 0 else 0.0)
    if isinstance(other, (int, float)) and resolution > OTHER_BUSY_MAX:
        figures["other_busy_share"] = None
        out.append(_warn("window_too_short_for_contention", "the window (%.3f s on %d core(s)) is too short for "
                         "/proc's %.0f ms ticks to tell other processes' share: contention cannot be ruled out"
                         % (seconds, ncores, 1000 * tick), CAUTION))
    elif isinstance(other, (int, float)):
        share = min(1.0, (float(other) + float(steal)) / ncores)
        figures["other_busy_share"] = round(share, 3)
        if share > OTHER_BUSY_MAX + resolution:
            top = ", ".join("%s (pid %s) %.2f cores" % (p.get("name"), p.get("pid"), p.get("cores") or 0)
                            for p in (during.get("top_other_processes") or [])[:3])
            what = "other processes" + (" and the hypervisor (steal %.2f cores)" % steal if steal > 0.05 else "")
            out.append(_warn("busy_other_processes", "%s used %.0f %% of the job's %d core(s) during the window "
                             "(limit %.0f %%)%s" % (what, 100 * share, ncores, 100 * OTHER_BUSY_MAX,
                                                   ": " + top if top else "")))
    else:
        out.append(_warn("conditions_unknown", "other processes' CPU time not readable here (%s): contention cannot "
                         "be ruled out" % during.get("other_busy_cores_reason", "no /proc"), CAUTION))
    before = cond.get("before") if isinstance(cond.get("before"), dict) else {}
    load = before.get("loadavg_1m")
    total = ((result.get("device") or {}).get("cpu_cores_logical") if isinstance(result.get("device"), dict) else None)
    if isinstance(load, (int, float)) and isinstance(total, int) and total > 0 and load > total:
        out.append(_warn("high_load", "load average %.2f on %d cores before the job" % (load, total), CAUTION))
    cool = result.get("cooldown") if isinstance(result.get("cooldown"), dict) else None
    if cool is not None and cool.get("reached") is False:
        out.append(_warn("not_cooled", "still %.1f °C after the %.0f s cool-down cap (limit %.1f °C)" % (
            cool.get("end_max_c") or float("nan"), cool.get("max_s") or 0, cool.get("limit_c") or 0), CAUTION))
    return out, figures


def non_finite_checks(result: Dict[str, Any]) -> List[Dict[str, str]]:
    """NaN/inf in any output — of the timed runs (``outputs[].non_finite_count``) or of the accuracy pass
    (``accuracy_pass.non_finite``) — is never a valid measurement: a broken model
    or broken inputs time a path no user runs. One ``invalid`` warning naming each output and its count."""
    found: List[str] = []
    for o in result.get("outputs") or [] if isinstance(result.get("outputs"), list) else []:
        count = o.get("non_finite_count") if isinstance(o, dict) else None
        if isinstance(count, int) and count > 0:
            found.append("%s: %d (timed runs)" % (o.get("name"), count))
    acc = result.get("accuracy_pass") if isinstance(result.get("accuracy_pass"), dict) else {}
    counts = acc.get("non_finite") if isinstance(acc.get("non_finite"), dict) else {}
    for name, count in counts.items():
        if isinstance(count, int) and count > 0:
            found.append("%s: %d (accuracy pass)" % (name, count))
    if not found:
        return []
    return [_warn("non_finite_outputs", "NaN/inf in output(s) %s: the model or its inputs are broken, so its timings "
                  "are not a valid measurement" % ", ".join(found))]


def verdict(result: Dict[str, Any], stats: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The validity of one ok result (see the module docstring for every rule and threshold)."""
    raw = result.get("latencies_ms")
    try:
        x = np.asarray(raw if isinstance(raw, list) else [], dtype=float).ravel()
    except (TypeError, ValueError):
        x = np.asarray([float("nan")])
    stats = stats if stats is not None else (result.get("stats") or {})
    warnings: List[Dict[str, str]] = []
    figures: Dict[str, Any] = {}
    p50 = stats.get("p50_ms")
    warnings += non_finite_checks(result)  # first: the one reason that matters most on a terminal line
    warnings += _timing_checks(x, result, p50)
    finite = x[np.isfinite(x) & (x > 0)]
    n = int(finite.size)
    figures["n"] = n
    if raw is None and result.get("latencies_ms_reason"):
        # a vendor tool's own summary (Android native mode): nothing to check the noise, modes or drift with
        warnings.append(_warn("no_samples", "the tool printed only a summary over %s runs (%s): without per-run "
                              "samples the median's CI, the modes and level shifts cannot be checked; use the "
                              "Python-agent mode (python: in the inventory) for a verifiable figure"
                              % (stats.get("n"), result["latencies_ms_reason"])))
    elif n < MIN_SAMPLES:
        warnings.append(_warn("too_few_samples", "%d samples (need >= %d for a median CI and shape checks)"
                              % (n, MIN_SAMPLES)))
    cv = stats.get("cv")
    if isinstance(cv, (int, float)):
        figures["cv"] = round(float(cv), 4)
        if cv > CV_MAX:
            warnings.append(_warn("high_cv", "CV %.2f above %.2f: the latencies vary too much for one figure"
                                  % (cv, CV_MAX)))
    ci = stats.get("p50_ci95_ms")
    if ci and p50:
        rel = (ci[1] - ci[0]) / p50
        figures["ci95_rel_width"] = round(rel, 4)
        if rel > CI_REL_WIDTH_MAX:
            warnings.append(_warn("wide_ci", "the median's 95 %% CI is %.1f %% of it wide (limit %.0f %%): "
                                  "%.3f–%.3f ms" % (100 * rel, 100 * CI_REL_WIDTH_MAX, ci[0], ci[1])))
    timing = result.get("timing") if isinstance(result.get("timing"), dict) else {}
    target = timing.get("target_ci_pct")
    reached = timing.get("ci95_half_width_pct")
    if target and (reached is None or reached > target):
        warnings.append(_warn("target_ci_not_met", "asked for a median CI half-width of %.2f %%, reached %s (%s)" % (
            target, "%.2f %%" % reached if reached is not None else "none", timing.get("stop_reason", ""))))
    if n >= MIN_SAMPLES:
        found = modes(finite)
        figures["modes"] = [{"latency_ms": round(m["latency_ms"], 4), "mass": round(m["mass"], 3)} for m in found]
        if len(found) > 1:
            warnings.append(_warn("multimodal", "%d latency modes: %s" % (len(found), ", ".join(
                "%.3f ms (%.0f %%)" % (m["latency_ms"], 100 * m["mass"]) for m in found))))
        shift = level_shift(finite)
        if shift is not None:
            figures["level_shift_rel"] = round(shift["shift_rel"], 4)
            if abs(shift["shift_rel"]) >= SHIFT_MIN_REL and shift["p_value"] < SHIFT_P_MAX:
                warnings.append(_warn("level_shift", "samples %d–%d ran %+.0f %% against the rest of the window "
                                      "(median %.3f vs %.3f ms, Mann-Whitney p = %.1g): the device changed state "
                                      "mid-window" % (shift["start_sample"], shift["end_sample"],
                                                      100 * shift["shift_rel"], shift["inside_median_ms"],
                                                      shift["outside_median_ms"], shift["p_value"])))
    throttle = result.get("throttle") if isinstance(result.get("throttle"), dict) else {}
    if throttle.get("throttled"):
        warnings.append(_warn("throttled", "the device throttled during the job: %s"
                              % "; ".join(str(e) for e in (throttle.get("evidence") or [])[:3])))
    cond_warnings, cond_figures = _conditions_checks(result)
    warnings += cond_warnings
    figures.update(cond_figures)
    return {"valid": not any(w["severity"] == INVALID for w in warnings), "warnings": warnings, "figures": figures}


def summary_line(validity: Optional[Dict[str, Any]]) -> str:
    """``valid`` or ``INVALID: code (message); …`` for a terminal line."""
    if not validity:
        return ""
    bad = [w for w in validity.get("warnings", []) if w.get("severity") == INVALID]
    if not bad:
        cautions = [w["code"] for w in validity.get("warnings", [])]
        return "valid" + (" (caution: %s)" % ", ".join(cautions) if cautions else "")
    return "INVALID: " + "; ".join("%s (%s)" % (w["code"], w["message"]) for w in bad)


def short_line(validity: Optional[Dict[str, Any]]) -> str:
    """``valid`` or ``INVALID: wide_ci, level_shift`` — the codes only, for a job's terminal line (the messages,
    with their figures, are in the report and in summary_line)."""
    if not validity:
        return ""
    bad = [w["code"] + (" (%s)" % w.get("message") if w["code"] in DETAILED_CODES else "")
           for w in validity.get("warnings", []) if w.get("severity") == INVALID]
    if not bad:
        cautions = [w["code"] for w in validity.get("warnings", [])]
        return "valid" + (" (caution: %s)" % ", ".join(cautions) if cautions else "")
    return "INVALID: " + ", ".join(bad)


#: Codes whose message (which output, how many values) a job's terminal line carries beside the code.
DETAILED_CODES = ("non_finite_outputs",)


# -- rounds --------------------------------------------------------------------------------------
#: Between-round spread of medians that invalidates a group, beside 3x the mean within-run CI half-width.
ROUNDS_SPREAD_MAX = 0.05


def rounds_spread(medians_ms: Sequence[float], half_widths_rel: Sequence[Optional[float]]) -> Dict[str, Any]:
    """Between-round spread ((max - min) / median of the round medians) beside the within-run one (the
    mean relative half-width of the rounds' median CIs); ``agree`` False when the rounds differ by more
    than both ROUNDS_SPREAD_MAX and 3x the within-run half-width (the runs do not reproduce)."""
    m = np.asarray([v for v in medians_ms if v], dtype=float)
    within = [w for w in half_widths_rel if w is not None]
    out: Dict[str, Any] = {"rounds": int(m.size), "round_p50_ms": [float(v) for v in m]}
    if m.size < 2:
        out.update(between_rel=None, within_rel=None, agree=None)
        return out
    between = float((m.max() - m.min()) / np.median(m))
    within_rel = float(np.mean(within)) if within else None
    limit = max(ROUNDS_SPREAD_MAX, 3 * (within_rel or 0.0))
    out.update(between_rel=between, within_rel=within_rel, agree=between <= limit, limit_rel=limit)
    return out


def round_groups(results: Sequence[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """For each job measured in several rounds (same ``plan.group``): its rounds' spread (``rounds_spread``)."""
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for r in results:
        plan = r.get("plan") if isinstance(r.get("plan"), dict) else {}
        if r.get("status") == "ok" and plan.get("round"):
            groups.setdefault(plan.get("group") or r.get("job_id", ""), []).append(r)
    out: Dict[str, Dict[str, Any]] = {}
    for group, members in groups.items():
        medians, halves = [], []
        for r in sorted(members, key=lambda r: r["plan"]["round"]):
            p50 = (r.get("stats") or {}).get("p50_ms")
            ci = (r.get("stats") or {}).get("p50_ci95_ms")
            medians.append(p50)
            halves.append((ci[1] - ci[0]) / 2 / p50 if ci and p50 else None)
        out[group] = rounds_spread(medians, halves)
    return out


def invalid_jobs(results: Sequence[Dict[str, Any]]) -> List[str]:
    """Ids of measured jobs judged not valid, and of round groups whose rounds disagree (for --strict)."""
    bad = [r.get("job_id", "?") for r in results
           if r.get("status") == "ok" and not ((r.get("validity") or {"valid": True}).get("valid"))]
    for group, spread in round_groups(results).items():
        if spread.get("agree") is False:
            bad.append("%s (rounds differ by %.0f %%)" % (group, 100 * spread["between_rel"]))
    return bad
