"""Scenarios, sweeps and budgets as a user runs them (``python -m bench run`` in its own process, the real agent
and ONNX Runtime on this machine): the job JSON fields the tooling relies on, the tables and the report."""

from __future__ import annotations

import pytest

import csv
import json
from pathlib import Path

from tests.bench.cli.test_cli_run import QUICK, bench, only_run

FAST = ["--ceilings", "skip", "--sample-rate", "0"]


def _jobs(run: Path) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in (run / "jobs").glob("*.json")}


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_stream_at_several_rates_is_one_job_per_rate(tmp_path: Path, tiny_onnx: Path) -> None:
    proc = bench(["run", "--model-file", str(tiny_onnx), "--scenario", "stream", "--fps", "10,60", "--duration", "1"]
                 + FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stream 10 fps: missed" in proc.stdout and "stream 60 fps" in proc.stdout
    run = only_run(tmp_path / "results")
    jobs = _jobs(run)
    assert len(jobs) == 2 and all(j["scenario"]["name"] == "stream" for j in jobs.values())
    by_fps = {j["scenario"]["stream"]["fps"]: j["scenario"]["stream"] for j in jobs.values()}
    assert set(by_fps) == {10.0, 60.0}
    for fps, s in by_fps.items():
        assert {"fps", "deadline_ms", "frames", "missed", "miss_rate", "dropped", "p99_ms"} <= set(s)
        assert s["deadline_ms"] == 1000.0 / fps and s["frames"] >= 0.8 * fps
    md = (run / "report.md").read_text()
    assert "## Sustained and real-time scenarios" in md and "| 60.00 | 16.7 |" in md


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_a_sweep_with_a_budget_names_the_real_time_boundary(tmp_path: Path, tiny_onnx: Path) -> None:
    proc = bench(["run", "--model-file", str(tiny_onnx), "--sweep", "batch=1,16,256", "--budget-ms", "1000"] + QUICK
                 + FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = only_run(tmp_path / "results")
    jobs = _jobs(run)
    assert sorted(j["plan"]["sweep"]["value"] for j in jobs.values()) == [1, 16, 256]
    assert sorted(j["inputs"][0]["shape"][0] for j in jobs.values()) == [1, 16, 256]
    with open(run / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["meets_budget"] for r in rows} == {"yes"} and {r["sweep"] for r in rows} == {"batch"}
    md = (run / "report.md").read_text()
    assert "Real-time boundary" in md and "batch <= 256 meets p99 <= 1000 ms" in md
    assert (run / "plots").glob("latency_vs_batch_*.png")


def test_offline_finds_the_most_inferences_per_second_over_batches(tmp_path: Path, tiny_onnx: Path) -> None:
    proc = bench(["run", "--model-file", str(tiny_onnx), "--scenario", "offline", "--batches", "1,32",
                  "--min-seconds", "0.3"] + FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (job,) = _jobs(only_run(tmp_path / "results")).values()
    off = job["scenario"]["offline"]
    assert [b["batch"] for b in off["batches"]] == [1, 32] and off["best_batch"] in (1, 32)
    assert off["max_inferences_per_s"] == max(b["inferences_per_s"] for b in off["batches"])


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_a_short_sustained_run_has_intervals_and_a_verdict(tmp_path: Path, tiny_onnx: Path) -> None:
    proc = bench(["run", "--model-file", str(tiny_onnx), "--scenario", "sustained", "--duration", "3",
                  "--interval", "1"] + FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sustained: p50" in proc.stdout
    run = only_run(tmp_path / "results")
    (job,) = _jobs(run).values()
    sc = job["scenario"]
    assert sc["name"] == "sustained" and len(sc["intervals"]) == 3
    for row in sc["intervals"]:
        assert {"t_s", "n", "p50_ms", "p90_ms", "p99_ms", "temp_c", "freq_mhz", "power_mw"} <= set(row)
        assert row["temp_c"] is not None or row["temp_c_reason"]  # null with the reason where no sensor exists
    assert {"first_p50_ms", "steady_p50_ms", "slowdown", "onset_s", "cause"} <= set(sc["sustained"])
    assert sc["total_runs"] >= job["timing"]["runs"]
    assert job["plan"]["timeout_s"] >= 300
    assert list((run / "plots").glob("timeline_*.png"))


def test_a_sweep_the_model_cannot_take_is_refused_before_any_work(tmp_path: Path, zoo_default) -> None:
    """The zoo's ONNX exports have fixed shapes (1x128): a seq-len sweep over them would run one shape five times
    and draw a false boundary. Refused, naming the shapes and the fix, with no run folder."""
    proc = bench(["run", "--models", "tinybert-4", "--variants", "onnx-fp32", "--sweep", "seq-len=16,64"] + FAST,
                 timeout=300)
    assert proc.returncode == 2 and "has fixed input shapes (input_ids 1x128" in proc.stderr, proc.stderr
    results = tmp_path / "results"
    assert not results.exists() or not [p for p in results.iterdir() if (p / "manifest.json").exists()]
