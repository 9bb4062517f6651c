"""Where the host keeps things: the repository, the results folder, the cache and the inventory."""

from __future__ import annotations

import os
from pathlib import Path

from models.cache import REPO_ROOT, cache_root

__all__ = ["REPO_ROOT", "cache_root", "results_root", "inventory_path"]


def results_root() -> Path:
    """``$EDGEBENCH_RESULTS`` or ``<repo>/results``."""
    return Path(os.environ.get("EDGEBENCH_RESULTS", REPO_ROOT / "results"))


def inventory_path() -> Path:
    """``$EDGEBENCH_DEVICES`` or ``./devices.yaml``."""
    return Path(os.environ.get("EDGEBENCH_DEVICES", "devices.yaml"))
