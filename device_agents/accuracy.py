"""The accuracy pass: every example of the job's dataset through the job's own runtime, options and input shape.

It runs after the timed window (never inside it), in the same process and on the same loaded model as the
timed job, at the job's batch (examples are fed ``batch`` at a time; a short last batch is padded with copies
of its last example, whose outputs are dropped). It returns what the host needs to score the pass, bounded in
size: per example the top-k class indices of the chosen output (``returns: topk``) or the output vector itself
(``returns: outputs``), the count of non-finite values per output, and, where the job names an FP32 reference
model, the same examples through it: per example the cosine of the two outputs and whether their top-1 agree.

The host (bench/analysis/accuracy.py) computes the metric from these and the labels it keeps itself: a device
never reports its own score. Standard library + numpy only (Python 3.8).
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .hashing import sha256_file
from .inputs import hint_for
from .job import AccuracySpec
from .runtimes import runtime_class
from .runtimes.base import TensorSpec

#: Most class indices returned per example (top-5 needs five).
TOP_K = 5


class AccuracyPassError(Exception):
    """The pass cannot run (missing or corrupt dataset, arrays that do not fit the model); the message says why."""


def load_dataset(path: str, sha256: Optional[str]) -> Dict[str, Any]:
    """The ``.npz`` arrays by name (no pickles), after checking the file's content hash."""
    import numpy as np

    if not os.path.isfile(path):
        raise AccuracyPassError("dataset %s does not exist on the device" % path)
    if sha256 and sha256_file(path) != sha256:
        raise AccuracyPassError("dataset %s is not the file the host sent (sha256 differs): re-run to push it again"
                                % path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as exc:
        raise AccuracyPassError("dataset %s is not a readable .npz (%s: %s)" % (path, type(exc).__name__, exc))


def _as_input(name: str, arr: Any, spec: TensorSpec, example_shape: Sequence[int]) -> Any:
    """``arr`` (examples first) as the model's input ``spec`` takes it: same per-example shape, its dtype (a
    real-valued array for a quantised integer input is quantised with the input's scale and zero point)."""
    import numpy as np

    if list(arr.shape[1:]) != list(example_shape):
        raise AccuracyPassError("dataset array %r has examples of shape %s but the job feeds input %r at %s per "
                                "example" % (name, "x".join(map(str, arr.shape[1:])) or "scalar", spec.name,
                                             "x".join(map(str, example_shape)) or "scalar"))
    want = np.dtype(spec.dtype)
    if arr.dtype == want:
        return arr
    if want.kind in "iu" and arr.dtype.kind == "f" and spec.quant is not None:
        scale, zero = spec.quant
        info = np.iinfo(want)
        return np.clip(np.round(arr / scale) + zero, info.min, info.max).astype(want)
    if (want.kind in "iub") != (arr.dtype.kind in "iub"):
        raise AccuracyPassError("dataset array %r is %s but input %r takes %s" % (name, arr.dtype, spec.name, want))
    return arr.astype(want)


def _feeds_for(arrays: Dict[str, Any], specs: Sequence[TensorSpec], shapes: Dict[str, List[int]]
               ) -> Tuple[Dict[str, Any], int]:
    """The dataset's array for each model input (matched by name as the job's input hints are) and the number of
    examples; AccuracyPassError names a missing array or a mismatch."""
    out: Dict[str, Any] = {}
    counts = set()
    for spec in specs:
        arr = hint_for(spec.name, arrays)
        if not hasattr(arr, "shape"):
            raise AccuracyPassError("the dataset has no array for input %r (it has %s)"
                                    % (spec.name, ", ".join(sorted(arrays)) or "none"))
        if not arr.shape:
            raise AccuracyPassError("dataset array for input %r is a scalar; the first axis must be the examples"
                                    % spec.name)
        out[spec.name] = _as_input(spec.name, arr, spec, shapes[spec.name][1:])
        counts.add(int(arr.shape[0]))
    if len(counts) != 1:
        raise AccuracyPassError("the dataset's input arrays hold different numbers of examples: %s"
                                % ", ".join("%s %d" % (k, v.shape[0]) for k, v in out.items()))
    return out, counts.pop()


def _rows(outputs: List[Tuple[str, Any]], name: Optional[str], count: int) -> Tuple[str, Any]:
    """The chosen output of one batch as ``count`` rows (one flattened vector per example)."""
    import numpy as np

    by_name = dict(outputs)
    if name is not None and name not in by_name:
        raise AccuracyPassError("the model has no output %r (its outputs: %s)" % (name, ", ".join(by_name)))
    key = name if name is not None else outputs[0][0]
    arr = np.asarray(by_name[key])
    batch_first = arr.ndim >= 1 and arr.shape[0] >= count
    rows = arr.reshape(arr.shape[0], -1) if batch_first else arr.reshape(1, -1)
    return key, rows[:count].astype(np.float64)


def _through(runtime: Any, feeds: Dict[str, Any], n: int, batch: int, output: Optional[str],
             non_finite: Dict[str, int]) -> Tuple[str, Any]:
    """Every example through ``runtime`` ``batch`` at a time; (output name, [n, values] float64 array).
    ``non_finite`` counts NaN/inf per output over the real (not padded) examples."""
    import numpy as np

    rows = []
    key = ""
    for start in range(0, n, batch):
        take = min(batch, n - start)
        idx = np.minimum(np.arange(start, start + batch), n - 1)  # pad a short last batch with its last example
        runtime.prepare({k: np.ascontiguousarray(v[idx]) for k, v in feeds.items()})
        runtime.run_once()
        outs = runtime.outputs()
        for oname, value in outs:
            arr = np.asarray(value)
            real = arr[:take] if arr.ndim >= 1 and arr.shape[0] == batch else arr
            if real.dtype.kind in "fc":
                non_finite[oname] = non_finite.get(oname, 0) + int(real.size - np.count_nonzero(np.isfinite(real)))
        key, part = _rows(outs, output, take)
        rows.append(part)
    return key, np.concatenate(rows, axis=0)


def _topk(rows: Any, k: int) -> List[List[int]]:
    import numpy as np

    k = min(k, rows.shape[1])
    safe = np.where(np.isfinite(rows), rows, -np.inf)
    top = np.argsort(-safe, axis=1, kind="stable")[:, :k]
    return [[int(i) for i in r] for r in top]


def _reference(spec: AccuracySpec, specs: Sequence[TensorSpec], shapes: Dict[str, List[int]], feeds: Dict[str, Any],
               n: int, batch: int, rows: Any) -> Dict[str, Any]:
    """The same examples through the FP32 reference model: per example cosine to the job's outputs and top-1
    agreement."""
    import numpy as np

    out: Dict[str, Any] = {"variant": spec.reference_variant, "runtime": spec.reference_runtime}
    path = spec.reference_path or ""
    if not os.path.isfile(path):
        raise AccuracyPassError("reference model %s does not exist on the device" % path)
    if spec.reference_sha256 and sha256_file(path) != spec.reference_sha256:
        raise AccuracyPassError("reference model %s is not the file the host sent (sha256 differs)" % path)
    ref = runtime_class(spec.reference_runtime or "onnxruntime")(spec.reference_options)
    ref.load(path)
    ref.resize_inputs(shapes)
    ref_specs = {s.name: s for s in ref.input_specs()}
    ref_feeds = {}
    for s in specs:
        target = ref_specs.get(s.name)
        if target is None:
            raise AccuracyPassError("the reference model has no input %r (it has %s)" % (s.name, ", ".join(ref_specs)))
        ref_feeds[s.name] = feeds[s.name].astype(np.dtype(target.dtype))
    non_finite: Dict[str, int] = {}
    _, ref_rows = _through(ref, ref_feeds, n, batch, spec.output, non_finite)
    if ref_rows.shape != rows.shape:
        raise AccuracyPassError("the reference's output has %d values per example, the job's %d"
                                % (ref_rows.shape[1], rows.shape[1]))
    dot = np.sum(rows * ref_rows, axis=1)
    norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(ref_rows, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(norms > 0, dot / np.where(norms > 0, norms, 1.0), np.nan)
    out.update(cosine=[float(c) if np.isfinite(c) else None for c in cos],
               top1_agree=[bool(a) for a in (np.argmax(rows, axis=1) == np.argmax(ref_rows, axis=1))],
               non_finite=non_finite)
    return out


def accuracy_pass(spec: AccuracySpec, runtime: Any, specs: Sequence[TensorSpec], shapes: Dict[str, List[int]]
                  ) -> Dict[str, Any]:
    """Run the pass on the loaded ``runtime`` at the timed job's input ``shapes`` (name -> shape, batch first);
    never raises: a pass that cannot run is ``{"error": reason}`` (the timed job's figures stand)."""
    t0 = time.perf_counter()
    try:
        arrays = load_dataset(spec.dataset_path, spec.dataset_sha256)
        feeds, n = _feeds_for(arrays, specs, shapes)
        batch = int(next(iter(shapes.values()))[0]) if shapes and next(iter(shapes.values())) else 1
        non_finite: Dict[str, int] = {}
        key, rows = _through(runtime, feeds, n, max(1, batch), spec.output, non_finite)
        out: Dict[str, Any] = {"n": n, "batch": batch, "output": key, "values_per_example": int(rows.shape[1]),
                               "returns": spec.returns, "non_finite": non_finite}
        if spec.returns == "topk":
            if n * min(TOP_K, rows.shape[1]) > spec.max_values:
                raise AccuracyPassError("%d examples x top-%d is over the %d values a result may carry"
                                        % (n, TOP_K, spec.max_values))
            out["topk"] = _topk(rows, TOP_K)
        else:
            if rows.size > spec.max_values:
                raise AccuracyPassError("%d examples x %d output values is over the %d values a result may carry: "
                                        "use fewer examples" % (n, rows.shape[1], spec.max_values))
            out["outputs"] = [[float(v) if v == v and abs(v) != float("inf") else None for v in r] for r in rows]
        if spec.reference_path:
            try:
                out["reference"] = _reference(spec, specs, shapes, feeds, n, max(1, batch), rows)
            except Exception as exc:  # the reference is an extra: its failure leaves the pass's own figures
                out["reference"] = {"variant": spec.reference_variant,
                                    "error": "%s: %s" % (type(exc).__name__, str(exc).strip()[:500])}
    except AccuracyPassError as exc:
        out = {"error": str(exc)}
    except Exception as exc:  # the engine rejected an example: say so, keep the timed job
        out = {"error": "%s: %s" % (type(exc).__name__, str(exc).strip()[:800])}
    out["seconds"] = round(time.perf_counter() - t0, 4)
    out["method"] = ("every example through the timed job's runtime, options and input shape, after the timed "
                     "window; outputs not timed")
    return out
