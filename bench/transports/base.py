"""The transport interface: how the host reaches one device (push, run, pull, close).

Remote paths are POSIX strings relative to nothing: each transport has a root directory on the
device (``root``) under which the harness keeps the agent, the models and one fresh directory per job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple


class TransportError(Exception):
    """The device cannot be reached or a transfer failed; the message names the device and the fix."""


@dataclass
class ExecResult:
    """Outcome of one command on the device. ``duration_s`` is host wall time."""

    returncode: Optional[int]
    stdout: str
    stderr: str
    timed_out: bool
    duration_s: float


class Transport:
    """Base class; one instance per device per run."""

    #: The agent's standard input stays open while the host holds the connection (so the agent can end
    #: itself when the host goes away).
    holds_stdin = False
    #: The device-wide measurement lock: shared by every harness, checkout and user on the device.
    lock_file = "/tmp/edgebench-device.lock"

    def __init__(self, root: str) -> None:
        self.root = root

    def file_sha256(self, remote: str) -> Optional[str]:
        """sha256 of a file on the device, or None if it is not there."""
        raise NotImplementedError

    def file_sha256s(self, remotes: List[str]) -> Dict[str, Optional[str]]:
        """Hashes of several files in one round trip (None for absent ones)."""
        return {r: self.file_sha256(r) for r in remotes}

    def push(self, local: Path, remote: str) -> int:
        """Copy one file to the device (parents created); returns bytes sent."""
        raise NotImplementedError

    def push_many(self, files: List[Tuple[Path, str]]) -> int:
        """Copy several files (parents created); returns bytes sent."""
        return sum(self.push(local, remote) for local, remote in files)

    def pull(self, remote: str) -> bytes:
        """Contents of one file on the device; raises FileNotFoundError if absent."""
        raise NotImplementedError

    def write_text(self, remote: str, text: str) -> None:
        raise NotImplementedError

    def exec(self, argv: List[str], timeout_s: float, cwd: Optional[str] = None,
             env: Optional[Dict[str, str]] = None) -> ExecResult:
        """Run ``argv`` on the device in its own process group; killed (whole group) at ``timeout_s``."""
        raise NotImplementedError

    def remove_tree(self, remote: str) -> None:
        raise NotImplementedError

    def join(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/")] + [p.strip("/") for p in parts])

    def abort(self) -> None:
        """Kill whatever this transport is running on the device now (called from another thread)."""

    def close(self) -> None:
        """Release the connection; nothing the harness started may keep running on the device."""
