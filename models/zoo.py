"""The zoo file (``models/zoo.yaml``) as typed entries: models, variants and named sets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

ZOO_FILE = Path(__file__).with_name("zoo.yaml")


class UnknownModel(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; this one is for people
        return str(self.args[0])


@dataclass(frozen=True)
class Variant:
    """A format + precision recipe. ``runtime`` is the agent runtime that runs the format."""

    name: str
    format: str
    runtime: str
    recipe: str
    prune: Optional[Dict[str, float]] = None
    tasks: Optional[tuple] = None
    #: Runtime options this variant stands for (e.g. TensorRT precision); a user's --option wins.
    options: Dict[str, Any] = field(default_factory=dict)

    @property
    def only_on(self) -> Optional[tuple]:
        """The device classes that can run this variant at all, or None for any: Core ML programs (a .mlpackage,
        or a .pte delegated to Core ML) run only on Apple devices."""
        if self.runtime == "coreml" or self.recipe == "executorch-coreml":
            return ("apple",)
        return None

    def applies_to(self, task: str) -> bool:
        return self.tasks is None or task in self.tasks


@dataclass
class ModelEntry:
    name: str
    family: str
    task: str
    config: Dict[str, Any]
    published_params_m: Optional[float] = None
    source: str = ""
    seq_len: int = 128

    def input_hints(self) -> Dict[str, Dict[str, Any]]:
        """How the agent should fill each input (token ids need the vocabulary size)."""
        if self.task in ("text-encoder", "sentence-embedding"):
            return {"input_ids": {"kind": "token_ids", "high": int(self.config["vocab_size"])},
                    "attention_mask": {"kind": "ones"}}
        return {"pixel_values": {"kind": "normal"}}

    @property
    def is_text(self) -> bool:
        return self.task in ("text-encoder", "sentence-embedding")


@dataclass
class Zoo:
    models: Dict[str, ModelEntry]
    variants: Dict[str, Variant]
    sets: Dict[str, List[str]]
    default_variants: List[str] = field(default_factory=list)

    def model(self, name: str) -> ModelEntry:
        if name not in self.models:
            raise UnknownModel("unknown model %r; the zoo has: %s (see models/zoo.yaml or "
                               "`python -m models list`)" % (name, ", ".join(sorted(self.models))))
        return self.models[name]

    def variant(self, name: str) -> Variant:
        if name not in self.variants:
            raise UnknownModel("unknown variant %r; known variants: %s" % (name, ", ".join(sorted(self.variants))))
        return self.variants[name]

    def variants_for_runtimes(self, runtimes: List[str]) -> List[str]:
        """The variants ``--runtimes`` asks for when no ``--variants`` are given: per runtime, its
        variants among the defaults, else its first unpruned variant in the zoo (e.g. torch: pt2-fp32)."""
        out: List[str] = []
        for rt in runtimes:
            chosen = [v for v in self.default_variants if self.variants[v].runtime == rt]
            if not chosen:
                chosen = [v.name for v in self.variants.values() if v.runtime == rt and not v.prune][:1]
            out.extend(v for v in chosen if v not in out)
        return out

    def expand(self, names: List[str]) -> List[ModelEntry]:
        """Model names and set names (``default``, ``text``, ``all``) to entries, in order, once each."""
        out: List[str] = []
        for name in names:
            if name == "all":
                members = list(self.models)
            elif name in self.sets:
                members = self.sets[name]
            else:
                self.model(name)
                members = [name]
            out.extend(m for m in members if m not in out)
        return [self.model(m) for m in out]


def load_zoo(path: Path = ZOO_FILE) -> Zoo:
    data = yaml.safe_load(path.read_text())
    seq = int(data.get("defaults", {}).get("text_seq_len", 128))
    models = {name: ModelEntry(name=name, family=m["family"], task=m["task"], config=dict(m.get("config", {})),
                               published_params_m=m.get("published_params_m"), source=m.get("source", ""),
                               seq_len=int(m.get("seq_len", seq)))
              for name, m in data["models"].items()}
    variants = {name: Variant(name=name, format=v["format"], runtime=v["runtime"], recipe=v["recipe"],
                              prune=v.get("prune"), tasks=tuple(v["tasks"]) if v.get("tasks") else None,
                              options=dict(v.get("options") or {}))
                for name, v in data["variants"].items()}
    return Zoo(models=models, variants=variants, sets={k: list(v) for k, v in data.get("sets", {}).items()},
               default_variants=list(data.get("default_variants", [])))
