"""Scenarios on the device (device_agents/scenarios.py): a frame stream's misses and drops on a real clock, the
bounded subsample, and two sustained runs through the real agent and real ONNX Runtime on this machine's CPU —
a CPU hog started mid-run found as a ``contention`` step at the right time, and a **stand-in** Jetson-like sysfs
tree whose temperature follows the agent's load and whose clock is capped past 60 °C (the cap enforced by
duty-cycling the agent with SIGSTOP/SIGCONT, fewer cycles per second as a frequency cap gives) found as
``thermal``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from device_agents.scenarios import Thinned, stream

REPO = Path(__file__).resolve().parents[2]


def test_a_stream_that_keeps_up_misses_nothing() -> None:
    s = stream(lambda: time.sleep(0.004), fps=50, duration_s=1.0)["scenario"]["stream"]
    assert s["frames"] >= 45 and s["dropped"] == 0 and s["missed"] == 0 and s["sustainable"]
    assert s["deadline_ms"] == pytest.approx(20.0) and s["p50_ms"] >= 4.0


def test_a_stream_too_fast_for_the_model_drops_and_misses() -> None:
    out = stream(lambda: time.sleep(0.030), fps=50, duration_s=1.0)
    s = out["scenario"]["stream"]
    assert s["dropped"] >= 10 and s["missed"] >= s["dropped"] and not s["sustainable"]
    assert s["frames"] == s["processed"] + s["dropped"]
    assert min(out["latencies_ms"]) >= 29.0  # the inference itself; from arrival it is longer
    assert s["p50_ms"] >= 30.0


def test_a_long_run_keeps_a_bounded_uniform_subsample() -> None:
    t = Thinned(1000)
    for k in range(1_000_000):
        t.add(float(k))
    assert len(t.values) < 1000 and t.seen == 1_000_000
    gaps = {int(b - a) for a, b in zip(t.values, t.values[1:])}
    assert gaps == {t.stride}  # evenly spread over the whole run


def _heavy_onnx(path: Path, width: int = 1024, layers: int = 6, rows: int = 256) -> Path:
    """A real ONNX model of tens of ms on this CPU (3.2 GFLOP): ``layers`` MatMul+Relu on a [rows, width] input:
    longer than a scheduler slice, so a competing process or a duty-cycled clock slows every inference."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits, prev = [], [], "x"
    for k in range(layers):
        w = numpy_helper.from_array((rng.standard_normal((width, width)) / width ** 0.5).astype(np.float32), "w%d" % k)
        inits.append(w)
        nodes += [helper.make_node("MatMul", [prev, "w%d" % k], ["m%d" % k]),
                  helper.make_node("Relu", ["m%d" % k], ["r%d" % k])]
        prev = "r%d" % k
    graph = helper.make_graph(nodes, "heavy", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, width])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [rows, width])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _start_agent(tmp_path: Path, measure: Dict[str, Any], threads: int = 2) -> subprocess.Popen:
    job = {"job_id": "sustained", "model": {"path": str(_heavy_onnx(tmp_path / "heavy.onnx")), "format": "onnx"},
           "runtime": {"name": "onnxruntime", "options": {"threads": threads}},
           "measure": dict({"warmup_runs": 3, "warmup_min_s": 0.0, "scenario": "sustained", "interval_s": 1.0,
                            "sample_rate_hz": 0}, **measure)}
    (tmp_path / "job.json").write_text(json.dumps(job))
    return subprocess.Popen([sys.executable, "-m", "device_agents", "run", "job.json", "--out", "result.json"],
                            cwd=str(tmp_path), env=dict(os.environ, PYTHONPATH=str(REPO)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(tmp_path: Path, agent: subprocess.Popen) -> Dict[str, Any]:
    _, err = agent.communicate(timeout=120)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "ok", (result.get("error"), err[-2000:])
    from bench.analysis.scenarios import analyse_sustained

    result["scenario"]["sustained"] = analyse_sustained(result["scenario"])
    return result


@pytest.mark.serial  # where a step falls in time: needs the cores to itself
def test_a_cpu_hog_started_mid_run_is_found_as_contention_at_the_right_time(tmp_path: Path) -> None:
    agent = _start_agent(tmp_path, {"duration_s": 12.0})
    hogs: List[subprocess.Popen] = []
    try:
        time.sleep(5.0)
        hog_start = time.time()
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
        result = _finish(tmp_path, agent)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
        if agent.poll() is None:
            agent.kill()
    a = result["scenario"]["sustained"]
    expected = hog_start - result["timing"]["window_start_unix_s"]
    assert a["cause"] == "contention", a
    assert a["onset_s"] is not None and abs(a["onset_s"] - expected) <= 1.5, (a["onset_s"], expected)
    assert a["slowdown"] > 1.2 and "python" in " ".join(a["evidence"])
    assert len(result["scenario"]["intervals"]) >= 10


def _jetson_like(root: Path) -> Dict[str, str]:
    (root / "thermal" / "thermal_zone0").mkdir(parents=True)
    (root / "thermal" / "thermal_zone0" / "type").write_text("CPU-therm\n")
    (root / "thermal" / "thermal_zone0" / "temp").write_text("45000\n")
    for c in range(2):
        d = root / "cpu" / ("cpu%d" % c) / "cpufreq"
        d.mkdir(parents=True)
        (d / "scaling_cur_freq").write_text("2000000\n")
    return {"thermal_root": str(root / "thermal"), "cpu_root": str(root / "cpu")}


def _cpu_s(pid: int) -> float:
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.serial  # where a step falls in time: needs the cores to itself
def test_a_stand_in_jetson_that_heats_and_caps_its_clock_is_found_as_thermal(tmp_path: Path) -> None:
    """The STAND-IN board: temperature = 45 °C + 3 °C per CPU-second the agent used (it follows the load); past
    60 °C the clock file says 800 MHz (of 2000) and the agent gets half of every 20 ms (SIGSTOP/SIGCONT).

    The agent runs one inference thread: with two on two cores, ONNX Runtime's threads wait for each other
    spinning, so any other work on the machine (a CI neighbour) turned the stand-in's clean cap into an uneven
    slowdown in stages, and the test measured the neighbour instead of the board (a CI run found no onset)."""
    root = tmp_path / "sys"
    paths = _jetson_like(root)
    agent = _start_agent(tmp_path, {"duration_s": 12.0, "sample_rate_hz": 20.0, "sensors": ["linux_thermal"],
                                    "sensor_paths": paths, "idle_s": 0.0}, threads=1)
    stop = threading.Event()

    def board() -> None:
        temp_file = root / "thermal" / "thermal_zone0" / "temp"
        while not stop.is_set() and agent.poll() is None:
            try:
                temp = min(85.0, 45.0 + 3.0 * _cpu_s(agent.pid))
            except (OSError, IndexError):
                return
            temp_file.write_text("%d\n" % int(temp * 1000))
            if temp >= 60.0:
                for c in range(2):
                    (root / "cpu" / ("cpu%d" % c) / "cpufreq" / "scaling_cur_freq").write_text("800000\n")
                try:
                    os.kill(agent.pid, signal.SIGSTOP)
                    time.sleep(0.010)
                    os.kill(agent.pid, signal.SIGCONT)
                except ProcessLookupError:  # the agent finished
                    return
            time.sleep(0.010)

    thread = threading.Thread(target=board, daemon=True)
    thread.start()
    try:
        result = _finish(tmp_path, agent)
    finally:
        stop.set()
        thread.join(timeout=5)
        if agent.poll() is None:
            os.kill(agent.pid, signal.SIGCONT)
            agent.kill()
    a = result["scenario"]["sustained"]
    rows = result["scenario"]["intervals"]
    series = [(r["t_s"], r["p50_ms"], r.get("temp_c"), r.get("freq_mhz")) for r in rows]  # said when it fails
    assert rows[0]["temp_c"] is not None and rows[-1]["temp_c"] > rows[0]["temp_c"] + 10
    assert rows[0]["freq_mhz"] == pytest.approx(2000.0) and rows[-1]["freq_mhz"] == pytest.approx(800.0)
    assert a["cause"] == "thermal", (a, series)
    assert a["onset_s"] is not None and a["slowdown"] > 1.3, (a, series)
