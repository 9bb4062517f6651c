"""Placeholders: names resolve (so ``from torchvision.x import Y`` works); using them raises."""

from __future__ import annotations

import enum
from typing import Any, Callable


class InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def _placeholder(qualname: str) -> Any:
    class Placeholder:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("%s comes from edgebench's torchvision stand-in and cannot be used; the zoo "
                               "builds models only (install a real torchvision for data pipelines)" % qualname)

        def __init_subclass__(cls, **kwargs: Any) -> None:
            super().__init_subclass__(**kwargs)

    Placeholder.__name__ = Placeholder.__qualname__ = qualname.rsplit(".", 1)[-1]
    return Placeholder


def module_getattr(module: str) -> Callable[[str], Any]:
    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "InterpolationMode":
            return InterpolationMode
        return _placeholder("%s.%s" % (module, name))

    return __getattr__
