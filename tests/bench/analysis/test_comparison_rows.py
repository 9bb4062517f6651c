"""The framework comparison: a speed-up is a ratio, so it is only as valid as its job and its baseline."""

from __future__ import annotations

from bench.analysis.compare import comparison_rows


def _row(variant: str, runtime: str, p50: float, valid: str) -> dict:
    return {"run_id": "r", "device": "d", "model": "m", "round": None, "status": "ok", "variant": variant,
            "runtime": runtime, "p50_ms": p50, "valid": valid}


def test_speedup_over_an_invalid_baseline_is_not_valid() -> None:
    rows = [_row("onnx-fp32", "onnxruntime", 10.0, "NO"), _row("onnx-int8-dynamic", "onnxruntime", 5.0, "yes")]
    out = comparison_rows(rows, [{"job_id": "a"}, {"job_id": "b"}])
    int8 = next(r for r in out if r["variant"] == "onnx-int8-dynamic")
    assert int8["speedup"] == 2.0 and int8["valid"] == "NO"


def test_speedup_with_both_sides_valid_stays_valid() -> None:
    rows = [_row("onnx-fp32", "onnxruntime", 10.0, "yes"), _row("tflite-fp32", "litert", 8.0, "yes")]
    out = comparison_rows(rows, [{"job_id": "a"}, {"job_id": "b"}])
    assert [r["valid"] for r in out] == ["yes", "yes"] and out[1]["speedup"] == 1.25
