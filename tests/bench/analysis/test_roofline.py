"""Roofline arithmetic on hand-computed cases."""

from __future__ import annotations

import pytest

from bench.analysis.roofline import place, place_result, precision_of
from bench.analysis.ceilings import datasheet, measured_peaks, peak_for
from bench.report.plots import pareto_front


def test_memory_bound_case() -> None:
    # 2 GFLOP, 200 MB, 20 ms; peak 400 GFLOP/s, 20 GB/s -> ridge 20 FLOP/B, AI 10 -> memory bound
    p = place(2e9, 2e8, 0.020, 400.0, 20.0)
    assert p.attained_gops == pytest.approx(100.0)
    assert p.arithmetic_intensity == pytest.approx(10.0)
    assert p.attained_gbps == pytest.approx(10.0)
    assert p.ridge_ai == pytest.approx(20.0)
    assert p.roof_gops == pytest.approx(200.0)  # AI × BW = 10 × 20
    assert p.bound == "memory" and p.efficiency == pytest.approx(0.5)


def test_compute_bound_case() -> None:
    # AI 100 > ridge 20: roof = peak 400; 1 GFLOP in 5 ms = 200 GFLOP/s -> 50 %
    p = place(1e9, 1e7, 0.005, 400.0, 20.0)
    assert p.bound == "compute" and p.roof_gops == 400.0 and p.efficiency == pytest.approx(0.5)


def test_exactly_at_the_ridge_is_compute_bound() -> None:
    p = place(2e9, 1e8, 0.01, 400.0, 20.0)  # AI = 20 = ridge
    assert p.arithmetic_intensity == pytest.approx(p.ridge_ai)
    assert p.bound == "compute" and p.roof_gops == pytest.approx(400.0)
    just_below = place(2e9, 1.0001e8, 0.01, 400.0, 20.0)
    assert just_below.bound == "memory"


def test_without_ceilings_only_attained_figures() -> None:
    p = place(1e9, 1e8, 0.01, None, None)
    assert p.attained_gops == pytest.approx(100.0) and p.bound is None and p.efficiency is None
    with pytest.raises(ValueError):
        place(0, 1, 1, 1, 1)


def test_precision_and_peak_choice() -> None:
    assert precision_of("onnx-int8-dynamic") == "int8" and precision_of("tflite-fp16") == "fp16"
    assert precision_of("onnx-fp32") == "fp32"
    peaks = measured_peaks({"compute": [
        {"runtime": "onnxruntime", "precision": "fp32", "gops": 300.0},
        {"runtime": "litert", "precision": "fp32", "gops": 400.0},
        {"runtime": "onnxruntime", "precision": "fp16", "gops": None, "reason": "no kernel"},
        {"runtime": "onnxruntime", "precision": "int8", "gops": 1500.0}]})
    assert set(peaks) == {"onnxruntime/fp32", "litert/fp32", "onnxruntime/int8"}
    assert peak_for(peaks, "onnxruntime", "fp32")["gops"] == 300.0  # its own runtime's ceiling
    assert peak_for(peaks, "litert", "int8")["gops"] == 1500.0      # else the best for the precision
    assert peak_for(peaks, "onnxruntime", "fp16")["gops"] == 400.0  # else the best fp32


def test_place_stored_result() -> None:
    result = {"status": "ok", "variant": "onnx-fp32", "runtime_name": "onnxruntime", "stats": {"p50_ms": 10.0},
              "plan": {"artifact": {"stats": {"flops": 1e9, "weight_bytes": 4e7, "activation_bytes": 6e7,
                                              "params": 1e7}}}}
    out = place_result(result, {"onnxruntime/fp32": {"runtime": "onnxruntime", "precision": "fp32", "gops": 400.0}},
                       20.0)
    assert out["attained_gops"] == pytest.approx(100.0) and out["arithmetic_intensity"] == pytest.approx(10.0)
    assert out["bound"] == "memory" and out["efficiency"] == pytest.approx(0.5) and out["params"] == 1e7
    assert place_result(dict(result, status="error"), {}, None) is None


def test_datasheet_rows() -> None:
    nano = datasheet("Jetson Nano 4GB")
    assert nano["fp32"] == 235.8 and nano["fp16"] == 471.6 and nano["int8"] is None
    assert nano["bandwidth_gbps"] == 25.6
    orin = datasheet("Jetson AGX Orin 64GB")
    assert orin["fp32"] == pytest.approx(5300.0) and orin["bandwidth_gbps"] == 204.8
    assert datasheet(None) is None
    with pytest.raises(Exception, match="no datasheet entry"):
        datasheet("Jetson Nano 5GB")


def test_pareto_front() -> None:
    pts = [(10, 5), (5, 10), (7, 7), (8, 8), (12, 4), (20, 20)]
    assert pareto_front(pts) == [(5, 10), (7, 7), (10, 5), (12, 4)]


def test_roof_notes_say_why_a_point_is_above_its_roof() -> None:
    from bench.analysis.roofline import roof_note

    llc = 32 * 2**20
    below = place(2e9, 2e8, 0.020, 400.0, 20.0).to_json()  # 50 %
    assert roof_note(below, llc) == ""
    # memory-bound above the DRAM roof with 20 MB per inference: they fit the 33.5 MB cache
    cached = dict(place(5e7, 2e7, 0.0005, 100.0, 20.0).to_json(), peak_used="onnxruntime/fp32")
    assert cached["bound"] == "memory" and cached["efficiency"] > 1
    assert "served from cache" in roof_note(cached, llc)
    # the same point with 200 MB per inference cannot be served from cache: the bandwidth roof is too low
    big = dict(place(5e8, 2e8, 0.005, 100.0, 20.0).to_json(), peak_used="onnxruntime/fp32")
    note = roof_note(big, llc)
    assert "served from cache" not in note and "bandwidth ceiling is too low" in note
    # compute-bound above the peak (the "efficiency 186 %" for a compute-bound job)
    compute = dict(place(1e9, 1e6, 0.005, 100.0, 20.0).to_json(), peak_used="onnxruntime/fp32")
    assert compute["bound"] == "compute" and compute["efficiency"] == pytest.approx(2.0)
    note = roof_note(compute, llc)
    assert "compute roof" in note and "peak is too low" in note and "DRAM" not in note


def test_a_verdict_carries_the_ceilings_uncertainty() -> None:
    """Issue 25: the same job was called memory-bound against a 324 GOP/s roof and compute-bound against 141.
    With the roofs' spreads the ridge is a band; inside it the bound cannot be told, and says so."""
    from bench.analysis.roofline import NEAR_RIDGE, bound_text

    # AI 10 FLOP/B; 20 GB/s. Peak 324 -> ridge 16.2 (memory), peak 141 -> ridge 7.05 (compute)
    sure_a = place(1e9, 1e8, 0.01, 324.0, 20.0)
    sure_b = place(1e9, 1e8, 0.01, 141.0, 20.0)
    assert (sure_a.bound, sure_b.bound) == ("memory", "compute")  # without uncertainty: the flip
    # the spread across the two measurements (324 vs 141: 0.79 of their median) widens both ridges
    a = place(1e9, 1e8, 0.01, 324.0, 20.0, peak_spread_rel=0.79)
    b = place(1e9, 1e8, 0.01, 141.0, 20.0, peak_spread_rel=0.79)
    assert a.bound == b.bound == NEAR_RIDGE
    assert a.ridge_ai_low < 10 < a.ridge_ai_high and "cannot tell" in bound_text(a.to_json())
    # far from the ridge a spread does not change the verdict
    assert place(1e9, 1e9, 0.01, 324.0, 20.0, peak_spread_rel=0.79).bound == "memory"  # AI 1
    # a roof that was not trusted is at least a factor of two either way, and the row says why
    c = place(1e9, 1e8, 0.01, 324.0, 20.0, roof_doubts=["other processes used 40 % of the cores"])
    assert c.bound == NEAR_RIDGE and c.peak_spread_rel >= 1.0
    assert "roof not trusted: other processes used 40 %" in bound_text(c.to_json())
