"""``python -m bench compare RUN_A RUN_B``: is B faster, slower, or not distinguishable from A?

Jobs are paired by a key (default: device, model, variant, runtime and runtime options — the same
job in both runs; ``--by device,model`` pairs e.g. an fp32 run with an int8 run). The rounds of a
``--rounds`` run are pooled. For each pair:

- ratio = median(B) / median(A) (< 1: B is faster), with a 95 % percentile-bootstrap CI (independent
  resamples of each side, ``RESAMPLES`` times, index chunks of bounded memory; at most ``BOOT_MAX_N``
  evenly spaced samples per side, which only widens the CI);
- a two-sided Mann-Whitney U test (scipy) and its effect size, Cliff's delta = P(B > A) − P(B < A)
  (−1: every B sample is faster than every A sample; 0: no tendency);
- verdict: ``faster`` / ``slower`` when p < ``ALPHA``, the ratio's CI excludes 1, and the change is
  larger than the noise floor — ``max(threshold, the between-round spread of either run)`` — else
  ``no significant difference``. The floor is there because on a shared host two runs of the same
  configuration taken minutes apart differ by up to ~15 % (figures in README "Validity"), far beyond
  what the within-run samples predict; the threshold defaults to 10 % (asv's default factor 1.1).
Jobs judged not valid are compared all the same, with a caution naming their warnings.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .stats import bootstrap_medians, mann_whitney_u
from .validity import round_groups

DEFAULT_KEY = ("device", "model", "variant", "runtime", "options")
ALPHA = 0.05
DEFAULT_THRESHOLD = 0.10
RESAMPLES = 2000
BOOT_MAX_N = 100_000


class CompareError(ValueError):
    pass


def _key(result: Dict[str, Any], fields: Sequence[str]) -> Tuple[str, ...]:
    plan = result.get("plan") if isinstance(result.get("plan"), dict) else {}
    values = {"device": result.get("device_name"), "model": result.get("model_name"), "variant": result.get("variant"),
              "runtime": result.get("runtime_name"),
              "options": json.dumps(plan.get("runtime_options") or {}, sort_keys=True)}
    return tuple(str(values[f]) for f in fields)


def _groups(results: Sequence[Dict[str, Any]], fields: Sequence[str],
            run_id: str) -> Dict[Tuple[str, ...], Dict[str, Any]]:
    """key -> {latencies (rounds pooled), job ids, invalid warnings, between-round spread}."""
    spreads = round_groups(results)
    out: Dict[Tuple[str, ...], Dict[str, Any]] = {}
    for r in results:
        if r.get("status") != "ok" or not isinstance(r.get("latencies_ms"), list):
            continue
        key = _key(r, fields)
        g = out.setdefault(key, {"latencies": [], "jobs": set(), "groups": set(), "invalid": [], "between": None,
                                 "label": "%s/%s/%s/%s" % (r.get("device_name"), r.get("model_name"),
                                                           r.get("variant"), r.get("runtime_name"))})
        plan = r.get("plan") if isinstance(r.get("plan"), dict) else {}
        group = plan.get("group") or r.get("job_id")
        g["groups"].add(group)
        g["jobs"].add(r.get("job_id"))
        g["latencies"].extend(v for v in r["latencies_ms"] if isinstance(v, (int, float)))
        validity = r.get("validity") or {}
        if validity.get("valid") is False:
            g["invalid"].append("%s (%s)" % (r.get("job_id"), ", ".join(
                w["code"] for w in validity.get("warnings", []) if w.get("severity") == "invalid")))
        spread = spreads.get(group)
        if spread and spread.get("between_rel") is not None:
            g["between"] = max(g["between"] or 0.0, spread["between_rel"])
    for key, g in out.items():
        if len(g["groups"]) > 1:
            raise CompareError("run %s has %d different jobs for %s = %s (%s): pair them by more fields with --by"
                               % (run_id, len(g["groups"]), ",".join(fields), "/".join(key),
                                  ", ".join(sorted(g["groups"]))[:300]))
    return out


def _thin(x: np.ndarray) -> np.ndarray:
    if x.size <= BOOT_MAX_N:
        return x
    return x[np.linspace(0, x.size - 1, BOOT_MAX_N).astype(np.int64)]


#: Smallest |Cliff's delta| for a faster/slower verdict (Romano et al. 2006: below 0.147 is negligible).
MIN_EFFECT = 0.147


def compare_samples(a: Sequence[float], b: Sequence[float], threshold: float = DEFAULT_THRESHOLD,
                    noise_floor: float = 0.0, seed: int = 0) -> Dict[str, Any]:
    """The statistics and verdict of B against A (latencies in ms; see the module docstring)."""
    xa = np.asarray(a, dtype=float)
    xb = np.asarray(b, dtype=float)
    xa, xb = xa[np.isfinite(xa)], xb[np.isfinite(xb)]
    if xa.size < 2 or xb.size < 2:
        raise CompareError("need at least 2 samples on each side (have %d and %d)" % (xa.size, xb.size))
    ma, mb = float(np.median(xa)), float(np.median(xb))
    boot_a = bootstrap_medians(_thin(xa), RESAMPLES, seed)
    boot_b = bootstrap_medians(_thin(xb), RESAMPLES, seed + 1)
    ratios = boot_b / boot_a
    lo, hi = (float(v) for v in np.quantile(ratios, [ALPHA / 2, 1 - ALPHA / 2]))
    u_b, p_value = mann_whitney_u(xb, xa)  # u_b: pairs where B > A (ties count half)
    cliffs = 2.0 * u_b / (xa.size * xb.size) - 1.0
    ratio = mb / ma
    floor = max(threshold, noise_floor)
    # a real difference also shows in most pairs of samples: |Cliff's delta| >= 0.147 (Romano et al.'s
    # "small"); two noisy runs of one configuration can differ in median while overlapping almost entirely
    significant = p_value < ALPHA and (hi < 1.0 or lo > 1.0) and abs(cliffs) >= MIN_EFFECT
    if significant and ratio <= 1.0 / (1.0 + floor):
        verdict = "faster"
    elif significant and ratio >= 1.0 + floor:
        verdict = "slower"
    else:
        verdict = "no significant difference"
    out = {"n_a": int(xa.size), "n_b": int(xb.size), "p50_a_ms": ma, "p50_b_ms": mb, "ratio": ratio,
           "ratio_ci95": [lo, hi], "mann_whitney_u": u_b, "p_value": float(p_value), "cliffs_delta": cliffs,
           "noise_floor": floor, "verdict": verdict}
    if verdict == "no significant difference" and significant:
        out["note"] = "statistically different (p = %.2g) but by %.1f %%, within the %.0f %% noise floor" % (
            p_value, 100 * abs(ratio - 1), 100 * floor)
    elif verdict == "no significant difference" and p_value < ALPHA and abs(cliffs) < MIN_EFFECT:
        out["note"] = ("medians differ by %.1f %% (p = %.2g) but the samples overlap almost entirely (Cliff's delta "
                       "%+.2f, below %.3f)" % (100 * abs(ratio - 1), p_value, cliffs, MIN_EFFECT))
    return out


def compare_runs(results_a: Sequence[Dict[str, Any]], results_b: Sequence[Dict[str, Any]], run_a: str, run_b: str,
                 by: Sequence[str] = DEFAULT_KEY, threshold: float = DEFAULT_THRESHOLD) -> Dict[str, Any]:
    """Every pair of jobs present in both runs under the key ``by``, compared."""
    unknown = [f for f in by if f not in DEFAULT_KEY]
    if unknown or not by:
        raise CompareError("--by %s: choose among %s" % (",".join(by), ",".join(DEFAULT_KEY)))
    ga, gb = _groups(results_a, by, run_a), _groups(results_b, by, run_b)
    pairs = []
    for key in [k for k in ga if k in gb]:
        a, b = ga[key], gb[key]
        spreads = [s for s in (a["between"], b["between"]) if s is not None]
        row = {"key": dict(zip(by, key)), "a": a["label"], "b": b["label"],
               "rounds_spread": max(spreads) if spreads else None}
        row.update(compare_samples(a["latencies"], b["latencies"], threshold, max(spreads) if spreads else 0.0))
        cautions = ["run A %s" % w for w in a["invalid"]] + ["run B %s" % w for w in b["invalid"]]
        if cautions:
            row["caution"] = "not valid: " + "; ".join(cautions[:6]) + (" …" if len(cautions) > 6 else "")
        pairs.append(row)
    only_a = sorted("/".join(k) for k in ga if k not in gb)
    only_b = sorted("/".join(k) for k in gb if k not in ga)
    return {"run_a": run_a, "run_b": run_b, "by": list(by), "threshold": threshold, "pairs": pairs,
            "only_in_a": only_a, "only_in_b": only_b}


def describe(report: Dict[str, Any]) -> str:
    """The comparison as text: one line per pair, then what could not be paired."""
    lines = ["compare %s (A) → %s (B), paired by %s; ratio = p50 B / p50 A, 95 %% bootstrap CI"
             % (report["run_a"], report["run_b"], ",".join(report["by"]))]
    for p in report["pairs"]:
        what = {"faster": "B is FASTER", "slower": "B is SLOWER"}.get(p["verdict"], "no significant difference")
        lines.append("%s vs %s: %s — p50 %.3f → %.3f ms, ratio %.3f (CI %.3f–%.3f), Mann-Whitney p = %.2g, "
                     "Cliff's delta %+.2f, noise floor %.0f %%" % (
                         p["a"], p["b"], what, p["p50_a_ms"], p["p50_b_ms"], p["ratio"], p["ratio_ci95"][0],
                         p["ratio_ci95"][1], p["p_value"], p["cliffs_delta"], 100 * p["noise_floor"]))
        for extra in ("note", "caution"):
            if p.get(extra):
                lines.append("    %s: %s" % (extra, p[extra]))
    if not report["pairs"]:
        lines.append("no job is in both runs under this key; pair different configurations with --by device,model")
    for side in ("only_in_a", "only_in_b"):
        if report[side]:
            lines.append("%s: %s" % (side.replace("_", " "), ", ".join(report[side][:10])))
    return "\n".join(lines)


def main_compare(store_a: Any, store_b: Any, by: Optional[List[str]], threshold: float, as_json: bool) -> str:
    report = compare_runs(store_a.results(), store_b.results(), store_a.run_id, store_b.run_id,
                          tuple(by) if by else DEFAULT_KEY, threshold)
    return json.dumps(report, indent=1, sort_keys=True) if as_json else describe(report)
