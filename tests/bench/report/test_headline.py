"""The report's headline: the fastest valid configuration per device and model, or why there is none."""

from __future__ import annotations

from bench.report.headline import headline, winners


def row(variant: str, runtime: str, p50: float, valid: str = "yes", model: str = "tinybert-4") -> dict:
    return {"device": "local", "model": model, "variant": variant, "runtime": runtime, "status": "ok",
            "valid": valid, "validity_warnings": None if valid == "yes" else "high_cv", "p50_ms": p50,
            "p50_ci95_low_ms": p50 * 0.98, "p50_ci95_high_ms": p50 * 1.03, "inputs": "1x128"}


def test_the_fastest_valid_job_wins_with_its_ci_and_margin() -> None:
    rows = [row("onnx-fp32", "onnxruntime", 13.37), row("onnx-int8-dynamic", "onnxruntime", 9.03),
            row("tflite-fp32", "litert", 5.0, valid="NO")]
    [w] = winners(rows)
    assert w["verdict"] == "winner"
    assert w["text"] == ("onnx-int8-dynamic on onnxruntime — p50 9.03 ms (95 % CI 8.85 ms – 9.30 ms), "
                         "1.48× faster than onnx-fp32 on onnxruntime")  # the faster invalid one does not win


def test_no_valid_job_names_the_fastest_measured_as_not_valid() -> None:
    [w] = winners([row("tflite-fp32", "litert", 0.0431, valid="NO")])
    assert w["verdict"] == "none valid" and "p50 43.1 µs, not valid (high_cv)" in w["text"]


def test_headline_says_what_where_when_and_how() -> None:
    rows = [row("onnx-fp32", "onnxruntime", 13.37), dict(row("trt-fp16", "tensorrt", 0), status="unavailable",
                                                          p50_ms=None, valid=None)]
    h = headline([{"created_at": "2026-11-22T23:13:44+00:00", "command": ["bench/__main__.py", "run", "-m", "x y"]}],
                 rows)
    assert h["what"] == "1 model(s) (tinybert-4) × 2 configuration(s) (onnx-fp32/onnxruntime, trt-fp16/tensorrt)"
    assert h["commands"] == ["python -m bench run -m 'x y'"] and h["inputs"] == "1x128"
    assert h["counts"] == "2 job(s): 1 measured, 1 valid, 1 without a measurement"


def test_rounds_are_one_configuration_and_must_agree_to_win() -> None:
    def rnd(variant: str, runtime: str, p50: float, k: int, valid: str = "yes") -> dict:
        return dict(row(variant, runtime, p50, valid), round=k, run_id="r1")

    rows = [rnd("onnx-fp32", "onnxruntime", 12.0, 1), rnd("onnx-fp32", "onnxruntime", 16.0, 2),  # 33 % apart
            rnd("tflite-fp32", "litert", 17.0, 1), rnd("tflite-fp32", "litert", 17.1, 2),
            rnd("tflite-fp32", "litert", 16.9, 3, valid="NO")]
    [w] = winners(rows)
    assert w["text"].startswith("tflite-fp32 on litert — p50 17.1 ms (median of 2 valid of 3 rounds")
    assert "faster than" not in w["text"]  # the faster configuration's rounds disagree: it cannot win, or be compared
