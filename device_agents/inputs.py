"""Inputs generated from the model's own input signature, with a fixed seed.

Dynamic dimensions are resolved by name (batch → 1, sequence → ``seq_len``) or by the job's
explicit shapes; integer token ids stay inside the vocabulary the job names. Every input's
recipe is recorded in the result so the run can be reproduced.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from .runtimes.base import TensorSpec

_BATCH_NAMES = ("batch", "n", "batch_size", "unk__", "n_batch")
#: Upper bound for token ids when the job names no vocabulary (all common vocabularies are larger).
DEFAULT_VOCAB_HIGH = 1000
_SEQ_NAMES = ("seq", "sequence", "length", "len", "tokens", "seq_len", "sequence_length")


class InputGenerationError(ValueError):
    """The model's inputs cannot be generated (unknown dynamic dimension, unsupported dtype, …)."""


def _classify_name(name: str) -> Optional[str]:
    low = name.lower()
    if "mask" in low:
        return "ones"
    if "token_type" in low or "segment" in low or "position" in low:
        return "zeros"
    if "ids" in low or "token" in low:
        return "token_ids"
    return None


def hint_for(name: str, hints: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """The hint for tensor ``name``: exact match, else a key that the name ends with after a
    separator (LiteRT prefixes signature inputs, e.g. ``serving_default_input_ids``)."""
    if name in hints:
        return hints[name]
    for key, hint in hints.items():
        if name.endswith("_" + key) or name.endswith(":" + key) or name.endswith("/" + key):
            return hint
    return {}


def resolve_shape(spec: TensorSpec, seq_len: int, overrides: Dict[str, Sequence[int]], batch: int = 1) -> List[int]:
    """Concrete shape for ``spec``: an override, else its static dimensions with ``batch`` for a dynamic
    batch (first) dimension and ``seq_len`` for a dynamic sequence one; raises InputGenerationError
    naming the input and the fix."""
    if spec.name in overrides:
        shape = [int(d) for d in overrides[spec.name]]
        if len(shape) != len(spec.shape):
            raise InputGenerationError("input %r has rank %d but the job's shape %s has rank %d"
                                       % (spec.name, len(spec.shape), shape, len(shape)))
        return shape
    out: List[int] = []
    for pos, dim in enumerate(spec.shape):
        if isinstance(dim, int) and dim > 0:
            out.append(dim)
            continue
        label = str(dim).lower() if dim is not None else ""
        if pos == 0 and (dim is None or any(k in label for k in _BATCH_NAMES)):
            out.append(int(batch))
        elif any(k in label for k in _SEQ_NAMES) or (dim is None and pos == 1 and len(spec.shape) == 2):
            out.append(int(seq_len))
        else:
            raise InputGenerationError(
                "input %r has dynamic dimension %r at position %d that the agent cannot guess; "
                "give it a shape, e.g. --shapes %s:1x128" % (spec.name, dim, pos, spec.name))
    return out


def generate_inputs(specs: Sequence[TensorSpec], seed: int, seq_len: int,
                    hints: Optional[Dict[str, Dict[str, Any]]] = None,
                    overrides: Optional[Dict[str, Sequence[int]]] = None, batch: int = 1
                    ) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """Arrays for every input plus the recipe of each (name, shape, dtype, fill, seed).

    ``hints`` map an input name to ``{"kind": "token_ids"|"ones"|"zeros"|"normal"|"uniform",
    "high": vocab_size}``; names like ``input_ids`` / ``attention_mask`` are recognised without one.
    """
    import numpy as np

    hints = hints or {}
    overrides = overrides or {}
    unknown = sorted(set(overrides) - {s.name for s in specs})
    if unknown:
        raise InputGenerationError("shapes are given for %s, but the model's inputs are %s: use those names in "
                                   "--shapes" % (", ".join(unknown), ", ".join(s.name for s in specs)))
    rng = np.random.default_rng(seed)
    feeds: Dict[str, Any] = {}
    recipe: List[Dict[str, Any]] = []
    for spec in specs:
        shape = resolve_shape(spec, seq_len, overrides, batch)
        hint = hint_for(spec.name, hints)
        kind = hint.get("kind") or _classify_name(spec.name)
        dtype = spec.dtype
        if dtype in ("string", "bfloat16") or not _known_dtype(np, dtype):
            raise InputGenerationError("input %r has dtype %s, which the agent cannot generate"
                                       % (spec.name, dtype))
        is_int = np.dtype(dtype).kind in "iu"
        is_bool = np.dtype(dtype).kind == "b"
        entry: Dict[str, Any] = {"name": spec.name, "shape": shape, "dtype": dtype, "seed": seed}
        if batch != 1 and spec.name not in overrides and spec.shape and isinstance(spec.shape[0], int) \
                and spec.shape[0] > 0 and spec.shape[0] != batch:
            entry["note"] = "batch %d not applied: the model's batch dimension is fixed at %d" % (batch, spec.shape[0])
        if is_bool:
            value = np.ones(shape, dtype=bool)
            entry["fill"] = "ones"
        elif is_int and spec.quant is not None and kind is None:
            # A quantised input that stands for real numbers (full-INT8 TFLite): quantise N(0,1).
            scale, zero = spec.quant
            info = np.iinfo(np.dtype(dtype))
            real = rng.standard_normal(shape).astype(np.float32)
            value = np.clip(np.round(real / scale) + zero, info.min, info.max).astype(dtype)
            entry["fill"] = "normal(0,1) quantised scale=%g zero_point=%d" % (scale, zero)
        elif is_int:
            if kind == "token_ids":
                high = int(hint.get("high", 0) or 0)
                note = ""
                if high <= 0:
                    high = DEFAULT_VOCAB_HIGH
                    note = " (job gave no vocabulary size; %d is below every common vocabulary)" % high
                low = int(hint.get("low", 0))
                value = rng.integers(low, high, size=shape, dtype=np.int64).astype(dtype)
                entry["fill"] = "token_ids uniform[%d,%d)%s" % (low, high, note)
            elif kind == "ones":
                value = np.ones(shape, dtype=dtype)
                entry["fill"] = "ones"
            else:
                value = np.zeros(shape, dtype=dtype)
                entry["fill"] = "zeros"
        else:
            if kind == "uniform":
                value = rng.random(shape).astype(dtype)
                entry["fill"] = "uniform[0,1)"
            elif kind in ("zeros", "ones"):
                value = (np.ones if kind == "ones" else np.zeros)(shape, dtype=dtype)
                entry["fill"] = kind
            else:
                value = rng.standard_normal(shape).astype(dtype)
                entry["fill"] = "normal(0,1)"
        feeds[spec.name] = value
        recipe.append(entry)
    return feeds, recipe


def _known_dtype(np: Any, dtype: str) -> bool:
    try:
        np.dtype(dtype)
    except TypeError:
        return False
    return True
