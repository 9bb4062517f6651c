"""The shared artifact store: model files by content, ``<root>/<sha256[:2]>/<sha256>/<file name>``.

The first version is a directory every lab host mounts at the same place (NFS, SMB, a synced folder):
``$EDGEBENCH_ARTIFACTS``, default ``<results>/lab-artifacts`` beside the one results store. ``lab submit``
publishes each artifact once (atomically, verified); a worker reads it and checks its hash before pushing it to
its device (the device side checks again, bench/run/deploy.py). A bigger lab would put the same keys in an object
store (S3/MinIO/GCS) with a per-host read-through cache."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Dict, Optional, Tuple

from device_agents.hashing import sha256_file

from ..paths import results_root, safe_child
from ..results.store import atomic_write_path
from .app import LabError


def artifact_root() -> Path:
    return Path(os.environ.get("EDGEBENCH_ARTIFACTS") or results_root() / "lab-artifacts")


def _path(root: Path, key: str) -> Path:
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != parts[1][:2] or len(parts[1]) != 64:
        raise LabError("artifact key %r is not <sha[:2]>/<sha256>/<name>" % key)
    path = root
    for part in parts:
        path = safe_child(path, part)
    return path


def publish(local: Path, sha256: str, root: Optional[Path] = None) -> str:
    """Put ``local`` (whose content hash is ``sha256``) in the store; returns its key. Already there: nothing
    is copied."""
    root = root or artifact_root()
    key = "%s/%s/%s" % (sha256[:2], sha256, local.name)
    dest = _path(root, key)
    if dest.is_file() and dest.stat().st_size == local.stat().st_size and sha256_file(str(dest)) == sha256:
        return key
    atomic_write_path(dest, lambda tmp: shutil.copyfile(local, tmp))
    if sha256_file(str(dest)) != sha256:
        raise LabError("artifact %s changed while it was copied to %s: publish it again" % (local, dest))
    return key


#: (path, size, mtime_ns) → verified hash, per process: a worker hashes a big model once, not once per job.
_verified: Dict[Tuple[str, int, int], str] = {}


def fetch(key: str, sha256: str, root: Optional[Path] = None) -> Path:
    """The store's file for ``key``, checked against ``sha256`` (LabError when missing or different)."""
    path = _path(root or artifact_root(), key)
    try:
        st = path.stat()
    except OSError:
        raise LabError("artifact %s is not in the artifact store %s: is the shared directory mounted on this host "
                       "(EDGEBENCH_ARTIFACTS)?" % (key, root or artifact_root()))
    stamp = (str(path), st.st_size, st.st_mtime_ns)
    if _verified.get(stamp) != sha256:
        got = sha256_file(str(path))
        if got != sha256:
            raise LabError("artifact %s in the store has hash %s, not %s: the store is corrupt; submit again"
                           % (path, got[:12], sha256[:12]))
        _verified[stamp] = got
    return path
