"""Files written whole or not at all: a temporary sibling, synced, then renamed over the target. A full disk or
quota raises ``ResultsDiskFull`` and leaves what was written before intact. The lowest level of the results room
(the store, the Parquet tables and the ceilings cache write through it)."""

from __future__ import annotations

import errno
import io
import json
import os
import secrets
from pathlib import Path
from typing import Any, Callable

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class StoreError(ValueError):
    pass


class ResultsDiskFull(StoreError):
    """The results folder's disk (or quota) is full; what was written before is intact."""


def atomic_write_path(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` writes a whole file at a temporary sibling path, which is then synced and renamed over
    ``path``. A failure leaves the old file (or none) and no temporary file; ENOSPC/EDQUOT raise
    ResultsDiskFull."""
    tmp = path.with_name(".%s.%d-%s.tmp" % (path.name, os.getpid(), secrets.token_hex(3)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if exc.errno in DISK_FULL:
            raise ResultsDiskFull("results disk full: cannot write %s (%s)" % (path, exc.strerror))
        raise


def atomic_write(path: Path, write: Callable[[io.TextIOBase], None]) -> None:
    """A text file written through ``write(fh)``, atomically (see atomic_write_path)."""

    def to_path(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            write(fh)

    atomic_write_path(path, to_path)


def _write_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=1, sort_keys=True, allow_nan=False)
    atomic_write(path, lambda fh: fh.write(text))


