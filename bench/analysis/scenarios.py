"""What a scenario's measurements mean: the steady state of a sustained run, the step where the device fell off
(when and how much) and its cause from the evidence recorded with each interval; the real-time boundary of a
sweep against a latency budget.

Sustained (the agent's ``scenario.intervals``, device_agents/scenarios.py):
- ``first_p50_ms``: the first interval's p50; ``steady_p50_ms``: the median p50 of the last third of the
  intervals (at least one); ``slowdown`` = steady / first.
- a step: the least-squares split of the intervals' log p50 series (the single change point that best separates
  two levels, so a step in stages is placed at its first stage); it is a step when the shift of the two sides'
  medians is at least ``STEP_MIN`` (10 %) and at least ``STEP_NOISE`` times the series' own noise (1.4826 x the
  MAD of the residuals about the two medians), with at least ``MIN_SIDE`` intervals on each side. ``onset_s`` is the start of the first interval after the split.
- the cause, only from recorded evidence, comparing the intervals before and after the onset (or the first and
  the last third when there is a slowdown but no step): ``contention`` (other processes' share of the job's
  cores rose by at least ``CONTENTION_MIN``), ``thermal`` (the temperature rose by at least ``TEMP_RISE_C`` and
  a throttle flag or a clock drop of ``FREQ_DROP`` followed), ``frequency`` (the clock dropped by ``FREQ_DROP``
  without heat evidence), ``unknown`` (none of these was recorded), ``none`` (no slowdown to explain). The
  evidence is quoted with the verdict; a cause is never guessed.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Dict, List, Optional, Sequence, Tuple

STEP_MIN = 0.10
STEP_NOISE = 3.0
MIN_SIDE = 2
CONTENTION_MIN = 0.20
TEMP_RISE_C = 3.0
FREQ_DROP = 0.10
#: A slowdown below this (steady / first - 1) has nothing to explain.
SLOWDOWN_MIN = 0.10


def _mean(values: Sequence[Optional[float]]) -> Optional[float]:
    xs = [float(v) for v in values if isinstance(v, (int, float))]
    return sum(xs) / len(xs) if xs else None


def find_step(p50s: Sequence[float]) -> Optional[Tuple[int, float, float]]:
    """(index of the first interval after the step, relative shift, noise) of the strongest single step in a
    series of positive p50s, or None when there is no significant one (see the module docstring)."""
    n = len(p50s)
    if n < 2 * MIN_SIDE:
        return None
    y = [math.log(v) for v in p50s]
    best: Optional[Tuple[float, int]] = None
    for k in range(MIN_SIDE, n - MIN_SIDE + 1):  # where: the least-squares split (a step in several stages is
        a, b = statistics.fmean(y[:k]), statistics.fmean(y[k:])  # placed at its first stage, not its last)
        score = (b - a) ** 2 * k * (n - k) / n
        if best is None or score > best[0]:
            best = (score, k)
    assert best is not None
    _, k = best
    a, b = statistics.median(y[:k]), statistics.median(y[k:])  # how much, and whether: robust medians
    diff = b - a
    residuals = [v - a for v in y[:k]] + [v - b for v in y[k:]]
    noise = 1.4826 * statistics.median(abs(r - statistics.median(residuals)) for r in residuals)
    if abs(math.expm1(diff)) < STEP_MIN or abs(diff) < STEP_NOISE * noise:
        return None
    return k, math.expm1(diff), noise


def _cause(before: List[Dict[str, Any]], after: List[Dict[str, Any]], at: str) -> Tuple[str, List[str]]:
    """(cause, evidence lines) from two groups of intervals."""
    evidence: List[str] = []
    ob, oa = _mean([i.get("other_busy_share") for i in before]), _mean([i.get("other_busy_share") for i in after])
    if ob is not None and oa is not None and oa - ob >= CONTENTION_MIN:
        top = next((i.get("top_other") for i in after if i.get("top_other")), None)
        evidence.append("other processes' share of the job's cores rose from %.0f %% to %.0f %% %s%s" % (
            100 * ob, 100 * oa, at, " (busiest: %s)" % top if top else ""))
        return "contention", evidence
    tb, ta = _mean([i.get("temp_c") for i in before]), _mean([i.get("temp_c") for i in after])
    fb, fa = _mean([i.get("freq_mhz") for i in before]), _mean([i.get("freq_mhz") for i in after])
    flagged = any(i.get("throttled") for i in after) and not any(i.get("throttled") for i in before)
    dropped = fb is not None and fa is not None and fb > 0 and (fb - fa) / fb >= FREQ_DROP
    hot = tb is not None and ta is not None and ta - tb >= TEMP_RISE_C
    if hot and (flagged or dropped):
        evidence.append("temperature rose from %.1f to %.1f °C %s" % (tb, ta, at))
        if dropped:
            evidence.append("CPU clock fell from %.0f to %.0f MHz" % (fb, fa))
        if flagged:
            evidence.append("the throttle flag was set")
        return "thermal", evidence
    if dropped:
        evidence.append("CPU clock fell from %.0f to %.0f MHz %s without a temperature rise%s" % (
            fb, fa, at, " (%.1f -> %.1f °C)" % (tb, ta) if tb is not None and ta is not None else
            " (no temperature sensor)"))
        return "frequency", evidence
    recorded = [name for name, v in (("other processes' CPU", ob), ("temperature", tb), ("CPU clock", fb))
                if v is not None]
    evidence.append("no recorded change explains it (recorded: %s)" % (", ".join(recorded) or "nothing"))
    return "unknown", evidence


def analyse_sustained(scenario: Dict[str, Any]) -> Dict[str, Any]:
    """``scenario.sustained`` of a sustained job (see the module docstring)."""
    rows = [i for i in scenario.get("intervals") or [] if isinstance(i, dict)
            and isinstance(i.get("p50_ms"), (int, float)) and i["p50_ms"] > 0]
    out: Dict[str, Any] = {"first_p50_ms": None, "steady_p50_ms": None, "slowdown": None, "onset_s": None,
                           "step_rel": None, "cause": None, "evidence": [],
                           "method": "steady state = median p50 of the last third of the intervals; step = strongest "
                                     "single split of log p50 (>= %.0f %% and >= %.0fx the series' noise); cause from "
                                     "the recorded conditions only (bench/analysis/scenarios.py)"
                                     % (100 * STEP_MIN, STEP_NOISE)}
    if not rows:
        out["reason"] = "no interval with a p50"
        return out
    third = max(1, len(rows) // 3)
    first = float(rows[0]["p50_ms"])
    steady = statistics.median(float(r["p50_ms"]) for r in rows[-third:])
    out.update(first_p50_ms=first, steady_p50_ms=steady, slowdown=steady / first)
    step = find_step([float(r["p50_ms"]) for r in rows])
    if step is not None:
        k, rel, noise = step
        onset = float(rows[k]["t_s"])
        out.update(onset_s=onset, step_rel=rel, noise_rel=math.expm1(noise))
        window = max(MIN_SIDE, min(5, k, len(rows) - k))
        out["cause"], out["evidence"] = _cause(rows[max(0, k - window):k], rows[k:k + window], "at %.0f s" % onset)
    elif abs(steady / first - 1) >= SLOWDOWN_MIN and len(rows) >= 2:
        out["cause"], out["evidence"] = _cause(rows[:third], rows[-third:], "between the start and the steady state")
    else:
        out["cause"] = "none"
        out["evidence"] = ["no step and no slowdown of %.0f %% or more" % (100 * SLOWDOWN_MIN)]
    return out


def budget_boundary(rows: List[Dict[str, Any]], budget_ms: float) -> List[Dict[str, Any]]:
    """Per configuration (device, model, variant, runtime) of a sweep: the largest swept value whose p99 meets
    ``budget_ms``, and the smallest that misses it. ``rows`` are the tables' job rows with ``sweep`` and
    ``sweep_value``."""
    groups: Dict[Tuple[Any, ...], List[Dict[str, Any]]] = {}
    for r in rows:
        if "sweep_not_applied" in str(r.get("validity_warnings") or ""):
            continue  # it ran another shape than its swept value: not a point of the sweep
        if r.get("sweep") and r.get("sweep_value") is not None:
            groups.setdefault((r.get("device"), r.get("model"), r.get("variant"), r.get("runtime"), r["sweep"]),
                              []).append(r)
    out = []
    for (device, model, variant, runtime, sweep), members in sorted(groups.items(), key=lambda kv: str(kv[0])):
        members = sorted(members, key=lambda r: r["sweep_value"])
        ok = [r for r in members if isinstance(r.get("p99_ms"), (int, float)) and r["p99_ms"] <= budget_ms]
        miss = [r for r in members if isinstance(r.get("p99_ms"), (int, float)) and r["p99_ms"] > budget_ms]
        best = max(ok, key=lambda r: r["sweep_value"]) if ok else None
        first_miss = min((r for r in miss if best is None or r["sweep_value"] > best["sweep_value"]),
                         key=lambda r: r["sweep_value"], default=None)
        out.append({"device": device, "model": model, "variant": variant, "runtime": runtime, "sweep": sweep,
                    "budget_ms": budget_ms, "largest_meeting": best["sweep_value"] if best else None,
                    "its_p99_ms": best["p99_ms"] if best else None,
                    "first_missing": first_miss["sweep_value"] if first_miss else None,
                    "missing_p99_ms": first_miss["p99_ms"] if first_miss else None,
                    # a boundary decided by jobs judged not valid is shown, and said to be so
                    "decided_by_invalid": any(r is not None and r.get("valid") == "NO" for r in (best, first_miss)),
                    "values": [r["sweep_value"] for r in members]})
    return out


def boundary_text(b: Dict[str, Any]) -> str:
    """One line for the headline: ``seq-len <= 128 meets p99 <= 33 ms (p99 31.2 ms); 256 misses (61.0 ms)``."""
    if b["largest_meeting"] is None:
        return "no swept %s meets p99 <= %g ms (smallest tried: %s)" % (b["sweep"], b["budget_ms"], b["values"][0])
    text = "%s <= %s meets p99 <= %g ms (p99 %.3g ms)" % (b["sweep"], b["largest_meeting"], b["budget_ms"],
                                                        b["its_p99_ms"])
    if b["first_missing"] is not None:
        text += "; %s misses (p99 %.3g ms)" % (b["first_missing"], b["missing_p99_ms"])
    if b.get("decided_by_invalid"):
        text += " — from jobs judged NOT valid (see Validity): measure again on a quiet device"
    return text


def rank_change(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Sustained jobs of one device ranked by their first-interval p50 and by their steady p50 (1 = fastest), with
    ``changed`` where the ranking at the start is not the ranking at steady state."""
    done = [r for r in rows if isinstance(r.get("first_p50_ms"), (int, float))
            and isinstance(r.get("steady_p50_ms"), (int, float))]
    start = {id(r): k for k, r in enumerate(sorted(done, key=lambda r: r["first_p50_ms"]), 1)}
    steady = {id(r): k for k, r in enumerate(sorted(done, key=lambda r: r["steady_p50_ms"]), 1)}
    return [dict(r, rank_start=start[id(r)], rank_steady=steady[id(r)],
                 changed="yes" if start[id(r)] != steady[id(r)] else "") for r in
            sorted(done, key=lambda r: steady[id(r)])]


def scenario_columns(result: Dict[str, Any]) -> Dict[str, Any]:
    """The table columns of a job's scenario, sweep and budget (empty values for a single-window job)."""
    sc = result.get("scenario") if isinstance(result.get("scenario"), dict) else {}
    sus = sc.get("sustained") if isinstance(sc.get("sustained"), dict) else {}
    st = sc.get("stream") if isinstance(sc.get("stream"), dict) else {}
    off = sc.get("offline") if isinstance(sc.get("offline"), dict) else {}
    plan = result.get("plan") if isinstance(result.get("plan"), dict) else {}
    sweep = plan.get("sweep") if isinstance(plan.get("sweep"), dict) else {}
    budget = plan.get("budget_ms")
    p99 = (result.get("stats") or {}).get("p99_ms")
    if st.get("p99_ms") is not None:
        p99 = st["p99_ms"]  # a stream is held to its latency from arrival
    return {
        "scenario": sc.get("name") or "single",
        "first_p50_ms": sus.get("first_p50_ms"), "steady_p50_ms": sus.get("steady_p50_ms"),
        "slowdown": sus.get("slowdown"), "onset_s": sus.get("onset_s"), "cause": sus.get("cause"),
        "stream_fps": st.get("fps"), "deadline_ms": st.get("deadline_ms"), "miss_rate": st.get("miss_rate"),
        "dropped": st.get("dropped"), "sustainable": ("yes" if st.get("sustainable") else "NO") if st else None,
        "offline_max_per_s": off.get("max_inferences_per_s"), "offline_best_batch": off.get("best_batch"),
        "sweep": sweep.get("name"), "sweep_value": sweep.get("value"), "budget_ms": budget,
        "meets_budget": (("yes" if p99 <= budget else "NO") if isinstance(p99, (int, float)) and budget else None),
    }
