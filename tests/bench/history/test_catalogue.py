"""The DuckDB history catalogue (bench/history/catalogue.py) and ``python -m bench history``, on real runs made with
``python -m bench run`` on the tiny ONNX model (tests/bench/history_runs.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List

import pytest

from bench.history.catalogue import Filters, catalog_path, fingerprint, open_catalog
from tests.bench.history.history_runs import (QUICK, REPO, bench, copy_runs, force_valid, make_runs, model_files,
                                      rewrite_jobs, slow_down)


@pytest.fixture
def results() -> Path:
    return Path(os.environ["EDGEBENCH_RESULTS"])


@pytest.fixture
def runs(results: Path, tiny_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> List[Path]:
    """Three real runs (two jobs each: tiny-a and tiny-b) copied into this test's results folder."""
    return copy_runs(make_runs(tmp_path_factory.getbasetemp() / "history-runs", tiny_onnx), results)


def consistent(cat) -> None:
    """No half rows: every measured job has exactly its n samples; every run's job count matches its rows."""
    bad = cat.sql("SELECT j.run_id, j.job_id, j.n, coalesce(s.c, 0) AS c FROM jobs j LEFT JOIN "
                  "(SELECT job_key, count(*) AS c FROM samples GROUP BY job_key) s USING (job_key) "
                  "WHERE j.status = 'ok' AND coalesce(s.c, 0) <> j.n")
    assert bad.empty, bad
    mismatch = cat.sql("SELECT r.run_id FROM runs r LEFT JOIN (SELECT run_id, count(*) AS c FROM jobs GROUP BY run_id) "
                       "j USING (run_id) WHERE r.stored_jobs <> coalesce(j.c, 0)")
    assert mismatch.empty, mismatch


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_build_incremental_update_and_rebuild_from_scratch(runs: List[Path], results: Path) -> None:
    lines: List[str] = []
    with open_catalog(log=lines.append) as cat:
        assert lines == [] and len(cat.runs()) == 3 and len(cat.jobs()) == 6
        assert int(cat.sql("SELECT count(*) AS c FROM samples")["c"][0]) == 180
        consistent(cat)
        pts = cat.points(Filters(model=["tiny-a"]))
        assert len(pts) == 3 and list(pts["run_id"]) == [r.name for r in runs]
        assert (pts["p50_ci95_low_ms"] <= pts["p50_ms"]).all() and (pts["p50_ms"] <= pts["p50_ci95_high_ms"]).all()
        before = cat.sql("SELECT * EXCLUDE (indexed_utc) FROM runs ORDER BY run_id")
        jobs_before = cat.sql("SELECT * FROM jobs ORDER BY job_key")
    # nothing changed: nothing is read again
    with open_catalog(update=False) as cat:
        rep = cat.update(log=lines.append)
        assert rep.indexed == [] and rep.unchanged == 3 and rep.dropped == []
    # a new run folder is read, a removed one is dropped, a changed one is read again
    shutil.copytree(runs[2], results / "20991231-000000-beef")
    shutil.rmtree(runs[0])
    rewrite_jobs(runs[1], lambda j: j.update(note_from_test="changed"))
    with open_catalog(update=False) as cat:
        rep = cat.update(log=lines.append)
        assert rep.indexed == [runs[1].name, "20991231-000000-beef"] and rep.dropped == [runs[0].name]
        assert rep.unchanged == 1 and len(cat.jobs()) == 6
        consistent(cat)
    # derived data: deleting the catalogue loses nothing
    shutil.copytree(results / "20991231-000000-beef", runs[0])  # put a run back under the old name
    shutil.rmtree(results / "20991231-000000-beef")
    rewrite_jobs(runs[0], lambda j: None)
    catalog_path().unlink()
    with open_catalog() as cat:
        after = cat.sql("SELECT * EXCLUDE (indexed_utc, fingerprint) FROM runs ORDER BY run_id")
        assert list(after["run_id"]) == list(before["run_id"])
        jobs_after = cat.sql("SELECT * FROM jobs ORDER BY job_key")
        assert len(jobs_after) == len(jobs_before) == 6
        same = jobs_after[jobs_after.run_id != runs[0].name]["p50_ms"].tolist()
        assert same == jobs_before[jobs_before.run_id != runs[0].name]["p50_ms"].tolist()
    assert lines == []


def test_corrupt_and_half_written_runs_are_skipped_with_one_line_never_counted(runs: List[Path], results: Path) -> None:
    with open_catalog(log=lambda line: None) as cat:
        assert len(cat.jobs()) == 6
    (runs[0] / "manifest.json").write_bytes(b'{"run_id": "x", "jo')  # truncated mid-write
    bad_job = sorted((runs[1] / "jobs").glob("*.json"))[0]
    bad_job.write_text('{"job_id": "x", "status": "ok", "latencies_ms": [1.0, -2.0]}')  # fails the schema
    (results / "20991231-000000-dead" / "jobs").mkdir(parents=True)  # a run folder before its manifest
    (results / "report-a+b").mkdir()  # a merged report's folder: not a run, no line
    lines: List[str] = []
    with open_catalog(log=lines.append) as cat:
        assert len(lines) == 2, lines
        assert str(runs[0]) in lines[1] and "manifest.json unreadable" in lines[1]
        assert "20991231-000000-dead" in lines[0] and "no manifest.json" in lines[0]
        assert set(cat.runs()["run_id"]) == {runs[1].name, runs[2].name}
        jobs = cat.jobs()
        assert len(jobs) == 3 and bad_job.stem not in set(jobs[jobs.run_id == runs[1].name]["job_id"])
        skipped = cat.skipped()
        assert len(skipped) == 3 and any(str(bad_job) in s and "sample 1 is -2.0" in s for s in skipped)
        consistent(cat)
    proc = bench(["history", "--json"], results)
    assert proc.returncode == 0, proc.stderr
    named = [line for line in proc.stderr.splitlines() if line.startswith("skipped")]
    assert len(named) == 3 and any(str(bad_job) in line for line in named)
    assert {p["run_id"] for p in json.loads(proc.stdout)["points"]} == {runs[1].name, runs[2].name}


def test_an_unreadable_catalogue_file_is_built_again(runs: List[Path]) -> None:
    catalog_path().write_bytes(b"this is not a duckdb file" * 100)
    lines: List[str] = []
    with open_catalog(log=lines.append) as cat:
        assert len(cat.jobs()) == 6
    assert len(lines) == 1 and "building it again" in lines[0]


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_history_flags_an_injected_slow_run(runs: List[Path], results: Path) -> None:
    """Three real runs; the stored jobs of the second are rewritten as a steady repeat of the first (x1.02) and
    those of the third as a slow run (the first run's latencies x3, statistics recomputed: slow_down). All three get a valid verdict (force_valid: the shared host makes
    these tiny runs noisy); the next test keeps the slow run invalid."""
    for run in runs:
        rewrite_jobs(run, force_valid)
    # a steady history (run 2 = run 1 + 2 %): on the shared host two real tiny runs can differ 2-3x, which
    # widens the band (3 x the history's spread) past any fixed step; then the third run is 3x slower
    rewrite_jobs(runs[1], slow_down(1.02, like=runs[0]))
    rewrite_jobs(runs[2], slow_down(3.0, like=runs[0]))
    proc = bench(["history", "--regressions", "--json"], results)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "rolling median" in out["method"] and "10 %" in out["method"]
    flagged = out["points"]
    assert {(p["run_id"], p["model"]) for p in flagged} == {(runs[2].name, "tiny-a"), (runs[2].name, "tiny-b")}
    for p in flagged:
        assert p["verdict"] == "slower" and p["change_pct"] > 100 and p["baseline_runs"] == 2
        assert p["p50_ci95_low_ms"] > p["baseline_p50_ms"]
    text = bench(["history", "--model", "tiny-a"], results)
    assert text.returncode == 0, text.stderr
    table = [line for line in text.stdout.splitlines() if runs[0].name[:8] in line]
    assert len(table) == 3 and "slower" in table[2] and "baseline" in table[0]
    plot = results / "history.png"
    assert "plot: %s" % plot.resolve() in text.stdout and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from bench.report.history_view import report_rows

    rows = report_rows([runs[2].name])  # what the report of the slow run shows
    assert len(rows) == 2 and {r["verdict"] for r in rows} == {"slower"}
    none = bench(["history", "--regressions", "--model", "tiny-a", "--until", "2000-01-01"], results)
    assert none.returncode == 0 and "no measured runs match" in none.stdout


def test_an_invalid_slow_run_is_shown_but_neither_flagged_nor_baseline(runs: List[Path], results: Path) -> None:
    """As above, but the slow third run keeps a 'not valid' verdict: it must not raise an alarm."""
    for run in runs[:2]:
        rewrite_jobs(run, force_valid)
    rewrite_jobs(runs[1], slow_down(1.02, like=runs[0]))  # a steady history, as above
    rewrite_jobs(runs[2], slow_down(3.0, like=runs[0]))
    rewrite_jobs(runs[2], lambda j: j.update(validity={"valid": False, "warnings": [
        {"code": "busy_other_processes", "severity": "invalid", "message": "other processes used 95 %"}]}))
    proc = bench(["history", "--regressions", "--json"], results)
    assert proc.returncode == 0 and json.loads(proc.stdout)["points"] == []
    pts = json.loads(bench(["history", "--json"], results).stdout)["points"]
    slow = [p for p in pts if p["run_id"] == runs[2].name]
    assert len(slow) == 2 and all(p["verdict"] == "invalid" and "would be: slower" in p["why"] for p in slow)


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_filters_and_bad_arguments(runs: List[Path], results: Path) -> None:
    out = json.loads(bench(["history", "--model", "tiny-b", "--device", "local", "--json"], results).stdout)
    assert len(out["points"]) == 3 and {p["model"] for p in out["points"]} == {"tiny-b"}
    later = json.loads(bench(["history", "--since", "2099-01-01", "--json"], results).stdout)
    assert later["points"] == []
    bad = bench(["history", "--since", "last tuesday"], results)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "--since" in bad.stderr
    changes = json.loads(bench(["history", "--changes", "--json"], results).stdout)["changes"]
    assert all(c["before_run"] == runs[0].name and c["after_run"] == runs[2].name for c in changes)


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_concurrent_run_while_history_reads(runs: List[Path], results: Path, tiny_onnx: Path, tmp_path: Path) -> None:
    """A ``bench run`` of six jobs writes into the results folder while this process updates and queries the
    catalogue in a loop and a ``bench history`` process competes for it: every answer is whole (each job with
    all its samples), and at the end the new run is there complete."""
    files = model_files(tmp_path / "models", tiny_onnx, ["conc-%d" % i for i in range(6)])
    proc = subprocess.Popen([sys.executable, "-m", "bench", "run"] + QUICK + files, cwd=str(REPO),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = set()
    other = None
    try:
        while proc.poll() is None:
            with open_catalog(log=lambda line: None) as cat:
                consistent(cat)
                new = cat.sql("SELECT count(*) AS c FROM jobs WHERE model LIKE 'conc-%'")["c"][0]
                seen.add(int(new))
            if other is None:
                other = subprocess.Popen([sys.executable, "-m", "bench", "history", "--json"], cwd=str(REPO),
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(0.2)  # leave the other process room to take the catalogue
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, out + err
    finally:
        if proc.poll() is None:
            proc.kill()
    o_out, o_err = other.communicate(timeout=120)
    assert other.returncode == 0, o_err
    json.loads(o_out)
    with open_catalog(log=lambda line: None) as cat:
        consistent(cat)
        new_runs = cat.runs(Filters(model=["conc-0"]))
        assert len(new_runs) == 1 and new_runs["state"][0] == "complete" and new_runs["stored_jobs"][0] == 6
    assert seen <= set(range(7)) and len(seen) >= 1


def test_a_second_process_waits_for_the_catalogue(runs: List[Path], results: Path) -> None:
    cat = open_catalog(log=lambda line: None)
    timer = threading.Timer(1.5, cat.close)
    timer.start()
    t0 = time.monotonic()
    proc = bench(["history", "--json"], results)
    timer.join()
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - t0 >= 1.5 and len(json.loads(proc.stdout)["points"]) == 6


@pytest.mark.slow
def test_three_default_runs_give_three_points_per_variant(zoo_default, results: Path) -> None:
    """Three runs of the default set (tinybert-4: onnx-fp32, onnx-int8-dynamic, tflite-fp32), as ``make bench``
    makes them (short windows): ``bench history --model tinybert-4`` has three points per variant, each with
    its CI, and draws them."""
    for _ in range(3):
        proc = bench(["run", "--runs", "10", "--min-seconds", "0", "--warmup", "1", "--ceilings", "skip",
                      "--sample-rate", "0"], results, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(bench(["history", "--model", "tinybert-4", "--json"], results).stdout)["points"]
    per_variant = {}
    for p in out:
        per_variant.setdefault(p["variant"], []).append(p)
        assert p["p50_ci95_low_ms"] <= p["p50_ms"] <= p["p50_ci95_high_ms"]
    assert sorted(per_variant) == ["onnx-fp32", "onnx-int8-dynamic", "tflite-fp32"]
    assert all(len(v) == 3 and len({p["run_id"] for p in v}) == 3 for v in per_variant.values())
    assert (results / "history.png").read_bytes()[:4] == b"\x89PNG"


def test_history_plot_of_runs_without_a_median_ci(tmp_path: Path) -> None:
    """A results folder whose only run has 3-sample jobs (no CI for the median): the plot is drawn, no crash."""
    import pandas as pd

    from bench.report.history_plot import history_plot

    judged = pd.DataFrame([{"device": "local", "model": "m", "variant": "onnx-fp32", "runtime": "onnxruntime",
                            "options": "{}", "run_id": "20261122-234802-f2c4",
                            "time_utc": pd.Timestamp("2026-11-22T23:48:02"), "p50_ms": 0.026,
                            "p50_ci95_low_ms": float("nan"), "p50_ci95_high_ms": float("nan"),
                            "verdict": "invalid", "change_pct": float("nan")}])
    out = history_plot(judged, tmp_path / "h.png")
    assert out.stat().st_size > 5000


def test_hostile_manifests_are_skipped_and_later_calls_work(runs: List[Path], results: Path) -> None:
    """A manifest with "command": 12345 or "jobs": [1, 2, 3] is skipped with one line — on this call and every
    later one — and the other runs are indexed."""
    for run, change in ((runs[0], {"command": 12345}), (runs[1], {"jobs": [1, 2, 3]})):
        m = json.loads((run / "manifest.json").read_text())
        m.update(change)
        (run / "manifest.json").write_text(json.dumps(m))
    for _ in range(2):
        lines: List[str] = []
        with open_catalog(log=lines.append) as cat:
            assert set(cat.runs()["run_id"]) == {runs[2].name}
            consistent(cat)
        assert len(lines) == 2 and all("is not a run manifest" in line for line in lines), lines
    proc = bench(["history", "--json"], results)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr


def test_a_corrupt_catalogue_meeting_a_deleted_run_is_rebuilt(runs: List[Path], results: Path) -> None:
    with open_catalog(log=lambda line: None) as cat:
        assert len(cat.jobs()) == 6
    path = catalog_path()
    size = path.stat().st_size
    with open(path, "r+b") as fh:  # the last 256 KB corrupted
        fh.seek(max(0, size - 256 * 1024))
        fh.write(os.urandom(min(size, 256 * 1024)))
    shutil.rmtree(runs[0])
    lines: List[str] = []
    with open_catalog(log=lines.append) as cat:
        assert set(cat.runs()["run_id"]) == {runs[1].name, runs[2].name}
        consistent(cat)
    assert any("building it again" in line for line in lines), lines
    proc = bench(["history", "--json"], results)
    assert proc.returncode == 0, proc.stderr


def test_a_result_nested_500000_levels_is_a_bad_result_not_a_harness_bug() -> None:
    from bench.results.schema import ResultInvalid, parse_device_json

    with pytest.raises(ResultInvalid, match="nested too deeply"):
        parse_device_json(b"[" * 500_000 + b"]" * 500_000)


def test_the_report_updates_only_its_own_run(runs: List[Path], results: Path) -> None:
    """Issue 26: the report of a run that just finished adds that run by id (``update_runs``); no other folder
    is read — a change elsewhere waits for the next full scan (``bench history``). A missing or corrupt
    catalogue is still built in full."""
    from bench.report.history_view import report_rows

    with open_catalog(log=lambda line: None) as cat:
        assert len(cat.runs()) == 3
    new = results / "20991231-000000-beef"
    shutil.copytree(runs[2], new)
    rewrite_jobs(runs[1], lambda j: j.update(note_from_test="changed elsewhere"))  # not this report's run
    lines: List[str] = []
    with open_catalog(update=False) as cat:
        rep = cat.update_runs([new.name], log=lines.append)
        assert rep.indexed == [new.name] and rep.unchanged == 0 and rep.dropped == [] and lines == []
        assert set(cat.runs()["run_id"]) == {r.name for r in runs} | {new.name}
        old_fp = cat.sql("SELECT fingerprint FROM runs WHERE run_id = ?", [runs[1].name])["fingerprint"][0]
        assert old_fp != fingerprint(runs[1])  # runs[1] changed but was not read again
        consistent(cat)
        again = cat.update_runs([new.name])
        assert again.indexed == [] and again.unchanged == 1
    rows = report_rows([new.name], results)  # the report's path: its run's points, judged against history
    assert rows and {r["run_id"] for r in rows} == {new.name}
    shutil.rmtree(new)
    with open_catalog(runs=[new.name], log=lines.append) as cat:  # its folder gone: dropped, nothing else read
        assert new.name not in set(cat.runs()["run_id"]) and len(cat.runs()) == 3
    with open_catalog(update=False) as cat:  # the full scan (bench history) then reads the changed run
        assert cat.update().indexed == [runs[1].name]
    for bad in ("../x", "", "a/b"):
        with open_catalog(update=False) as cat:
            rep = cat.update_runs([bad])
            assert rep.indexed == [] and (rep.skipped or bad == "") and len(cat.runs()) == 3
    catalog_path().unlink()  # missing: the first update by id scans everything
    with open_catalog(runs=[runs[0].name], log=lines.append) as cat:
        assert len(cat.runs()) == 3 and len(cat.jobs()) == 6
    assert lines == []
