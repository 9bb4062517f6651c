"""Attaching a device power log to a run: alignment by wall clock, coverage and format errors.

No Jetson runs here, so the log covering the run's window is written in tegrastats' JetPack 5 format
at test time (the format itself is checked against real captures in the sensor parser tests)."""

from __future__ import annotations

import pytest

import datetime
import json
from pathlib import Path

from tests.bench.cli.test_cli_run import QUICK, REPO, bench, only_run

FIX = REPO / "tests" / "fixtures" / "devices"  # copies of ../shared/fixtures/devices, with their sources


def _tegrastats_lines(start_unix: float, end_unix: float, utc_offset_s: float, mw: int) -> str:
    lines = []
    t = int(start_unix) - 3
    while t <= end_unix + 3:
        local = datetime.datetime.utcfromtimestamp(t + utc_offset_s)
        lines.append("%s RAM 2274/6834MB (lfb 27x4MB) CPU [99%%@1189,100%%@1188] EMC_FREQ 0%% GR3D_FREQ 22%% "
                     "CPU@40C GPU@38C VDD_IN %dmW/%dmW VDD_SOC 1234mW/1234mW" % (local.strftime("%m-%d-%Y %H:%M:%S"),
                                                                              mw, mw))
        t += 1
    return "\n".join(lines) + "\n"


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_power_log_gives_energy_by_timestamps(tmp_path: Path, tiny_onnx: Path) -> None:
    assert bench(["run", "--model-file", str(tiny_onnx)] + QUICK).returncode == 0
    run = only_run(tmp_path / "results")
    job = json.loads(next((run / "jobs").glob("*.json")).read_text())
    tm = job["timing"]
    log = tmp_path / "tegrastats.log"
    log.write_text(_tegrastats_lines(tm["window_start_unix_s"], tm["window_end_unix_s"], tm["utc_offset_s"], 5000))
    proc = bench(["report", run.name, "--power-log", str(log), "--power-log-kind", "tegrastats"])
    assert proc.returncode == 0, proc.stderr
    assert "mJ/inference" in proc.stdout
    job = json.loads(next((run / "jobs").glob("*.json")).read_text())
    pl = job["power_log"]
    assert pl["sensor"] == "log:tegrastats" and pl["boundary"].startswith("VDD_IN")
    # a tiny model's window is ~0.1 ms: Unix-time edges (float64 near 1.8e9 s) resolve it to ~0.2%
    assert abs(pl["avg_power_mw"] - 5000.0) < 50
    assert abs(pl["energy_per_inference_mj"] / (5000.0 * tm["window_s"] / tm["runs"]) - 1) < 0.01
    assert "| log:tegrastats |" in (run / "report.md").read_text()  # shown in the energy table


@pytest.mark.serial  # a power log timed against a job window: alone
def test_power_log_that_misses_the_window_or_has_no_clock(tmp_path: Path, tiny_onnx: Path) -> None:
    assert bench(["run", "--model-file", str(tiny_onnx)] + QUICK).returncode == 0
    run = only_run(tmp_path / "results")
    proc = bench(["report", run.name, "--power-log", str(FIX / "tegrastats_xavier-nx-8gb_jp5_7.txt"),
                  "--power-log-kind", "tegrastats"])
    assert proc.returncode == 0 and "does not cover the job's window" in proc.stdout
    proc = bench(["report", run.name, "--power-log", str(FIX / "tegrastats_tx1_l4t28_oldformat_6.txt"),
                  "--power-log-kind", "tegrastats"])
    assert "no timestamped whole-device power samples" in proc.stdout
    proc = bench(["report", run.name, "--power-log", "x.log", "--power-log-kind", "tegra"])
    assert proc.returncode == 2 and "tegrastats" in proc.stderr
