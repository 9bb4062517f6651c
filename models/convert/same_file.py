"""A variant that runs its parent's file unchanged in another runtime (TensorRT builds its engine on the
device from the ONNX file: an engine is only valid for the GPU and TensorRT version that built it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any


def link(parent: Path, out: Path, entry: Any = None) -> None:
    """``out`` is the parent's file: a hard link where the file system allows one, else a copy."""
    if out.exists():
        out.unlink()
    try:
        os.link(parent, out)
    except OSError:
        shutil.copyfile(parent, out)
