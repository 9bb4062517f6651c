"""The pandas API (bench/history/data.py) and the per-run Parquet files (bench/results/columnar.py), on real runs made with
``python -m bench run`` on the tiny ONNX model."""

from __future__ import annotations

import csv
import json
import os
import platform
from pathlib import Path
from typing import List

import pandas as pd
import pyarrow.parquet as pq
import pytest

from bench import data
from tests.bench.history.history_runs import copy_runs, make_runs, rewrite_jobs


@pytest.fixture
def runs(tmp_path: Path, tiny_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> List[Path]:
    """Three real runs (two jobs each) copied into this test's results folder."""
    src = make_runs(tmp_path_factory.getbasetemp() / "history-runs", tiny_onnx)
    return copy_runs(src, Path(os.environ["EDGEBENCH_RESULTS"]))


def test_parquet_beside_the_csv_same_rows_zstd_typed(runs: List[Path]) -> None:
    run = runs[0]
    table = pq.read_table(run / "samples.parquet")
    with open(run / "samples.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert table.num_rows == len(rows) == 60
    assert table.column_names == list(rows[0])
    got = table.to_pandas()
    assert list(got["job_id"]) == [r["job_id"] for r in rows]
    assert all(abs(a - float(r["latency_ms"])) < 1e-6 for a, r in zip(got["latency_ms"], rows))
    meta = pq.ParquetFile(run / "samples.parquet").metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    summary = pq.read_table(run / "summary.parquet")
    assert str(summary.schema.field("p50_ms").type) == "double"
    assert str(summary.schema.field("n").type) == "int64"
    assert summary.num_rows == 2 and set(summary.column("run_id").to_pylist()) == {run.name}
    assert not list(run.glob(".*.tmp")) and not list(run.glob("jobs/.*.tmp"))


def test_jobs_of_one_run_and_of_all_runs(runs: List[Path]) -> None:
    one = data.jobs(runs[1].name)
    assert len(one) == 2 and set(one["run_id"]) == {runs[1].name}
    every = data.jobs()
    assert len(every) == 6 and list(every.columns[:2]) == ["run_id", "device"]
    assert set(every["run_id"]) == {r.name for r in runs}
    stored = {(r.name, p.stem): json.loads(p.read_text()) for r in runs for p in (r / "jobs").glob("*.json")}
    for row in every.itertuples():
        job = stored[(row.run_id, row.job_id)]
        assert row.p50_ms == job["stats"]["p50_ms"] and row.n == len(job["latencies_ms"]) == 30
        assert row.p50_ci95_low_ms <= row.p50_ms <= row.p50_ci95_high_ms
    assert str(every["valid"].dtype) == "boolean"
    assert pd.api.types.is_datetime64_any_dtype(every["started_utc"])
    assert set(every["model"]) == {"tiny-a", "tiny-b"} and set(every["options"]) == {'{"threads": 1}'}
    # paths and RunStores are accepted too
    assert len(data.jobs([runs[0], str(runs[2])])) == 4


def test_samples_are_the_raw_latencies_and_follow_the_job_files(runs: List[Path]) -> None:
    s = data.samples(runs)
    assert list(s.columns) == data.SAMPLE_COLUMNS and len(s) == 180
    assert set(s["run_id"]) == {r.name for r in runs}
    path = sorted((runs[0] / "jobs").glob("*.json"))[0]
    job = json.loads(path.read_text())
    mine = s[(s.run_id == runs[0].name) & (s.job_id == job["job_id"])].sort_values("iteration")
    assert list(mine["latency_ms"].round(6)) == [round(x, 6) for x in job["latencies_ms"]]
    # a job file changed after the tables were written: the JSON (source of truth) wins over samples.parquet
    rewrite_jobs(runs[0], lambda j: j.update(latencies_ms=[2 * x for x in j["latencies_ms"]]))
    again = data.samples(runs[0].name)
    mine2 = again[again.job_id == job["job_id"]].sort_values("iteration")
    assert list(mine2["latency_ms"].round(6)) == [round(2 * x, 6) for x in job["latencies_ms"]]


def test_power_and_device_facts(runs: List[Path]) -> None:
    p = data.power()
    assert len(p) == 6 and set(p["source"]) == {"agent"} and "run_id" in p.columns
    # this host has no power sensor: null figures, each with its reason (never a guess)
    assert p["energy_per_inference_mj"].isna().all() and p["reason"].notna().all()
    d = data.devices()
    assert len(d) == 3 and set(d["device"]) == {"local"}
    assert set(d["arch"]) == {platform.machine()} and d["onnxruntime_version"].notna().all()
    assert (d["memory_total_bytes"] > 0).all()


def test_corrupt_run_folder_and_job_file_are_named_and_left_out(runs: List[Path]) -> None:
    (runs[0] / "manifest.json").write_text('{"run_id": "x", "jobs": [')  # half-written
    bad_job = sorted((runs[1] / "jobs").glob("*.json"))[0]
    bad_job.write_text("{not json")
    lines: List[str] = []
    jobs = data.jobs(log=lines.append)
    assert set(jobs["run_id"]) == {runs[1].name, runs[2].name} and len(jobs) == 3
    assert len(lines) == 2
    assert str(runs[0]) in lines[0] and "manifest.json unreadable" in lines[0]
    assert str(bad_job) in lines[1]
    s = data.samples(log=lambda line: None)
    assert len(s) == 90 and bad_job.stem not in set(s[s.run_id == runs[1].name]["job_id"])


def test_empty_results_folder_gives_empty_frames() -> None:
    assert data.jobs().empty and data.samples().empty and data.power().empty and data.devices().empty
    assert list(data.samples().columns) == data.SAMPLE_COLUMNS
