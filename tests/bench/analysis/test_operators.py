"""Per-operator placement from an ORT profile summary and the graph's per-operator counts."""

from __future__ import annotations

import pytest

from bench.analysis.operators import operator_rows


def test_operator_rows_attribute_only_unfused_types() -> None:
    result = {
        "device_name": "d", "model_name": "m", "variant": "onnx-fp32",
        "extras": {"ort_profile": {"nodes": [
            {"node": "mm1", "op_type": "MatMul", "total_ms": 30.0, "calls": 10},   # 3 ms per inference
            {"node": "mm2", "op_type": "MatMul", "total_ms": 10.0, "calls": 10},   # 1 ms
            {"node": "sln", "op_type": "SkipLayerNormalization", "total_ms": 5.0, "calls": 10},
            {"node": "add", "op_type": "Add", "total_ms": 5.0, "calls": 10}]}},
        "plan": {"artifact": {"stats": {"per_op_type": {
            "MatMul": {"count": 2, "flops": 4e9, "activation_bytes": 1e8, "weight_bytes": 1e8},
            "Add": {"count": 3, "flops": 1e6, "activation_bytes": 1e6, "weight_bytes": 0}}}}},
    }
    rows = {r["op_type"]: r for r in operator_rows(result, peak_gops=400.0, bandwidth_gbps=20.0)}
    mm = rows["MatMul"]
    assert mm["ms_per_inference"] == pytest.approx(4.0) and mm["time_share_pct"] == pytest.approx(80.0)
    assert mm["attained_gops"] == pytest.approx(1000.0)  # 4 GFLOP in 4 ms
    assert mm["arithmetic_intensity"] == pytest.approx(20.0) and mm["bound"] == "compute"  # ridge 400/20 = 20
    assert "not in the exported graph" in rows["SkipLayerNormalization"]["note"]
    assert rows["Add"]["attained_gops"] is None and "1 node(s) run, 3 exported" in rows["Add"]["note"]
    assert operator_rows({"status": "ok"}, None, None) == []
