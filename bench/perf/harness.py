"""``make perf``: the harness's own overhead, measured (not asserted in tests).

For each model, alternating ``rounds`` times on the local device through the full harness:
  A. a normal job (profiling off): the harness's p50;
  B. the same job with ONNX Runtime's built-in profiler: ORT's own ``model_run`` p50 and the harness's
     p50 of the very same calls.
Ratios: A.p50 / B.ort_p50 (what a user sees vs ORT's own time) and B.p50 / B.ort_p50 (timer wrapper
only). Also prints the host-side wall time per job (deploy + process start + load + measurement).
Every round prints its validity (bench.analysis.validity); ratios come from valid rounds only.

Sections (``python -m bench.perf.harness [cost] [harness] [sampler] [energy] [stream] [ceilings]``, default all):
the harness's own cost (a one-job and a 16-job ``bench run`` as a user types it, interleaved with a raw
script that loads the same model and runs it the same number of times, and where the time goes phase by
phase), sampler overhead, energy integration against known energy, the bandwidth kernels side by side with
STREAM compiled from its public source (bench/perf/stream_ref.py), and the spread of the measured ORT fp32
peak over back-to-back measurements, before (one best-of-10) and now (until stable).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from device_agents.phases import MEASURED_PHASES

from ..cli.plan_args import zoo_artifacts
from ..plan.inventory import local_device
from ..plan.jobs import ArtifactRef, plan_jobs
from ..run.runner import run_plan
from ..results.store import RunStore


def _tiny_onnx(directory: Path) -> ArtifactRef:
    """A two-op ONNX model (MatMul 64x32 + Relu): almost all of its latency is fixed cost."""
    import hashlib

    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32), "W")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
                              "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = directory / "tiny-matmul.onnx"
    onnx.save(model, str(path))
    return ArtifactRef(model="tiny-matmul", variant="onnx-file", format="onnx", runtime="onnxruntime",
                       path=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                       file_bytes=path.stat().st_size)


def _validity_codes(res: Dict[str, Any]) -> str:
    v = res.get("validity") or {}
    bad = [w["code"] for w in v.get("warnings", []) if w.get("severity") == "invalid"]
    return "valid" if v.get("valid") else "INVALID (%s)" % ", ".join(bad)


#: A section's ratio is refused when the valid rounds of one side spread more than this ((max - min) / median).
SPREAD_MAX = 0.15


def _median_of_valid(values: List[Tuple[float, bool]]) -> Tuple[Optional[float], int]:
    """(median of the values from valid rounds, how many) — None when no round was valid."""
    good = [v for v, ok in values if ok]
    return (statistics.median(good) if good else None), len(good)


def harness_overhead(work: Path, rounds: int = 3) -> int:
    """Harness p50 vs ORT's own profiler. Every round's jobs are judged by bench.analysis.validity; a ratio is
    computed only from valid rounds, and refused (printed as such) when none is valid."""
    arts = [_tiny_onnx(work)] + [a for a in zoo_artifacts(["default"], ["onnx-fp32"]) if a.status == "built"]
    device = local_device()
    measure = {"min_runs": 200, "min_seconds": 2.0, "warmup_runs": 10}
    rows: Dict[str, Dict[str, List[Tuple[float, bool]]]] = {}
    print("harness overhead: %d interleaved rounds, each job judged valid or not" % rounds)
    for r in range(rounds):
        for profile in (False, True):
            opts = {"onnxruntime": {"threads": 2, "profile": profile}}
            jobs = plan_jobs([device.name], arts, ["onnxruntime"], opts, measure, 300)
            store = RunStore.create(jobs, ["bench.perf.harness"], base=work / "results")
            run_plan(store, jobs, {device.name: device}, printer=lambda s: None)
            for res in store.results():
                if res.get("status") != "ok":
                    print("perf: job failed: %s" % res.get("error"), file=sys.stderr)
                    return 1
                ok = bool((res.get("validity") or {}).get("valid"))
                print("  round %d  %-12s profiler %-3s  p50 %9.4f ms  %s" % (
                    r + 1, res["model_name"], "on" if profile else "off", res["stats"]["p50_ms"], _validity_codes(res)))
                row = rows.setdefault(res["model_name"], {"p50": [], "prof_p50": [], "ort_p50": [], "wall": []})
                if profile:
                    prof = res["extras"]["ort_profile"]["model_run_ms"]
                    timed = prof[-res["timing"]["runs"]:]  # the timed window's calls
                    row["prof_p50"].append((res["stats"]["p50_ms"], ok))
                    row["ort_p50"].append((statistics.median(timed), ok))
                else:
                    row["p50"].append((res["stats"]["p50_ms"], ok))
                    row["wall"].append((res["host_wall_s"], True))
    print("harness overhead vs ONNX Runtime's own profiler (local, 2 threads, medians of the VALID rounds only)")
    print("%-12s %12s %14s %14s %10s %10s %12s %12s %8s" % ("model", "harness p50", "harness p50", "ORT model_run",
                                                             "ratio", "ratio", "B-ORT", "job wall", "valid"))
    print("%-12s %12s %14s %14s %10s %10s %12s %12s %8s" % ("", "ms (prof off)", "ms (prof on)", "p50 ms", "A/ORT",
                                                             "B/ORT", "us", "s", "rounds"))
    for name, row in rows.items():
        a, na = _median_of_valid(row["p50"])
        b, nb = _median_of_valid(row["prof_p50"])
        o, _ = _median_of_valid(row["ort_p50"])
        wall = statistics.median(v for v, _ in row["wall"])
        cell = lambda v, fmt: fmt % v if v is not None else "refused"  # noqa: E731
        print("%-12s %12s %14s %14s %10s %10s %12s %12.2f %8s" % (
            name, cell(a, "%.4f"), cell(b, "%.4f"), cell(o, "%.4f"),
            cell(a / o if a is not None and o else None, "%.3f"), cell(b / o if b is not None and o else None, "%.3f"),
            cell((b - o) * 1000 if b is not None and o is not None else None, "%.1f"), wall,
            "%d+%d/%d" % (na, nb, 2 * rounds)))
    print("A/ORT < 1 means ORT's profiler slows ORT itself; B/ORT compares the same calls, so B-ORT is the\n"
          "harness's timing overhead per inference. 'refused': no round of that kind was valid (see the round\n"
          "lines for why); a ratio from invalid rounds would describe the host's noise, not the harness.")
    return 0


#: The raw script of the cost section: load the model with ONNX Runtime and run it ``warmup + runs`` times on
#: random inputs of the job's shapes, nothing else — what a user would write by hand.
RAW_SCRIPT = r"""
import sys, time, json
import numpy as np
import onnxruntime as ort
path, calls, seq = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
rng = np.random.default_rng(0)
feeds = {}
for i in s.get_inputs():
    shape = [d if isinstance(d, int) else (1 if k == 0 else seq) for k, d in enumerate(i.shape)]
    feeds[i.name] = (rng.integers(0, 100, shape).astype(np.int64) if "int64" in i.type
                     else rng.standard_normal(shape).astype(np.float32))
for _ in range(calls):
    s.run(None, feeds)
"""


def _timed(cmd: List[str], env: Dict[str, str]) -> Tuple[float, Any]:
    import subprocess
    import time

    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, proc


def _newest_run(results: Path) -> Path:
    return max((p for p in results.iterdir() if (p / "manifest.json").is_file()), key=lambda p: p.stat().st_mtime)




def spread(values: List[float]) -> str:
    """How far a figure's rounds lie apart, relative to their median, and whether that is too far to read it as is."""
    med = statistics.median(values) if values else 0.0
    s = (max(values) - min(values)) / med if len(values) > 1 and med > 0 else 0.0
    return "spread %.0f %%%s" % (100 * s, " — NOISY: the host was busy, read with care" if s > SPREAD_MAX else "")


def _copies(work: Path, n: int) -> List[str]:
    """``--model-file`` arguments for ``n`` copies of the tiny MatMul model (same graph, own file: one job each)."""
    tiny = _tiny_onnx(work)
    args: List[str] = []
    for i in range(n):
        p = work / ("tiny%02d.onnx" % i)
        p.write_bytes(Path(tiny.path).read_bytes())
        args += ["--model-file", str(p)]
    return args


def _many_jobs(bench: List[str], copies: List[str], env: Dict[str, str], results: Path, warm: str
               ) -> Dict[str, Any]:
    """One ``bench run`` of the copies (20 runs, 0.2 s each), with the warm agent on (``warm`` "1") or off ("0"):
    its wall time (s), the agents' measured phases summed (s), and its jobs counted."""
    import json

    wall, proc = _timed(bench + ["--runs", "20", "--min-seconds", "0.2", "--warmup", "2"] + copies,
                        dict(env, EDGEBENCH_WARM_AGENT=warm))
    run = _newest_run(results)
    jobs = [json.loads(p.read_text()) for p in (run / "jobs").glob("*.json")]
    exec_s = [float((j.get("host") or {}).get("exec_s") or 0.0) for j in jobs]
    return {"wall": wall, "warm": warm, "n": len(jobs), "rc": proc.returncode,
            "measured": sum(sum(float((j.get("phases_s") or {}).get(k, 0.0)) for k in MEASURED_PHASES) for j in jobs),
            "ok": sum(1 for j in jobs if j.get("status") == "ok"),
            "forked": sum(1 for j in jobs if "forked" in str((j.get("method") or {}).get("process"))),
            "exec_s": statistics.median(exec_s) if exec_s else None,
            "errors": sorted({str(j.get("error_type")) for j in jobs if j.get("status") != "ok"})}


def _many_line(m: Dict[str, Any], jobs_many: int) -> str:
    return ("%d jobs: bench run %.2f s, agents' measured phases %.2f s → %.3f s per job beyond them (%d ok; %d forked "
            "from the warm agent%s)" % (jobs_many, m["wall"], m["measured"], (m["wall"] - m["measured"]) / max(1, m["n"]),
                                        m["ok"], m["forked"], "" if m["warm"] == "1" else ", EDGEBENCH_WARM_AGENT=0"))


def _per_job(ms: List[Dict[str, Any]]) -> List[float]:
    return [(m["wall"] - m["measured"]) / max(1, m["n"]) for m in ms]


def device_cost(work: Path, device: str, rounds: int = 3, jobs_many: int = 16) -> int:
    """The harness's cost per job on a device of the inventory (``devices.yaml`` or ``EDGEBENCH_DEVICES``): the
    16-job run of ``cost`` on it, with its warm agent and without (an agent process per job), interleaved; each job's
    time on the host beyond the agent's measured phases, and the median time of one job's agent command (``exec``)."""
    import os

    copies = _copies(work, jobs_many)
    results = work / "device-cost-results"
    results.mkdir(exist_ok=True)
    env = dict(os.environ, EDGEBENCH_RESULTS=str(results))
    bench = [sys.executable, "-m", "bench", "run", "--device", device, "--ceilings", "skip"]
    by: Dict[str, List[Dict[str, Any]]] = {"1": [], "0": []}
    print("harness cost on device %r: %d interleaved rounds, %d jobs with its warm agent and without" % (
        device, rounds, jobs_many))
    for r in range(rounds):
        for warm in ("1", "0"):
            m = _many_jobs(bench, copies, env, results, warm)
            if m["ok"] == 0:
                print("device cost: no job ran on %r (exit %s; %s): check the device with `bench devices`" % (
                    device, m["rc"], ", ".join(m["errors"]) or "no job results"), file=sys.stderr)
                return 1
            by[warm].append(m)
            print("  round %d  %s; one job's agent command %.3f s (median)" % (r + 1, _many_line(m, jobs_many),
                                                                             m["exec_s"]))
    med = statistics.median
    for warm, what in (("1", "with the warm agent"), ("0", "an agent process per job (EDGEBENCH_WARM_AGENT=0)")):
        per = _per_job(by[warm])
        execs = [m["exec_s"] for m in by[warm]]
        print("%s: %.3f s per job beyond the agents' measured phases (%s); one job's agent command %.3f s (%s)" % (
            what, med(per), spread(per), med(execs), spread(execs)))
    return 0


def harness_cost(work: Path, rounds: int = 3, jobs_many: int = 16) -> int:
    """Wall time of ``bench run`` (one job; ``jobs_many`` jobs) against a raw script running the same model the
    same number of times, interleaved; every round's jobs judged by bench.analysis.validity; the phase breakdown."""
    import json
    import os

    (art,) = [a for a in zoo_artifacts(["tinybert-4"], ["onnx-fp32"]) if a.status == "built"] or [None]
    if art is None:
        print("cost: tinybert-4 onnx-fp32 could not be built", file=sys.stderr)
        return 1
    copies = _copies(work, jobs_many)
    env = dict(os.environ, EDGEBENCH_RESULTS=str(work / "cost-results"))
    (work / "cost-results").mkdir(exist_ok=True)
    bench = [sys.executable, "-m", "bench", "run", "--device", "local", "--ceilings", "skip"]
    one: List[Dict[str, Any]] = []
    many: List[Dict[str, Any]] = []
    own: List[Dict[str, Any]] = []  # the same 16 jobs, each in an agent process of its own (no warm agent)
    print("harness cost: %d interleaved rounds on the local device (bench run as a user types it vs a raw script)"
          % rounds)
    for r in range(rounds):
        wall, proc = _timed(bench + ["--models", "tinybert-4", "--variants", "onnx-fp32"], env)
        if proc.returncode not in (0, 1):
            print("cost: bench run failed: %s" % proc.stderr[-500:], file=sys.stderr)
            return 1
        run = _newest_run(work / "cost-results")
        (job,) = [json.loads(p.read_text()) for p in (run / "jobs").glob("*.json")]
        calls = int(job["timing"]["warmup_runs"]) + int(job["timing"]["runs"]) + 1
        raw_wall, raw = _timed([sys.executable, "-c", RAW_SCRIPT, str(art.path), str(calls), "128"], env)
        if raw.returncode != 0:
            print("cost: the raw script failed: %s" % raw.stderr[-500:], file=sys.stderr)
            return 1
        one.append({"wall": wall, "raw": raw_wall, "job": job, "run": json.loads((run / "manifest.json").read_text()),
                    "valid": bool((job.get("validity") or {}).get("valid"))})
        print("  round %d  one job: bench run %.2f s, raw script %.2f s (%d calls)  → harness +%.2f s  job %s"
              % (r + 1, wall, raw_wall, calls, wall - raw_wall, _validity_codes(job)))
        for warm, into in (("1", many), ("0", own)):  # the default (warm agent), then a process per job
            into.append(_many_jobs(bench, copies, env, work / "cost-results", warm))
            print("  round %d  %s" % (r + 1, _many_line(into[-1], jobs_many)))
    med = statistics.median
    diffs = [o["wall"] - o["raw"] for o in one]
    per_job = _per_job(many)
    print("\none job (tinybert-4 onnx-fp32), median of %d rounds: bench run %.2f s, raw script %.2f s, "
          "difference %.2f s (budget 4 s; %s)" % (rounds, med(o["wall"] for o in one), med(o["raw"] for o in one),
                                                 med(diffs), spread(diffs)))
    print("%d jobs (tiny MatMul model): %.3f s per job beyond the agents' measured phases (budget 0.5 s), "
          "median of %d rounds (%s)" % (jobs_many, med(per_job), rounds, spread(per_job)))
    own_per_job = _per_job(own)
    print("  the same without the warm agent (EDGEBENCH_WARM_AGENT=0, an agent process per job): %.3f s per job (%s)"
          % (med(own_per_job), spread(own_per_job)))
    _print_phases(one)
    if not any(o["valid"] for o in one):
        print("note: no round's job was valid on this host (see the round lines): the latency is noisy, the "
              "harness's cost figures above are wall times and stand on their own")
    return 0


def scenario_memory(work: Path, durations: Tuple[float, ...] = (30.0, 120.0)) -> int:
    """Memory of a sustained scenario at sub-millisecond latencies: the agent's peak RSS (VmHWM) and the result's
    size for runs of ``durations`` seconds with 1 s intervals (an hour at 10 s intervals holds 360). Bounded
    means: the same peak for a run four times longer, and at most KEEP_MAX raw latencies kept."""
    import json
    import os
    import subprocess

    from device_agents.scenarios import KEEP_MAX

    tiny = _tiny_onnx(work)
    print("\nsustained scenario memory (tiny MatMul, sub-ms latencies, 1 s intervals)")
    print("%10s %12s %12s %14s %12s %14s" % ("duration s", "inferences", "kept", "agent peak MB", "result MB",
                                             "host parse MB"))
    for duration in durations:
        job = {"job_id": "mem", "model": {"path": tiny.path, "format": "onnx"}, "runtime": {"name": "onnxruntime"},
               "measure": {"scenario": "sustained", "duration_s": duration, "interval_s": 1.0, "warmup_runs": 10,
                           "sample_rate_hz": 0}}
        d = work / ("mem%d" % duration)
        d.mkdir(exist_ok=True)
        (d / "job.json").write_text(json.dumps(job))
        proc = subprocess.run([sys.executable, "-m", "device_agents", "run", "job.json", "--out", "result.json"],
                              cwd=str(d), env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])),
                              capture_output=True, text=True)
        raw = (d / "result.json").read_bytes() if (d / "result.json").exists() else b""
        res = json.loads(raw) if raw else {}
        if res.get("status") != "ok":
            print("perf: the sustained job failed: %s %s" % (res.get("error"), proc.stderr[-300:]), file=sys.stderr)
            return 1
        import tracemalloc

        tracemalloc.start()
        from ..results.schema import check_agent_result, parse_device_json

        check_agent_result(parse_device_json(raw), "mem")
        host_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        sc = res["scenario"]
        print("%10.0f %12d %12d %14.1f %12.2f %14.1f" % (
            duration, sc["total_runs"], sc["samples_kept"], res["memory"]["peak_rss_bytes"] / 1e6, len(raw) / 1e6,
            host_peak / 1e6))
    print("kept raw latencies are capped at %d (a uniform subsample); per-interval figures are aggregated on the "
          "device as each interval closes, and sensor samples before it are let go" % KEEP_MAX)
    return 0


def _print_phases(rounds: List[Dict[str, Any]]) -> None:
    """Median seconds per phase: the run (plan, jobs, report), the host per job, the agent per job."""
    def table(title: str, dicts: List[Dict[str, float]]) -> None:
        keys = sorted({k for d in dicts for k in d}, key=lambda k: -statistics.median(d.get(k, 0.0) for d in dicts))
        print("  %s: %s" % (title, ", ".join("%s %.3f" % (k, statistics.median(d.get(k, 0.0) for d in dicts))
                                              for k in keys)))
    print("where the time goes (seconds, median over rounds):")
    table("run", [o["run"].get("phases_s") or {} for o in rounds])
    table("host per job", [(o["job"].get("host") or {}).get("phases_s") or {} for o in rounds])
    table("agent per job", [o["job"].get("phases_s") or {} for o in rounds])
    agent = [o["job"].get("phases_s") or {} for o in rounds]
    beyond = [d.get("total", 0.0) - sum(d.get(k, 0.0) for k in MEASURED_PHASES) for d in agent]
    print("  agent overhead beyond load, first inference, warm-up and window: %.3f s (budget 0.3 s)"
          % statistics.median(beyond))


def _jetson_like_tree(root: Path) -> Dict[str, str]:
    """A sysfs tree laid out like a Jetson's (3 INA3221 rails, 8 thermal zones, 6 cpufreq files), so the
    sampler does the same file work it does on a board."""
    def put(rel: str, value: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")

    hw = "i2c/ina3221/1-0040/hwmon/hwmon3/"
    for k, name in enumerate(("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"), start=1):
        put(hw + "in%d_label" % k, name)
        put(hw + "in%d_input" % k, "5000")
        put(hw + "curr%d_input" % k, "1000")
    for z in range(8):
        put("thermal/thermal_zone%d/type" % z, "zone%d" % z)
        put("thermal/thermal_zone%d/temp" % z, "45000")
    for c in range(6):
        put("cpu/cpu%d/cpufreq/scaling_cur_freq" % c, "1479000")
    return {"i2c_root": str(root / "i2c"), "thermal_root": str(root / "thermal"), "cpu_root": str(root / "cpu")}


def sampler_overhead(work: Path, rounds: int = 3) -> int:
    """p50 latency with the sampler off, at 10 Hz and at 100 Hz (same job otherwise), interleaved."""
    arts = [a for a in zoo_artifacts(["default"], ["onnx-fp32"]) if a.status == "built"]
    paths = _jetson_like_tree(work / "sys")
    device = local_device()
    p50: Dict[str, List[Tuple[float, bool]]] = {}
    for _ in range(rounds):
        for label, rate in (("off", 0), ("10 Hz", 10), ("100 Hz", 100)):
            measure = {"min_runs": 200, "min_seconds": 3.0, "warmup_runs": 10, "sample_rate_hz": rate, "idle_s": 0,
                       "energy_min_samples": 1, "sensors": ["jetson_ina3221", "linux_thermal"], "sensor_paths": paths}
            jobs = plan_jobs([device.name], arts, ["onnxruntime"], {"onnxruntime": {"threads": 2}}, measure, 300)
            store = RunStore.create(jobs, ["bench.perf.harness"], base=work / "results")
            run_plan(store, jobs, {device.name: device}, printer=lambda s: None)
            res = store.results()[0]
            if res.get("status") != "ok":
                print("perf: job failed: %s" % res.get("error"), file=sys.stderr)
                return 1
            p50.setdefault(label, []).append((res["stats"]["p50_ms"], bool((res.get("validity") or {}).get("valid"))))
            print("  %-7s p50 %8.3f ms  %s" % (label, res["stats"]["p50_ms"], _validity_codes(res)))
    base, n_base = _median_of_valid(p50["off"])
    print("\nsampler overhead on %s (2 threads; sensors: 3 INA3221 rails + 8 thermal zones + 6 cpufreq files; "
          "%d interleaved rounds, medians of the VALID rounds only)" % (arts[0].model, rounds))
    print("%-8s %10s %8s %8s %7s   per-round p50 ms (* = not valid)" % ("sampling", "p50 ms", "ratio", "spread",
                                                                       "valid"))
    for label in ("off", "10 Hz", "100 Hz"):
        m, n = _median_of_valid(p50[label])
        good = [v for v, ok in p50[label] if ok]
        spread = (max(good) - min(good)) / statistics.median(good) if len(good) > 1 else None
        ratio = m / base if m is not None and base else None
        refused = ratio is None or (spread is not None and spread > SPREAD_MAX)
        print("%-8s %10s %8s %8s %7s   %s" % (
            label, "%.3f" % m if m is not None else "refused", "%.3f" % ratio if not refused else "refused",
            "%.0f %%" % (100 * spread) if spread is not None else "—", "%d/%d" % (n, rounds),
            ", ".join("%.3f%s" % (v, "" if ok else "*") for v, ok in p50[label])))
    print("a ratio is refused when its side has no valid round or its valid rounds spread more than %.0f %% "
          "(the host's noise, not the sampler's cost)" % (100 * SPREAD_MAX))
    return 0


def energy_integration(seconds: float = 1.0, rate_hz: float = 200.0) -> int:
    """Relative error of the sampler + integration against sensors whose true energy is known."""
    from device_agents.sensors.synthetic import measure_window, standard_cases

    print("\nenergy integration against known energy (%.0f Hz sampler, %.1f s windows)" % (rate_hz, seconds))
    for label, sensor, truth in standard_cases():
        got, n, a, b = measure_window(sensor, seconds, rate_hz)
        want = truth(a, b)
        print("  %-28s true %8.2f mJ  measured %8.2f mJ  error %+.3f%%  (%d samples)" % (
            label, want, got, 100 * (got - want) / want, n))
    return 0


def _children_cpu_s() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _quiet_share(a: Any, b: Any, own_children_s: float = 0.0) -> Tuple[float, str]:
    """(Other processes' and steal's share of all cores between two conditions snapshots, not counting
    the CPU time of our own children (STREAM) in that interval; the busiest others)."""
    from device_agents.conditions import interval

    d = interval(a, b)
    if d.get("other_cpu_s") is None or not d.get("seconds"):
        return 0.0, ""
    other_s = max(0.0, d["other_cpu_s"] - own_children_s) + (d.get("steal_s") or 0.0)
    top = ", ".join("%s %.2f" % (p["name"], p["cores"] or 0) for p in d.get("top_other_processes") or [])
    return other_s / d["seconds"] / max(1, len(d.get("cores") or [])), top


def bandwidth_vs_stream(rounds: int = 4) -> int:
    """The agent's numpy kernels against STREAM compiled from its source, interleaved round by round on
    the same array length; rounds where other processes took > 10 % of the cores are invalid and
    left out; the ratio is best valid numpy / best valid STREAM per kernel. ``EDGEBENCH_PERF_CORES=1``
    pins both to those cores (one thread per core): on a shared host, a quiet core gives valid rounds."""
    import os

    from device_agents.conditions import Snapshot
    from device_agents.microbench.bandwidth import measure_bandwidth

    from . import stream_ref
    from ..analysis.validity import OTHER_BUSY_MAX

    cores = os.environ.get("EDGEBENCH_PERF_CORES")
    if cores:
        os.sched_setaffinity(0, {int(c) for c in cores.split(",")})
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    probe_bw = measure_bandwidth(repeats=1, max_trials=1, threads=threads)
    elements = probe_bw["array_bytes"] // 8
    print("\nbandwidth kernels vs STREAM (same %d-element arrays, %d threads, %d interleaved rounds)"
          % (elements, probe_bw["threads"], rounds))
    try:
        binary = stream_ref.build(elements)
    except stream_ref.StreamUnavailable as exc:
        print("  STREAM comparison skipped: %s" % exc)
        return 0
    best: Dict[str, Dict[str, float]] = {"numpy": {}, "stream": {}}
    paired: Dict[str, List[float]] = {}
    for r in range(rounds):
        got: Dict[str, Dict[str, float]] = {}
        for side in ("numpy", "stream"):
            a, children = Snapshot(), _children_cpu_s()
            if side == "numpy":
                bw = measure_bandwidth(repeats=10, max_trials=3, threads=threads)
                rates = {k: bw["%s_gbps" % k] for k in ("copy", "scale", "add", "triad")}
            else:
                rates = stream_ref.run(binary, probe_bw["threads"])
            share, top = _quiet_share(a, Snapshot(), _children_cpu_s() - children)
            ok = share <= OTHER_BUSY_MAX
            print("  round %d %-6s copy %6.2f  scale %6.2f  add %6.2f  triad %6.2f GB/s  %s" % (
                r + 1, side, rates["copy"], rates["scale"], rates["add"], rates["triad"],
                "valid" if ok else "INVALID (other processes used %.0f %% of the cores: %s)" % (100 * share, top)))
            if ok:
                got[side] = rates
                for k, v in rates.items():
                    best[side][k] = max(best[side].get(k, 0.0), v)
        if len(got) == 2:
            for k in rates:
                paired.setdefault(k, []).append(got["numpy"][k] / got["stream"][k])
    for k in ("copy", "scale", "add", "triad"):
        n, st = best["numpy"].get(k), best["stream"].get(k)
        print("  %-6s best numpy %s  best STREAM %s GB/s  ratio of bests %s  median of same-round ratios %s" % (
            k, "%.2f" % n if n else "—", "%.2f" % st if st else "—",
            "%.3f" % (n / st) if n and st else "refused (no valid round on one side)",
            "%.3f (%d rounds)" % (statistics.median(paired[k]), len(paired[k])) if paired.get(k) else "—"))
    return 0


def ceilings_spread(work: Path, repeats: int = 5) -> int:
    """Spread of the ORT fp32 peak over back-to-back measurements: the former method (one best-of-10)
    and the current one (trials of best-of-10 until the best three agree within 3 %), interleaved.
    Each measurement is judged like a ceiling (other processes above 10 % of the cores: not valid);
    the spread is printed over all of them and over the valid ones."""
    from device_agents.conditions import Snapshot
    from device_agents.microbench.compute import measure_compute
    from models.microbench import SIZE, _onnx_matmul

    from ..analysis.validity import OTHER_BUSY_MAX

    path = work / "matmul_fp32.onnx"
    _onnx_matmul(path, "fp32", SIZE)
    item = {"runtime": "onnxruntime", "precision": "fp32", "path": str(path), "ops_per_run": 2 * SIZE ** 3,
            "shape": [SIZE] * 3}
    methods = {"best-of-10 once (before)": 1, "until stable (now)": 12}
    found: Dict[str, List[Tuple[float, bool]]] = {label: [] for label in methods}
    for _ in range(repeats):
        for label, trials in methods.items():
            a = Snapshot()
            gops = measure_compute(item, 10, None, max_trials=trials)["gops"]
            share, _ = _quiet_share(a, Snapshot())
            found[label].append((gops, share <= OTHER_BUSY_MAX))
    print("\nORT fp32 peak (1024^3 MatMul, all cores), %d back-to-back measurements each, interleaved "
          "(* = other processes above 10 %% of the cores: not valid)" % repeats)

    def spread(values: List[float]) -> str:
        return "%.1f %%" % (100 * (max(values) - min(values)) / max(values)) if len(values) > 1 else "—"

    for label, values in found.items():
        valid = [v for v, ok in values if ok]
        print("  %-26s %s GFLOP/s  spread (max-min)/max: all %s, valid %s (%d)" % (
            label, ", ".join("%.1f%s" % (v, "" if ok else "*") for v, ok in values),
            spread([v for v, _ in values]), spread(valid), len(valid)))
    return 0


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="edgebench-perf-"))
    which = sys.argv[1:] or ["cost", "harness", "sampler", "energy", "stream", "ceilings", "scenario-memory"]
    rc = 0
    if which[0] == "cost-device":  # python -m bench.perf cost-device NAME: the per-job cost on that device
        if len(which) != 2:
            print("usage: python -m bench.perf cost-device DEVICE (a device of devices.yaml or EDGEBENCH_DEVICES)",
                  file=sys.stderr)
            return 2
        return device_cost(work, which[1])
    if "scenario-memory" in which:
        rc |= scenario_memory(work)
    if "cost" in which:
        rc |= harness_cost(work)
    if "harness" in which:
        rc |= harness_overhead(work)
    if "sampler" in which:
        rc |= sampler_overhead(work)
    if "energy" in which:
        rc |= energy_integration()
    if "stream" in which:
        rc |= bandwidth_vs_stream()
    if "ceilings" in which:
        rc |= ceilings_spread(work)
    return rc


if __name__ == "__main__":
    sys.exit(main())
