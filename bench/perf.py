"""``make perf``: the harness's own overhead, measured (not asserted in tests).

For each model, alternating ``rounds`` times on the local device through the full harness:
  A. a normal job (profiling off): the harness's p50;
  B. the same job with ONNX Runtime's built-in profiler: ORT's own ``model_run`` p50 and the harness's
     p50 of the very same calls.
Ratios: A.p50 / B.ort_p50 (what a user sees vs ORT's own time) and B.p50 / B.ort_p50 (timer wrapper
only). Also prints the host-side wall time per job (deploy + process start + load + measurement).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

from .cli import zoo_artifacts
from .inventory import local_device
from .plan import ArtifactRef, plan_jobs
from .runner import run_plan
from .store import RunStore


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


def harness_overhead(work: Path, rounds: int = 3) -> int:
    arts = [_tiny_onnx(work)] + [a for a in zoo_artifacts(["default"], ["onnx-fp32"]) if a.status == "built"]
    device = local_device()
    measure = {"min_runs": 200, "min_seconds": 2.0, "warmup_runs": 10}
    rows: Dict[str, Dict[str, List[float]]] = {}
    for r in range(rounds):
        for profile in (False, True):
            opts = {"onnxruntime": {"threads": 2, "profile": profile}}
            jobs = plan_jobs([device.name], arts, ["onnxruntime"], opts, measure, 300)
            store = RunStore.create(jobs, ["bench.perf"], base=work / "results")
            run_plan(store, jobs, {device.name: device}, printer=lambda s: None)
            for res in store.results():
                if res.get("status") != "ok":
                    print("perf: job failed: %s" % res.get("error"), file=sys.stderr)
                    return 1
                row = rows.setdefault(res["model_name"], {"p50": [], "prof_p50": [], "ort_p50": [], "wall": []})
                if profile:
                    prof = res["extras"]["ort_profile"]["model_run_ms"]
                    timed = prof[-res["timing"]["runs"]:]  # the timed window's calls
                    row["prof_p50"].append(res["stats"]["p50_ms"])
                    row["ort_p50"].append(statistics.median(timed))
                else:
                    row["p50"].append(res["stats"]["p50_ms"])
                    row["wall"].append(res["host_wall_s"])
    print("harness overhead vs ONNX Runtime's own profiler (local, 2 threads, %d interleaved rounds, medians)"
          % rounds)
    print("%-12s %12s %14s %14s %10s %10s %12s %12s" % ("model", "harness p50", "harness p50", "ORT model_run",
                                                        "ratio", "ratio", "B-ORT", "job wall"))
    print("%-12s %12s %14s %14s %10s %10s %12s %12s" % ("", "ms (prof off)", "ms (prof on)", "p50 ms", "A/ORT",
                                                        "B/ORT", "us", "s"))
    for name, row in rows.items():
        a = statistics.median(row["p50"])
        b = statistics.median(row["prof_p50"])
        o = statistics.median(row["ort_p50"])
        print("%-12s %12.4f %14.4f %14.4f %10.3f %10.3f %12.1f %12.2f" % (
            name, a, b, o, a / o, b / o, (b - o) * 1000, statistics.median(row["wall"])))
    print("A/ORT < 1 means ORT's profiler slows ORT itself; B/ORT compares the same calls, so B-ORT is the\n"
          "harness's timing overhead per inference.")
    return 0


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
    p50: Dict[str, List[float]] = {}
    for _ in range(rounds):
        for label, rate in (("off", 0), ("10 Hz", 10), ("100 Hz", 100)):
            measure = {"min_runs": 200, "min_seconds": 3.0, "warmup_runs": 10, "sample_rate_hz": rate, "idle_s": 0,
                       "energy_min_samples": 1, "sensors": ["jetson_ina3221", "linux_thermal"], "sensor_paths": paths}
            jobs = plan_jobs([device.name], arts, ["onnxruntime"], {"onnxruntime": {"threads": 2}}, measure, 300)
            store = RunStore.create(jobs, ["bench.perf"], base=work / "results")
            run_plan(store, jobs, {device.name: device}, printer=lambda s: None)
            res = store.results()[0]
            if res.get("status") != "ok":
                print("perf: job failed: %s" % res.get("error"), file=sys.stderr)
                return 1
            p50.setdefault(label, []).append(res["stats"]["p50_ms"])
    base = statistics.median(p50["off"])
    print("\nsampler overhead on %s (2 threads; sensors: 3 INA3221 rails + 8 thermal zones + 6 cpufreq files; "
          "%d interleaved rounds, medians)" % (arts[0].model, rounds))
    print("%-8s %10s %8s   per-round p50 ms" % ("sampling", "p50 ms", "ratio"))
    for label in ("off", "10 Hz", "100 Hz"):
        m = statistics.median(p50[label])
        print("%-8s %10.3f %8.3f   %s" % (label, m, m / base, ", ".join("%.3f" % v for v in p50[label])))
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


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="edgebench-perf-"))
    which = sys.argv[1:] or ["harness", "sampler", "energy"]
    rc = 0
    if "harness" in which:
        rc |= harness_overhead(work)
    if "sampler" in which:
        rc |= sampler_overhead(work)
    if "energy" in which:
        rc |= energy_integration()
    return rc


if __name__ == "__main__":
    sys.exit(main())
