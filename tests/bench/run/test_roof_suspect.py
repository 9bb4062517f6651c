"""A job above its roof beyond noise marks the ceiling suspect and re-measures it once — unless
``--ceilings keep``. The job is real (a small ONNX model through the agent); the ceilings it is held
to are written by the test, set far below what this machine does so the job must exceed them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest

from bench.cli.plan_args import _file_artifact
from bench.plan.inventory import local_device
from bench.plan.jobs import plan_jobs
from bench.run.runner import run_plan
from bench.results.store import RunStore

LOW = {"device_name": "local", "measured_at_unix_s": 0, "trust": {"trusted": True, "reasons": []},
       "compute": [{"runtime": "onnxruntime", "precision": "fp32", "gops": 1e-4, "spread_rel": 0.02}],
       "bandwidth": {"triad_gbps": 1e-4, "spread_rel": 0.02, "llc_bytes": 1024}}


def _run(tmp_path: Path, model: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> Dict[str, Any]:
    calls: List[Dict[str, Any]] = []

    def fake_measure(device: Any, transport: Any, mode: str = "measure", log: Any = print, reason: str = "",
                     **kw: Any) -> Dict[str, Any]:
        """Stand-in for the microbenchmarks (minutes of device time): records that it was asked."""
        calls.append({"mode": mode, "reason": reason})
        return dict(LOW, compute=[dict(LOW["compute"][0], gops=1e6)], measured_because=reason)

    monkeypatch.setattr("bench.run.ceilings.measure", fake_measure)
    device = local_device()
    jobs = plan_jobs([device.name], [_file_artifact(str(model))], None, {"onnxruntime": {"threads": 1}},
                     {"min_runs": 20, "min_seconds": 0.0, "warmup_runs": 2, "sample_rate_hz": 0}, 120)
    store = RunStore.create(jobs, ["test"], base=tmp_path / "results")
    (store.root / "ceilings").mkdir()
    (store.root / "ceilings" / "local.json").write_text(json.dumps(LOW))
    lines: List[str] = []
    seen: List[Any] = []

    def both(event: Any) -> None:
        seen.append(event)
        if event.line():
            lines.append(event.line())

    run_plan(store, jobs, {device.name: device}, ceilings=mode, events=both)
    return {"calls": calls, "lines": lines, "events": seen, "result": store.results()[0],
            "ceilings": json.loads((store.root / "ceilings" / "local.json").read_text())}


def test_above_the_roof_remeasures_once(tmp_path: Path, tiny_onnx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _run(tmp_path, tiny_onnx, "measure", monkeypatch)
    assert out["result"]["status"] == "ok" and out["result"]["roof_check"]["efficiency"] > 10
    assert len(out["calls"]) == 1 and out["calls"][0]["mode"] == "remeasure"
    assert "too low" in out["calls"][0]["reason"]
    assert any("suspect" in ln and "measuring them again once" in ln for ln in out["lines"])
    assert out["ceilings"]["remeasured_after_suspect"] and out["ceilings"]["compute"][0]["gops"] == 1e6
    from bench.run.events import CeilingsMeasured

    said = [e for e in out["events"] if isinstance(e, CeilingsMeasured)]
    assert [e.device for e in said] == ["local"] and said[0].error == ""  # the re-measurement, as a typed event


def test_keep_marks_suspect_but_never_remeasures(tmp_path: Path, tiny_onnx: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    out = _run(tmp_path, tiny_onnx, "keep", monkeypatch)
    assert out["calls"] == []
    assert out["ceilings"]["suspect"][0]["job_id"] == out["result"]["job_id"]
    reason = out["ceilings"]["suspect"][0]["reason"]
    assert "compute roof" in reason or "bandwidth" in reason
