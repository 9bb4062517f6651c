"""``bench compare``: the statistics on constructed series, then real runs of real models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import numpy as np
import pytest

from bench.analysis.run_compare import compare_samples
from tests.bench.cli.test_cli_run import bench
from tests.bench.analysis.test_validity_real import quietest_core


def lognormal(median: float, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(np.log(median), 0.05, n)


def test_same_distribution_is_no_significant_difference() -> None:
    out = compare_samples(lognormal(10.0, 300, 1), lognormal(10.0, 300, 2))
    assert out["verdict"] == "no significant difference"
    assert out["ratio_ci95"][0] < 1.0 < out["ratio_ci95"][1] and abs(out["cliffs_delta"]) < 0.2


def test_a_faster_and_a_slower_configuration() -> None:
    fast = compare_samples(lognormal(10.0, 300, 1), lognormal(7.0, 300, 2))
    assert fast["verdict"] == "faster" and fast["ratio"] == pytest.approx(0.7, rel=0.02)
    assert fast["ratio_ci95"][1] < 1.0 and fast["p_value"] < 1e-6 and fast["cliffs_delta"] < -0.9
    slow = compare_samples(lognormal(7.0, 300, 1), lognormal(10.0, 300, 2))
    assert slow["verdict"] == "slower" and slow["ratio_ci95"][0] > 1.0 and slow["cliffs_delta"] > 0.9


def test_a_small_but_certain_change_stays_under_the_noise_floor() -> None:
    out = compare_samples(lognormal(10.0, 5000, 1), lognormal(10.4, 5000, 2))  # +4 %, p tiny
    assert out["p_value"] < 1e-6 and out["verdict"] == "no significant difference"
    assert "within the 10 % noise floor" in out["note"]
    # a lower threshold calls it; the between-round spread of the runs raises the floor again
    assert compare_samples(lognormal(10.0, 5000, 1), lognormal(10.4, 5000, 2), threshold=0.02)["verdict"] == "slower"
    assert compare_samples(lognormal(10.0, 5000, 1), lognormal(10.4, 5000, 2), threshold=0.02,
                           noise_floor=0.08)["verdict"] == "no significant difference"


def _run(variant: str, core: int) -> str:
    proc = bench(["run", "--models", "tinybert-4", "--variants", variant, "--ceilings", "skip", "--threads", "1",
                  "--pin-cores", str(core), "--runs", "40", "--min-seconds", "1", "--warmup", "3", "--rounds", "2",
                  "--sample-rate", "0"])
    assert proc.returncode in (0, 4), proc.stdout + proc.stderr
    return next(ln for ln in proc.stdout.splitlines() if ln.startswith("run ")).split()[1].rstrip(":")


def _compare(a: str, b: str, extra: List[str] = ()) -> dict:
    proc = bench(["compare", a, b, "--json"] + list(extra))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.slow
@pytest.mark.serial  # judges speed on this machine: beside another test worker its runs are not valid
def test_compare_runs_of_real_models(tmp_path: Path, zoo_default) -> None:
    core = quietest_core()
    a = _run("onnx-fp32", core)
    # the same configuration again: on a shared host a neighbour can land on one run; such a run is
    # flagged invalid, and only then is it measured again (at most twice)
    for _ in range(3):
        b = _run("onnx-fp32", core)
        same = _compare(a, b)
        assert len(same["pairs"]) == 1
        pair = same["pairs"][0]
        if pair["verdict"] == "no significant difference" or not pair.get("caution"):
            break
    # three tries that were all judged not valid (a busy or drifting host) cannot show "no difference";
    # the comparison must then carry the caution, and the rest of the test still runs
    spoilt = pair["verdict"] != "no significant difference" and bool(pair.get("caution"))
    if not spoilt:
        assert pair["verdict"] == "no significant difference", pair
    assert pair["n_a"] >= 80 and pair["ratio_ci95"][0] < pair["ratio"] < pair["ratio_ci95"][1]
    assert pair["rounds_spread"] is not None  # the rounds' spread is part of the noise floor
    text = bench(["compare", a, b]).stdout
    assert ("no significant difference" in text or "caution: not valid" in text) and "ratio" in text and "CI" in text

    c = _run("onnx-int8-dynamic", core)
    assert _compare(a, c)["pairs"] == []  # different variants are not the same job ...
    assert "--by device,model" in bench(["compare", a, c]).stdout
    faster = _compare(a, c, ["--by", "device,model"])["pairs"][0]  # ... unless paired by model
    lo, hi = faster["ratio_ci95"]
    assert lo <= faster["ratio"] <= hi
    if faster.get("caution"):  # a job judged not valid (a busy host): whatever the verdict, it carries the caution
        assert "not valid" in faster["caution"], faster
        spoilt = True
        pair = pair if pair.get("caution") else faster
    else:  # both runs valid: int8 is faster, with a CI wholly below 1
        assert faster["verdict"] == "faster", faster
        assert hi < 1.0
        line = [ln for ln in bench(["compare", a, c, "--by", "device,model"]).stdout.splitlines() if "FASTER" in ln]
        assert line and "onnx-int8-dynamic" in line[0] and "CI" in line[0]
    # a merged report of the two runs carries the run in every table
    assert bench(["report", a, c]).returncode == 0
    merged = next(p for p in (tmp_path / "results").iterdir() if p.name.startswith("report-"))
    md = (merged / "report.md").read_text()
    assert md.split("## Comparison")[1].split("\n")[2].startswith("| run |")
    assert "| %s |" % a in md and "| %s |" % c in md
    if spoilt:
        pytest.skip("runs were judged not valid on this host (%s); the verdicts a quiet host gives could not be "
                    "checked" % pair["caution"][:200])
