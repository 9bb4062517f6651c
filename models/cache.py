"""Content-addressed artifact cache, outside git.

An artifact's directory is named by the hash of everything that determines it (model config,
variant recipe, seed, recipe version and tool versions), so a second build of the same thing finds
it and rebuilds nothing; ``build.json`` beside the file records the outcome, failures included.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

from device_agents.hashing import sha256_file

__all__ = ["sha256_file", "cache_root", "cache_key", "artifact_dir", "read_record", "write_record", "build_lock",
           "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Bump when a builder or converter changes what it produces.
RECIPE_VERSION = 2


def cache_root() -> Path:
    """``$EDGEBENCH_CACHE`` or ``<repo>/.cache/edgebench`` (ignored by git)."""
    return Path(os.environ.get("EDGEBENCH_CACHE", REPO_ROOT / ".cache" / "edgebench"))


def tool_versions() -> Dict[str, Optional[str]]:
    from importlib.metadata import PackageNotFoundError, version

    out: Dict[str, Optional[str]] = {}
    for pkg in ("torch", "transformers", "onnx", "onnxruntime", "onnxscript", "litert-torch", "ai-edge-quantizer",
                "coremltools", "timm"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def cache_key(recipe: Dict[str, Any]) -> str:
    blob = json.dumps({"recipe": recipe, "recipe_version": RECIPE_VERSION, "tools": tool_versions()},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def artifact_dir(model: str, variant: str, key: str) -> Path:
    return cache_root() / "artifacts" / model / ("%s-%s" % (variant, key[:16]))


def read_record(directory: Path) -> Optional[Dict[str, Any]]:
    path = directory / "build.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None  # a torn write: treated as not built


def write_record(directory: Path, record: Dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / "build.json.tmp"
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
    os.replace(tmp, directory / "build.json")


@contextlib.contextmanager
def build_lock(directory: Path) -> Iterator[None]:
    """Held while one artifact is built: two processes asking for the same artifact (two runs, two test workers, lab
    hosts sharing a cache) build it once — the second waits, then finds the record. An advisory ``flock`` on
    ``<directory>/.build.lock``, released when the holder ends, however it ends."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".build.lock", "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
