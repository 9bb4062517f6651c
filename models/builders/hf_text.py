"""BERT-family text encoders from ``transformers`` configs (BERT, TinyBERT, DistilBERT, MobileBERT)."""

from __future__ import annotations

from typing import Any

from . import Built
from .weights import randomise_


def _model(entry: Any) -> Any:
    import transformers as tf

    cfg = dict(entry.config)
    if entry.family == "bert":
        return tf.BertModel(tf.BertConfig(**cfg), add_pooling_layer=False)
    if entry.family == "distilbert":
        return tf.DistilBertModel(tf.DistilBertConfig(**cfg))
    if entry.family == "mobilebert":
        return tf.MobileBertModel(tf.MobileBertConfig(**cfg), add_pooling_layer=False)
    raise KeyError(entry.family)


def build(entry: Any, seed: int) -> Built:
    import torch

    class Encoder(torch.nn.Module):
        """Keyword inputs ``input_ids``/``attention_mask`` -> last hidden state [batch, seq, hidden]."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    torch.manual_seed(seed)
    inner = _model(entry)
    randomise_(inner, seed)
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, int(entry.config["vocab_size"]), (1, entry.seq_len), generator=gen)
    mask = torch.ones(1, entry.seq_len, dtype=torch.long)
    return Built(Encoder(inner).eval(), {"input_ids": ids, "attention_mask": mask}, ["encoder_output"])
