"""JSON reading and atomic writing, shared by the agent's commands."""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def read_json(path: str) -> Any:
    """Read JSON from ``path`` (``-`` means standard input)."""
    if path == "-":
        return json.load(sys.stdin)
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_json(obj: Any, path: str | None) -> None:
    """Write ``obj`` as JSON to ``path`` atomically, or to standard output when ``path`` is None."""
    text = json.dumps(obj, indent=1, sort_keys=True, allow_nan=False, default=_default)
    if path is None or path == "-":
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return
    tmp = "%s.%d.tmp" % (path, os.getpid())  # never shared with another agent writing beside us
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    os.replace(tmp, path)


def _default(obj: Any) -> Any:
    # numpy scalars and arrays, without importing numpy here.
    if hasattr(obj, "item") and callable(obj.item):
        try:
            return obj.item()
        except (ValueError, TypeError):
            pass
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError("not JSON serialisable: %r" % (type(obj),))
