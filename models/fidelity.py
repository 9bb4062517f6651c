"""Fidelity of a converted variant against the FP32 PyTorch reference, on the shipped fixed inputs.

Metrics on the first output: max absolute error, mean cosine similarity (per input), top-1 agreement
for classifiers, nearest-neighbour agreement for sentence embeddings (each sentence's nearest other
sentence is the same one). The variant runs in the same runtime class the device agent uses.
Pruned variants are compared with the unpruned model, so the figure is the cost of pruning.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

RUNTIME_OF_FORMAT = {"onnx": "onnxruntime", "tflite": "litert", "pt2": "torch", "pte": "executorch"}


def _cos(a: Any, b: Any) -> float:
    import numpy as np

    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else float("nan")


def _nn(embs: List[Any]) -> List[int]:
    import numpy as np

    m = np.stack([e.ravel() / (np.linalg.norm(e) or 1.0) for e in embs])
    sims = m @ m.T
    np.fill_diagonal(sims, -np.inf)
    return [int(i) for i in sims.argmax(axis=1)]


def reference_outputs(built: Any, feeds: List[Dict[str, Any]]) -> List[Any]:
    import torch

    outs = []
    with torch.no_grad():
        for f in feeds:
            kwargs = {k: torch.from_numpy(v) for k, v in f.items() if k in built.example_kwargs}
            y = built.module(**kwargs)
            y = y[0] if isinstance(y, (tuple, list)) else y
            outs.append(y.numpy())
    return outs


def variant_outputs(path: str, fmt: str, feeds: List[Dict[str, Any]]) -> List[Any]:
    from device_agents.runtimes import runtime_class

    rt = runtime_class(RUNTIME_OF_FORMAT[fmt])({"threads": 2})
    rt.load(path)
    specs = rt.input_specs()
    outs = []
    for f in feeds:
        feed = {}
        for spec in specs:
            key = next(k for k in f if spec.name == k or spec.name.endswith("_" + k))
            feed[spec.name] = f[key].astype(spec.dtype)
        rt.prepare(feed)
        rt.run_once()
        outs.append(rt.outputs()[0][1])
    return outs


def fidelity(built: Any, entry: Any, path: str, fmt: str, feeds: List[Dict[str, Any]],
             reference: Optional[List[Any]] = None) -> Dict[str, Any]:
    import numpy as np

    if fmt not in RUNTIME_OF_FORMAT:
        return {"cosine_mean": None, "reason": "%s models run only on Apple devices; no host-side check" % fmt}
    ref = reference if reference is not None else reference_outputs(built, feeds)
    got = variant_outputs(path, fmt, feeds)
    out: Dict[str, Any] = {
        "reference": "PyTorch fp32 (unpruned)", "inputs": len(feeds),
        "max_abs_error": float(max(np.max(np.abs(g.astype(np.float64) - r.astype(np.float64))) for g, r in zip(got, ref))),
        "cosine_mean": float(np.mean([_cos(g, r) for g, r in zip(got, ref)])),
    }
    if entry.task == "image-classifier":
        out["top1_agreement"] = float(np.mean([int(np.argmax(g)) == int(np.argmax(r)) for g, r in zip(got, ref)]))
    if entry.task == "sentence-embedding":
        out["nn_agreement"] = float(np.mean([a == b for a, b in zip(_nn(got), _nn(ref))]))
    return out
