"""`python -m bench run` end to end on the local device, as a user runs it (separate process)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

REPO = Path(__file__).resolve().parents[3]
QUICK = ["--runs", "10", "--min-seconds", "0", "--warmup", "1"]


def bench(args: List[str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench"] + args, cwd=str(REPO), capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ))


def start_run(tmp_path: Path, model: str, copies: int, args: List[str]) -> subprocess.Popen:
    """``bench run`` in the background on ``copies`` copies of one model file."""
    files: List[str] = []
    for i in range(copies):
        p = tmp_path / ("m%d.onnx" % i)
        p.write_bytes(Path(model).read_bytes())
        files += ["--model-file", str(p)]
    # A shell without job control starts background jobs with SIGINT ignored (CI may): restore it.
    return subprocess.Popen([sys.executable, "-m", "bench", "run", "--ceilings", "skip"] + args + files,
                            cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_result(results: Path, device: str = "", timeout: float = 120) -> None:
    """Until a job of ``device`` (any device if empty) has stored its result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [json.loads(p.read_text()) for p in results.glob("*/jobs/*.json")] if results.exists() else []
        if any(not device or d.get("device_name") == device for d in done):
            return
        time.sleep(0.1)
    raise AssertionError("no %s result within %.0f s" % (device or "job", timeout))


def agents_of(run_id: str) -> List[int]:
    """Agent processes still running for this run (a job's own, or the warm agent and the jobs it forked: their folder
    is under jobs/<run_id>/)."""
    ps = subprocess.run(["pgrep", "-f", "device_agents (run|serve)"], capture_output=True, text=True)
    left = []
    for pid in ps.stdout.split():
        try:
            if "/jobs/%s/" % run_id in os.readlink("/proc/%s/cwd" % pid) + "/":
                left.append(int(pid))
        except OSError:
            pass
    return left


def run_dirs(results: Path) -> List[Path]:
    """The run folders under ``results`` (not the history catalogue or merged reports), oldest first."""
    return sorted(p for p in results.iterdir() if (p / "manifest.json").exists())


def only_run(results: Path) -> Path:
    runs = [p for p in results.iterdir() if (p / "manifest.json").exists()]
    assert len(runs) == 1, runs
    return runs[0]


def test_help_lists_commands() -> None:
    proc = bench(["--help"])
    assert proc.returncode == 0
    for cmd in ("run", "devices", "probe", "report", "lab"):
        assert cmd in proc.stdout
    assert "examples:" in proc.stdout and "--resume RUN_ID" in proc.stdout
    run_help = " ".join(bench(["run", "--help"]).stdout.split())  # argparse wraps lines
    assert "pte-xnnpack-fp32" in run_help.replace("- ", "-") and "--shapes" in run_help
    version = bench(["--version"])
    assert version.returncode == 0 and version.stdout.startswith("edgebench ")


@pytest.mark.slow
def test_default_run_measures_reports_and_stores(tmp_path: Path, zoo_default) -> None:
    proc = bench(["run"] + QUICK)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = only_run(tmp_path / "results")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["state"] == "complete" and len(manifest["jobs"]) == 3
    jobs = {p.stem: json.loads(p.read_text()) for p in (run / "jobs").glob("*.json")}
    assert {j["variant"] for j in jobs.values()} == {"onnx-fp32", "onnx-int8-dynamic", "tflite-fp32"}
    assert {j["runtime_name"] for j in jobs.values()} == {"onnxruntime", "litert"}
    for j in jobs.values():
        assert j["status"] == "ok" and j["stats"]["n"] == len(j["latencies_ms"]) >= 10
        assert j["device"]["arch"] and j["host"]["exec_s"] > 0
        # the local machine's jobs are forked from the warm agent, and say so (bench/transports/warm.py)
        assert j["method"]["process"].startswith("a fresh process per job, forked from a warm agent")
        assert "fork" in j["phases_s"] and "interpreter_start" not in j["phases_s"]
    with open(run / "samples.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sum(len(j["latencies_ms"]) for j in jobs.values())
    assert set(rows[0]) >= {"device", "model", "variant", "runtime", "latency_ms"}
    html = (run / "report.html").read_text()
    assert "data:image/png;base64," in html and "tinybert-4" in html
    assert (run / "report.md").exists() and (run / "plots" / "latency_local.png").stat().st_size > 5000
    # every plot of the report, from this stored run
    for plot in ("roofline_local", "bandwidth_local", "comparison", "sweep_local"):
        assert (run / "plots" / (plot + ".png")).stat().st_size > 5000, plot
    assert not (run / "plots" / "energy_local.png").exists()  # no sensor here: said in words, no empty plot
    ceilings = json.loads((run / "ceilings" / "local.json").read_text())
    assert ceilings["bandwidth"]["triad_gbps"] > 0
    assert {c["precision"] for c in ceilings["compute"] if c["gops"]} >= {"fp32", "int8"}
    md = (run / "report.md").read_text()
    assert "How the jobs' processes were made (method.process): 3 job(s): a fresh process per job, forked" in md
    roof = md.split("## Roofline")[1].split("##")[0]
    # a bound with its uncertainty: memory / compute, or "near the ridge: cannot tell", and "roof not trusted"
    # where the ceilings were measured on a busy or unsteady host (issue 25)
    assert roof.count("| local | tinybert-4 |") == 3
    assert any(b in roof for b in ("| memory", "| compute", "| near the ridge")), roof
    assert "no energy per inference" in md.split("## Energy efficiency")[1].split("##")[0]
    # re-rendering the stored run gives the same plots
    for p in (run / "plots").glob("*.png"):
        p.unlink()
    assert bench(["report", run.name]).returncode == 0
    assert (run / "plots" / "roofline_local.png").exists()
    # the terminal table and the report path end the output
    table = proc.stdout.split("device: local")[-1]
    # within 100 columns (issue 25): p50/p99 per job, a shape shared by every row said once in the heading
    assert "p99" in table and "inputs 1x128" in table and " ms " in table
    rows = table.strip("\n").split("\n\n")[0].splitlines()  # the table, up to the report's path
    assert max(len(line) for line in rows) <= 100, rows
    assert proc.stdout.strip().splitlines()[-1].startswith("report: ")
    assert str(run / "report.html") in proc.stdout
    # a second run pushes nothing: the agent and the models are already on the device
    proc = bench(["run", "--variants", "onnx-fp32"] + QUICK)
    assert proc.returncode == 0
    second = [p for p in run_dirs(tmp_path / "results") if p != run][0]
    j = json.loads(next((second / "jobs").glob("*.json")).read_text())
    assert j["host"]["bytes_pushed"] == 0 and j["host"]["files_pushed"] == 0


@pytest.mark.parametrize("name, content, needle", [
    ("corrupt.onnx", b"\x08\x07garbage" * 10, "is not a readable ONNX model"),
    ("empty.onnx", b"", "is empty (0 bytes)"),
    ("notes.tflite", b"just some text, not a flatbuffer", "is not a TFLite flatbuffer"),
    ("missing.onnx", None, "does not exist"),
])
def test_bad_model_files_are_refused_before_any_work(tmp_path: Path, tiny_onnx: Path, name: str,
                                                     content: bytes, needle: str) -> None:
    bad = tmp_path / name
    if content is not None:
        bad.write_bytes(content)
    proc = bench(["run", "--model-file", str(tiny_onnx), "--model-file", str(bad)] + QUICK)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and str(bad) in err[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_model_the_runtime_cannot_load_gives_one_line_and_the_run_goes_on(tmp_path: Path, tiny_onnx: Path) -> None:
    """A well-formed ONNX file that ONNX Runtime rejects (an operator it does not have) fails on the device."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("NoSuchOp", ["x"], ["y"], domain="ai.unknown")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.unknown", 1)])
    model.ir_version = 8
    corrupt = tmp_path / "unloadable.onnx"
    onnx.save(model, str(corrupt))
    proc = bench(["run", "--model-file", str(corrupt), "--model-file", str(tiny_onnx)] + QUICK)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    bad_line = [ln for ln in lines if "unloadable" in ln and "ERROR" in ln]
    assert len(bad_line) == 1 and "model_load" in bad_line[0] and "onnxruntime could not load" in bad_line[0]
    assert any("tiny" in ln and " ok " in ln for ln in lines)
    run = only_run(tmp_path / "results")
    statuses = {json.loads(p.read_text())["model_name"]: json.loads(p.read_text())["status"]
                for p in (run / "jobs").glob("*.json")}
    assert statuses == {"unloadable": "error", "tiny": "ok"}
    # a model that does not load fails the same way on every retry: no --resume advice for it
    assert "--resume" not in proc.stdout and "will fail the same way until their cause is fixed" in proc.stdout
    assert "(model_load)" in proc.stdout
    assert "Jobs without a measurement" in (run / "report.md").read_text()


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_model_whose_inputs_cannot_be_generated(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["img"], ["y"])], "g",
                              [helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 3, "height", "width"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "height", "width"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "dynamic.onnx"
    onnx.save(model, str(path))
    proc = bench(["run", "--model-file", str(path), "--ceilings", "skip"] + QUICK)
    assert proc.returncode == 1
    line = next(ln for ln in proc.stdout.splitlines() if "ERROR" in ln)
    assert "dynamic" in line and "(input_generation)" in line and "'height'" in line and "--shapes img:" in line
    failed = only_run(tmp_path / "results")  # a run where nothing was measured draws no empty plots
    assert not list((failed / "plots").glob("*.png")) if (failed / "plots").exists() else True
    md = (failed / "report.md").read_text()
    assert "local / dynamic: nothing measured" in md and "0 measured, 0 valid, 1 without a measurement" in md
    # the fix the message names works, and the table shows the shape the job ran at
    proc = bench(["run", "--model-file", str(path), "--ceilings", "skip", "--shapes", "img:1x3x8x8"] + QUICK)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "inputs 1x3x8x8" in proc.stdout.split("device: local")[-1]  # said once in the device heading
    # a name the model does not have is refused by the job, naming the model's inputs
    proc = bench(["run", "--model-file", str(path), "--ceilings", "skip", "--shapes", "image:1x3x8x8"] + QUICK)
    assert proc.returncode == 1 and "the model's inputs are img" in proc.stdout


def test_batch_and_seq_len_fill_dynamic_axes(tmp_path: Path, tiny_onnx: Path) -> None:
    """tiny_onnx has x: [batch, 64]: --batch 3 runs it at 3x64; a malformed --shapes is refused before a run."""
    proc = bench(["run", "--model-file", str(tiny_onnx), "--ceilings", "skip", "--batch", "3", "--seq-len", "16"]
                 + QUICK)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "inputs 3x64" in proc.stdout.split("device: local")[-1]  # said once in the device heading
    for bad in (["--shapes", "x:3xb"], ["--shapes", "1x64"], ["--batch", "0"]):
        proc = bench(["run", "--model-file", str(tiny_onnx)] + bad)
        assert proc.returncode == 2 and ("--shapes" in proc.stderr or "--batch: 0 is out of range" in proc.stderr), \
            proc.stderr


def test_unknown_device_and_option_errors(tmp_path: Path, tiny_onnx: Path) -> None:
    proc = bench(["run", "--device", "jetsno", "--model-file", str(tiny_onnx)])
    assert proc.returncode == 2
    assert "unknown device 'jetsno'" in proc.stderr and "local" in proc.stderr
    proc = bench(["run", "--option", "onnxruntime-threads=2", "--model-file", str(tiny_onnx)])
    assert proc.returncode == 2 and "RUNTIME.KEY=VALUE" in proc.stderr
    proc = bench(["run", "--models", "tinybert-44"])
    assert proc.returncode == 2 and "unknown model 'tinybert-44'" in proc.stderr and "tinybert-4" in proc.stderr
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_hanging_and_crashing_agents(tmp_path: Path, tiny_onnx: Path) -> None:
    """A hung agent is killed at the job timeout; a segfaulting one is reported with its signal.

    The two "devices" are the local machine with a different interpreter: one that never returns
    (sleep) and one that really segfaults (a NULL read through ctypes). Nothing is mocked.
    """
    hang = tmp_path / "hang.sh"
    hang.write_text("#!/bin/sh\nexec sleep 600\n")
    crash = tmp_path / "crash.sh"
    crash.write_text("#!/bin/sh\nexec %s -c 'import ctypes; ctypes.string_at(0)'\n" % sys.executable)
    for p in (hang, crash):
        p.chmod(0o755)
    (tmp_path / "devices.yaml").write_text(
        "devices:\n  hang:\n    class: linux\n    transport: local\n    python: %s\n"
        "    options: {job_timeout_s: 3}\n"
        "  crash:\n    class: linux\n    transport: local\n    python: %s\n" % (hang, crash))
    t0 = time.monotonic()
    # the hanging device has its own 3 s timeout (devices.yaml); the healthy one keeps a load-proof 60 s
    proc = bench(["run", "--device", "hang,crash,local", "--model-file", str(tiny_onnx), "--job-timeout", "60",
                  "--ceilings", "skip"] + QUICK)
    assert time.monotonic() - t0 < 60
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert any("hang" in ln and "ERROR (timeout)" in ln and "3 s" in ln for ln in out.splitlines()), out
    assert any("crash" in ln and "ERROR (agent_crash)" in ln and "SIGSEGV" in ln for ln in out.splitlines()), out
    assert any(ln.split("]")[-1].strip().startswith("local") and " ok " in ln for ln in out.splitlines()), out
    # nothing left running
    ps = subprocess.run(["pgrep", "-f", "sleep 600"], capture_output=True, text=True)
    assert ps.stdout.strip() == ""


@pytest.mark.slow
def test_interrupt_keeps_finished_jobs_and_resume_completes(tmp_path: Path, zoo_default) -> None:
    proc = start_run(tmp_path, zoo_default["onnx-fp32"].path, 3, ["--min-seconds", "2", "--runs", "5"])
    results = tmp_path / "results"
    wait_for_result(results)
    time.sleep(0.5)  # the second job is now in its timed window
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    run = only_run(results)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["state"] == "interrupted"
    kept = {p.stem: p.stat().st_mtime for p in (run / "jobs").glob("*.json")}
    assert 1 <= len(kept) < 3
    assert "resume with: python -m bench run --resume %s" % run.name in out
    assert agents_of(run.name) == []

    proc2 = bench(["run", "--resume", run.name])
    assert proc2.returncode == 0, proc2.stdout + proc2.stderr
    assert "%d of 3 job(s) finished, %d to run" % (len(kept), 3 - len(kept)) in proc2.stdout
    after = {p.stem: p.stat().st_mtime for p in (run / "jobs").glob("*.json")}
    assert len(after) == 3
    assert all(after[k] == v for k, v in kept.items())  # finished jobs were not re-run
    assert json.loads((run / "manifest.json").read_text())["state"] == "complete"


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_report_rerenders_and_merges_runs(tmp_path: Path, tiny_onnx: Path) -> None:
    for _ in range(2):
        assert bench(["run", "--model-file", str(tiny_onnx)] + QUICK).returncode == 0
    runs = sorted(p.name for p in (tmp_path / "results").iterdir() if (p / "manifest.json").exists())
    assert len(runs) == 2
    proc = bench(["report"] + runs)
    assert proc.returncode == 0, proc.stderr
    merged = tmp_path / "results" / ("report-" + "+".join(runs))
    md = (merged / "report.md").read_text()
    comparison = md.split("## Comparison")[1].split("##")[0]
    assert comparison.count("| local | tiny |") == 2
    proc = bench(["report", "no-such-run"])
    assert proc.returncode == 2 and "no run 'no-such-run'" in proc.stderr


def test_ctrl_c_during_model_conversion_is_one_line_not_a_traceback(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEBENCH_CACHE", str(tmp_path / "cache"))  # empty: the model must be converted
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run", "--variants", "onnx-fp32"], cwd=str(REPO),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stdout:
        if "converting tinybert-4/onnx-fp32" in line:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err and "interrupted before any measurement" in err and "run the same command" in err
    assert not (tmp_path / "results").exists() or not run_dirs(tmp_path / "results")


def test_devices_and_probe_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = bench(["devices"])
    assert proc.returncode == 0, proc.stderr
    assert "local" in proc.stdout and "yes" in proc.stdout and "onnxruntime" in proc.stdout
    assert proc.stdout.startswith("inventory: ")
    # an unreachable device makes the command fail, naming it (port 9 on loopback: nothing listens)
    inv = tmp_path / "inv.yaml"
    inv.write_text("devices:\n  gone:\n    class: linux\n    transport: ssh\n    host: 127.0.0.1\n    port: 9\n"
                   "    user: nobody\n    options: {connect_timeout_s: 3}\n")
    proc = bench(["--inventory", str(inv), "devices"])
    assert proc.returncode == 1 and "not reachable: gone" in proc.stderr, proc.stdout + proc.stderr
    assert "inventory: %s" % inv in proc.stdout
    proc = bench(["probe", "local"])
    assert proc.returncode == 0 and json.loads(proc.stdout)["runtimes"]["litert"]["available"]


def test_a_run_where_no_job_measured_anything_fails_and_says_why(tmp_path: Path, zoo_default) -> None:
    """TensorRT is not installed here: the job is 'unavailable' with its install hint and the run exits 1."""
    proc = bench(["run", "--models", "tinybert-4", "--variants", "trt-fp16", "--ceilings", "skip"] + QUICK)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "no job measured anything (unavailable)" in proc.stderr
    assert "pip install tensorrt" in proc.stdout and "Traceback" not in proc.stderr
    assert "--resume" not in proc.stdout  # nothing a retry would fix
