"""``stats.json`` beside every artifact: size, parameters and operation/byte counts.

ONNX artifacts are analysed directly. Other formats (TFLite, CoreML) take the MACs/FLOPs and
activation bytes of the same model's ONNX fp32 graph — the same network — and their own file size
as the weight bytes (labelled so)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional

STATS_VERSION = 3  # 3: quantisation scales and zero points are not parameters


def onnx_stats(path: Path, seq_len: int) -> Dict[str, Any]:
    from .analyze import analyze_file

    counts = analyze_file(str(path), seq_len=seq_len).to_json()
    counts["counts_method"] = "models.analyze on this ONNX file"
    return counts


def artifact_stats(path: Path, fmt: str, seq_len: int, reference_onnx: Optional[Path]) -> Dict[str, Any]:
    stats: Dict[str, Any] = {"stats_version": STATS_VERSION, "file_bytes": path.stat().st_size
                             if path.is_file() else None}
    if fmt == "onnx":
        stats.update(onnx_stats(path, seq_len))
    elif reference_onnx is not None and reference_onnx.exists():
        ref = onnx_stats(reference_onnx, seq_len)
        stats.update({k: ref[k] for k in ("params", "macs", "flops", "activation_bytes", "unknown_ops", "per_op_type")})
        stats["weight_bytes"] = stats["file_bytes"]
        stats["counts_method"] = ("MACs/FLOPs/activation bytes from the same model's ONNX fp32 graph; "
                                  "weight bytes = this file's size")
    else:
        stats["counts_method"] = "no ONNX graph of this model to count from"
    return stats


def load_or_make(directory: Path, path: Path, fmt: str, seq_len: int,
                 reference_onnx: Optional[Path]) -> Dict[str, Any]:
    target = directory / "stats.json"
    if target.is_file():
        try:
            data = json.loads(target.read_text())
            if data.get("stats_version") == STATS_VERSION:
                return data
        except ValueError:
            pass
    data = artifact_stats(path, fmt, seq_len, reference_onnx)
    target.write_text(json.dumps(data, indent=1, sort_keys=True))
    return data
