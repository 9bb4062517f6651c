"""Fixed inputs for calibration and fidelity: real sentences for text models (tokenised with the
packaged MiniLM tokenizer, whose vocabulary is bert-base-uncased's 30522 tokens), seeded images for
vision models. Shipped with the project; no download."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

SENTENCES = Path(__file__).with_name("data") / "sentences.txt"


def sentences() -> List[str]:
    return [s.strip() for s in SENTENCES.read_text().splitlines() if s.strip()]


def text_feeds(seq_len: int, limit: int = 24) -> List[Dict[str, Any]]:
    """One feed per sentence: int64 input_ids and attention_mask of shape [1, seq_len]."""
    import os

    import numpy as np
    from transformers import AutoTokenizer

    from .builders.hf_text import minilm_dir

    os.environ["HF_HUB_OFFLINE"] = "1"
    tok = AutoTokenizer.from_pretrained(minilm_dir(), local_files_only=True)
    out = []
    for s in sentences()[:limit]:
        enc = tok(s, padding="max_length", truncation=True, max_length=seq_len, return_tensors="np")
        out.append({"input_ids": enc["input_ids"].astype(np.int64),
                    "attention_mask": enc["attention_mask"].astype(np.int64)})
    return out


def image_feeds(size: int, count: int = 8, seed: int = 1) -> List[Dict[str, Any]]:
    """Seeded N(0,1) images, shape [1, 3, size, size] (normalised-pixel scale)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return [{"pixel_values": rng.standard_normal((1, 3, size, size)).astype(np.float32)} for _ in range(count)]


def feeds_for(entry: Any, count: int = 16) -> List[Dict[str, Any]]:
    if entry.is_text:
        return text_feeds(entry.seq_len, count)
    return image_feeds(int(entry.config.get("image_size", 224)), min(count, 8))
