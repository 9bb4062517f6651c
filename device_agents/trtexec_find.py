"""Where TensorRT's ``trtexec`` is on this device (the runtime's availability and the trtexec path both ask)."""

from __future__ import annotations

import os
import shutil
from typing import Optional

#: Where JetPack installs trtexec (it is not on PATH there).
JETPACK_TRTEXEC = "/usr/src/tensorrt/bin/trtexec"


def trtexec_path() -> Optional[str]:
    """The trtexec binary: ``$EDGEBENCH_TRTEXEC``, then PATH, then JetPack's location; None if none."""
    for candidate in (os.environ.get("EDGEBENCH_TRTEXEC"), shutil.which("trtexec"), JETPACK_TRTEXEC):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None
