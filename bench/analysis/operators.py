"""Per-operator placement from ONNX Runtime's profile (jobs run with ``onnxruntime.profile=true``).

Time per inference per operator type comes from the profile's kernel events (summed over the nodes of
that type, divided by the calls per node); FLOPs and bytes per operator type from the model's ONNX
graph. ORT fuses operators at load time (e.g. MatMul+Add into Gemm), so FLOPs are attributed only to
operator types whose node count is the same in both graphs; the other rows show time only, with why.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional


def operator_rows(result: Dict[str, Any], peak_gops: Optional[float], bandwidth_gbps: Optional[float]
                  ) -> List[Dict[str, Any]]:
    prof = ((result.get("extras") or {}).get("ort_profile") or {}).get("nodes") or []
    if not prof:
        return []
    stats = ((result.get("plan") or {}).get("artifact") or {}).get("stats") or {}
    counted = stats.get("per_op_type") or {}
    per_type: Dict[str, float] = {}
    nodes: Dict[str, int] = {}
    for node in prof:
        calls = max(1, int(node.get("calls") or 1))
        op = node.get("op_type") or "?"
        per_type[op] = per_type.get(op, 0.0) + node["total_ms"] / calls
        nodes[op] = nodes.get(op, 0) + 1
    total = sum(per_type.values()) or 1.0
    rows = []
    for op, ms in sorted(per_type.items(), key=lambda kv: -kv[1]):
        c = counted.get(op)
        row: Dict[str, Any] = {"device": result.get("device_name"), "model": result.get("model_name"),
                               "variant": result.get("variant"), "op_type": op, "ms_per_inference": ms,
                               "time_share_pct": 100.0 * ms / total, "gflop": None, "attained_gops": None,
                               "arithmetic_intensity": None, "bound": None,
                               "note": "" if c else "fused or added by ORT: not in the exported graph"}
        if c and c.get("count") != nodes[op]:
            row["note"] = ("ORT fused some of these: %d node(s) run, %d exported; FLOPs not attributable"
                           % (nodes[op], c.get("count")))
        elif c and c.get("flops"):
            nbytes = (c.get("activation_bytes") or 0) + (c.get("weight_bytes") or 0)
            row["gflop"] = c["flops"] / 1e9
            row["attained_gops"] = c["flops"] / (ms / 1000.0) / 1e9 if ms > 0 else None
            if nbytes:
                row["arithmetic_intensity"] = c["flops"] / nbytes
                if peak_gops and bandwidth_gbps:
                    row["bound"] = "memory" if row["arithmetic_intensity"] < peak_gops / bandwidth_gbps else "compute"
        rows.append(row)
    return rows
