"""Structured pruning of BERT-family encoders: whole attention heads and whole layers.

Heads: in every layer, the heads whose query/key/value weights have the smallest L2 norm are removed
(their rows in Q, K, V and columns in the output projection). Layers: an evenly spaced share of the
encoder layers is dropped. The pruned module is then exported like any other.
"""

from __future__ import annotations

import math
from typing import Any, List


class PruningUnsupported(ValueError):
    pass


def _attention_blocks(model: Any) -> List[Any]:
    """("bert" | "distil", attention module) for every BERT-style or DistilBERT self-attention."""
    blocks = []
    for mod in model.modules():
        if all(hasattr(mod, a) for a in ("query", "key", "value", "num_attention_heads", "attention_head_size")):
            blocks.append(("bert", mod))
        elif all(hasattr(mod, a) for a in ("q_lin", "k_lin", "v_lin", "out_lin", "n_heads")):
            blocks.append(("distil", mod))
    return blocks


def _slice_linear(lin: Any, keep: Any, dim: int) -> Any:
    import torch

    w = lin.weight.data.index_select(dim, keep).clone()
    new = torch.nn.Linear(w.shape[1], w.shape[0], bias=lin.bias is not None)
    new.weight.data.copy_(w)
    if lin.bias is not None:
        new.bias.data.copy_(lin.bias.data.index_select(0, keep) if dim == 0 else lin.bias.data)
    return new


def prune_heads_(model: Any, share: float) -> int:
    """Remove ``share`` of the heads of every attention layer; returns heads removed in total."""
    import torch

    blocks = _attention_blocks(model)
    if not blocks:
        raise PruningUnsupported("no BERT-style attention layers to prune heads from")
    parents = {id(child): parent for parent in model.modules() for child in parent.children()}
    removed = 0
    for kind, att in blocks:
        if kind == "bert":
            q, k, v, n, d = att.query, att.key, att.value, att.num_attention_heads, att.attention_head_size
            out_parent = parents.get(id(att))
            out = getattr(getattr(out_parent, "output", None), "dense", None)
        else:
            q, k, v, n = att.q_lin, att.k_lin, att.v_lin, att.n_heads
            d = q.out_features // n
            out = att.out_lin
        if out is None or q.out_features != n * d:
            raise PruningUnsupported("attention layout not understood (%s)" % type(att).__name__)
        drop = int(math.floor(n * share))
        if drop <= 0 or drop >= n:
            continue
        norms = torch.stack([torch.cat([m.weight.data[h * d:(h + 1) * d].flatten() for m in (q, k, v)]).norm()
                             for h in range(n)])
        keep_heads = sorted(torch.argsort(norms, descending=True)[: n - drop].tolist())
        keep = torch.tensor([h * d + i for h in keep_heads for i in range(d)], dtype=torch.long)
        new_q, new_k, new_v = (_slice_linear(m, keep, 0) for m in (q, k, v))
        new_out = _slice_linear(out, keep, 1)
        if kind == "bert":
            att.query, att.key, att.value = new_q, new_k, new_v
            att.num_attention_heads = n - drop
            att.all_head_size = (n - drop) * d
            out_parent.output.dense = new_out
        else:
            att.q_lin, att.k_lin, att.v_lin, att.out_lin = new_q, new_k, new_v, new_out
            att.n_heads = n - drop
            if hasattr(att, "dim"):
                att.dim = (n - drop) * d
        removed += drop
    return removed


def prune_layers_(model: Any, share: float) -> int:
    """Drop an evenly spaced ``share`` of the encoder layers; returns layers removed."""
    import torch

    for holder, attr in (("encoder", "layer"), ("transformer", "layer")):
        container = getattr(getattr(model, holder, None), attr, None)
        if isinstance(container, torch.nn.ModuleList):
            n = len(container)
            drop = int(math.floor(n * share))
            if drop <= 0 or drop >= n:
                return 0
            step = n / drop
            dropped = {int(i * step + step / 2) for i in range(drop)}
            kept = [layer for i, layer in enumerate(container) if i not in dropped]
            setattr(getattr(model, holder), attr, torch.nn.ModuleList(kept))
            cfg = getattr(model, "config", None)
            for key in ("num_hidden_layers", "n_layers"):
                if cfg is not None and hasattr(cfg, key):
                    setattr(cfg, key, len(kept))
            return drop
    raise PruningUnsupported("no encoder layer list to prune")
