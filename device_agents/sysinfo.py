"""Small readers of /proc, /sys and sysctl shared by the probe and the memory tracker."""

from __future__ import annotations

import subprocess
from typing import Dict, Optional


def read_text(path: str) -> Optional[str]:
    """Contents of a small text file, stripped, or None when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return None


def read_kv(path: str, sep: str = ":") -> Dict[str, str]:
    """Parse ``key<sep> value`` lines (``/proc/meminfo``, ``/proc/self/status``) into a dict."""
    text = read_text(path)
    out: Dict[str, str] = {}
    if text is None:
        return out
    for line in text.splitlines():
        if sep in line:
            key, _, value = line.partition(sep)
            out[key.strip()] = value.strip()
    return out


def kib_field_bytes(fields: Dict[str, str], key: str) -> Optional[int]:
    """A ``/proc`` field written as ``1234 kB`` converted to bytes."""
    value = fields.get(key)
    if not value:
        return None
    try:
        return int(value.split()[0]) * 1024
    except (ValueError, IndexError):
        return None


def sysctl(name: str) -> Optional[str]:
    """Value of a BSD/macOS sysctl, or None where there is no sysctl."""
    try:
        out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
