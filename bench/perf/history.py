"""``python -m bench.perf.history`` (``make perf-history``): size and speed of the history catalogue on a
synthetic history — by default 10,000 jobs and 5,000,000 raw latencies (200 runs × 50 jobs × 500 samples,
one run a day, 2 devices × 5 models × 5 variants), written as real run folders (manifest.json, jobs/*.json
that pass the result schema) in a temporary folder.

Prints: the catalogue's size on disk; the full build; a no-op update (nothing changed); adding one new run
before (a full scan, ``update``) and after issue 26 (by id, ``update_runs``, what a run's report does now);
and the median of ``--repeat`` timings of each query. Figures are this machine's, printed, never
asserted by a test.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

DEVICES = ["jetson-orin", "rpi5"]
MODELS = ["tinybert-4", "tinybert-6", "mobilebert", "distilbert", "minilm-l6"]
VARIANTS = ["onnx-fp32", "onnx-int8-dynamic", "onnx-fp16", "tflite-fp32", "tflite-int8"]


def _job(run_id: str, when: datetime.datetime, device: str, model: str, variant: str, lat: np.ndarray,
         slow: bool) -> Dict[str, Any]:
    from ..analysis.stats import summarize

    runtime = "litert" if variant.startswith("tflite") else "onnxruntime"
    job_id = "%s--%s--%s--%s" % (device, model, variant, runtime)
    latencies = [round(float(x), 6) for x in lat]
    return {"job_id": job_id, "status": "ok", "device_name": device, "model_name": model, "variant": variant,
            "runtime_name": runtime, "latencies_ms": latencies, "stats": summarize(latencies),
            "timing": {"runs": len(latencies), "window_s": float(lat.sum()) / 1000.0, "load_ms": 50.0,
                       "first_inference_ms": float(lat[0]) * 2},
            "validity": {"valid": True, "warnings": []}, "runtime": {"name": runtime, "version": "1.0"},
            "plan": {"job_id": job_id, "group": job_id, "runtime_options": {}, "round": 0, "measure": {"seq_len": 128}},
            "started_at": when.isoformat(timespec="seconds") + "+00:00",
            "finished_at": when.isoformat(timespec="seconds") + "+00:00",
            "memory": {"peak_over_baseline_bytes": 50_000_000}, "synthetic": {"slow": slow}}


def write_history(base: Path, runs: int, jobs_per_run: int, samples: int, seed: int = 0) -> Tuple[int, int]:
    """``runs`` run folders under ``base``; one configuration gets a 30 % slower run at 3/4 of the history.
    Returns (jobs, samples) written."""
    rng = np.random.default_rng(seed)
    configs = [(d, m, v) for d in DEVICES for m in MODELS for v in VARIANTS][:jobs_per_run]
    level = {c: 5.0 + 45.0 * rng.random() for c in configs}
    start = datetime.datetime(2026, 1, 1, 8, 0, 0)
    n_jobs = n_samples = 0
    for i in range(runs):
        when = start + datetime.timedelta(days=i)
        run_id = when.strftime("%Y%m%d-%H%M%S-") + "%04x" % i
        root = base / run_id
        (root / "jobs").mkdir(parents=True)
        planned = []
        for c in configs:
            slow = c == configs[0] and i == (3 * runs) // 4
            lat = level[c] * (1.3 if slow else 1.0) * (1 + 0.02 * rng.standard_normal()) * \
                rng.lognormal(0.0, 0.05, samples)
            job = _job(run_id, when, *c, lat, slow)
            (root / "jobs" / (job["job_id"] + ".json")).write_text(json.dumps(job))
            planned.append({"job_id": job["job_id"]})
            n_jobs += 1
            n_samples += samples
        manifest = {"run_id": run_id, "created_at": when.isoformat(timespec="seconds") + "+00:00",
                    "command": ["synthetic"], "state": "complete", "jobs": planned}
        (root / "manifest.json").write_text(json.dumps(manifest))
    return n_jobs, n_samples


def _time(fn: Callable[[], Any], repeat: int) -> Tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv: List[str] = None) -> int:
    from ..history.catalogue import Filters, open_catalog
    from ..report.history_view import changes, judged_points

    ap = argparse.ArgumentParser(prog="python -m bench.perf.history", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--jobs-per-run", type=int, default=50)
    ap.add_argument("--samples", type=int, default=500, help="latencies per job")
    ap.add_argument("--repeat", type=int, default=5, help="timings per query (median printed)")
    ap.add_argument("--dir", help="keep the synthetic history here (default: a temporary folder, removed)")
    args = ap.parse_args(argv)
    tmp = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="edgebench-perf-history-"))
    try:
        base = tmp / "results"
        t0 = time.perf_counter()
        n_jobs, n_samples = write_history(base, args.runs, args.jobs_per_run, args.samples)
        json_bytes = sum(p.stat().st_size for p in base.glob("*/jobs/*.json"))
        print("synthetic history: %d runs, %d jobs, %d samples, %.1f MB of job JSON (written in %.1f s)"
              % (args.runs, n_jobs, n_samples, json_bytes / 1e6, time.perf_counter() - t0))
        rows: List[Tuple[str, str]] = []
        t0 = time.perf_counter()
        cat = open_catalog(base, log=lambda line: None)
        rows.append(("full build (empty catalogue → %d runs)" % args.runs, "%.2f s" % (time.perf_counter() - t0)))
        cat.con.execute("CHECKPOINT")
        size = cat.path.stat().st_size
        rows.append(("catalogue size on disk", "%.1f MB (%.1f bytes per sample)" % (size / 1e6, size / n_samples)))
        t, _ = _time(lambda: cat.update(log=lambda line: None), args.repeat)
        rows.append(("no-op update (nothing changed; %d folders fingerprinted)" % args.runs, "%.3f s" % t))
        # adding the run that just finished (what its report does): before issue 26 a full scan of every folder
        # (``update``), now by id (``update_runs``); each timing adds its own fresh run, medians of --repeat
        last = sorted(p for p in base.iterdir() if p.is_dir())[-1]
        full_t, by_id_t = [], []
        for i in range(args.repeat):
            for kind, times in (("full", full_t), ("by_id", by_id_t)):
                new = base / (last.name[:-4] + "%04x" % (0xf000 + 2 * i + (kind == "by_id")))
                shutil.copytree(last, new)
                t0 = time.perf_counter()
                rep = cat.update(log=lambda line: None) if kind == "full" else \
                    cat.update_runs([new.name], log=lambda line: None)
                times.append(time.perf_counter() - t0)
                assert rep.indexed == [new.name], rep.indexed
        before, after = statistics.median(full_t), statistics.median(by_id_t)
        rows.append(("add one new run (%d jobs), before: full scan of %d+ folders (update)"
                     % (args.jobs_per_run, args.runs), "%.3f s (min %.3f, max %.3f)" % (before, min(full_t), max(full_t))))
        rows.append(("add one new run (%d jobs), after: by id (update_runs, the report's path)" % args.jobs_per_run,
                     "%.3f s (min %.3f, max %.3f)  %.0fx faster" % (after, min(by_id_t), max(by_id_t),
                                                                   before / after if after > 0 else float("inf"))))
        one = Filters(device=[DEVICES[0]], model=[MODELS[0]], variant=[VARIANTS[0]])
        queries: List[Tuple[str, Callable[[], Any]]] = [
            ("p50 over time, one model/variant/device (points)", lambda: cat.points(one)),
            ("all runs of one device", lambda: cat.runs(Filters(device=[DEVICES[1]]))),
            ("all job rows of one device", lambda: cat.jobs(Filters(device=[DEVICES[1]]))),
            ("regressions over the whole history (points + detect)", lambda: judged_points(cat, Filters())),
            ("changes between two dates", lambda: changes(cat, Filters(since=datetime.datetime(2026, 3, 1),
                                                                        until=datetime.datetime(2026, 6, 1)))),
            ("raw samples of one configuration (all runs)", lambda: cat.samples(one)),
            ("p99 recomputed from all %d samples, per device/model/variant" % n_samples,
             lambda: cat.sql("SELECT device, model, variant, quantile_cont(latency_ms, 0.99) AS p99_ms "
                             "FROM samples_v GROUP BY ALL")),
        ]
        for name, fn in queries:
            t, out = _time(fn, args.repeat)
            rows.append(("query: %s → %d rows" % (name, len(out)), "%.1f ms" % (1000 * t)))
        judged = judged_points(cat, Filters())
        flagged = judged[judged["verdict"] == "slower"]
        cat.close()
        width = max(len(a) for a, _ in rows)
        for a, b in rows:
            print("  %s  %s" % (a.ljust(width), b))
        print("regressions found: %d (%s); the synthetic history has one injected 30 %% slower run"
              % (len(flagged), ", ".join("%s %s/%s/%s" % (r.run_id, r.device, r.model, r.variant)
                                         for r in flagged.itertuples())))
    finally:
        if not args.dir:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
