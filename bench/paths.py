"""Where the host keeps things: the repository, the results folder, the cache and the inventory."""

from __future__ import annotations

import os
from pathlib import Path

from models.cache import REPO_ROOT, cache_root

__all__ = ["REPO_ROOT", "cache_root", "results_root", "inventory_path", "safe_child", "UnsafePath", "SAFE_NAME"]

#: Names that become path components (devices, runs, jobs): letters, digits, '.', '_', '-'; not
#: starting with '.' or '-' (no hidden files, no options), at most 200 characters.
SAFE_NAME = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}"


class UnsafePath(ValueError):
    """A name would place a file outside the folder it belongs in."""


def safe_child(base: Path, name: str) -> Path:
    """``base / name``, refused unless the result stays directly inside ``base`` (no separators, no
    ``..``, not hidden): every host write path built from a name goes through here."""
    import re

    if len(name or "") > 200:
        raise UnsafePath("%r… cannot be used as a file name under %s: it is %d characters long (at most 200)"
                         % (name[:40], base, len(name)))
    if not re.fullmatch(SAFE_NAME, name or "") or ".." in name:
        raise UnsafePath("%r cannot be used as a file name under %s: use letters, digits, '.', '_' and '-' "
                         "(not starting with '.' or '-')" % (name, base))
    return base / name


def results_root() -> Path:
    """``$EDGEBENCH_RESULTS`` or ``<repo>/results``."""
    return Path(os.environ.get("EDGEBENCH_RESULTS", REPO_ROOT / "results"))


def inventory_path() -> Path:
    """The device inventory: ``--inventory`` (which sets ``$EDGEBENCH_INVENTORY``), ``$EDGEBENCH_INVENTORY``
    (``$EDGEBENCH_DEVICES``, its older name), ``./devices.yaml`` where the current folder has one, else the
    repository's ``devices.yaml`` (beside the ``results/`` the runs go to)."""
    for var in ("EDGEBENCH_INVENTORY", "EDGEBENCH_DEVICES"):
        if os.environ.get(var):
            return Path(os.environ[var])
    here = Path("devices.yaml")
    return here if here.is_file() else REPO_ROOT / "devices.yaml"


def slug_name(text: str) -> str:
    """``text`` made into a safe file name (unsafe characters become '_'), for names read back from
    stored results, which may have been crafted."""
    import re

    out = re.sub(r"[^A-Za-z0-9._-]", "_", str(text))[:200].replace("..", "__")
    return ("_" + out[1:]) if out[:1] in (".", "-", "") else out
