"""The transport interface: how the host reaches one device (push, run, pull, close).

Remote paths are POSIX strings relative to nothing: each transport has a root directory on the
device (``root``) under which the harness keeps the agent, the models and one fresh directory per job.
"""

from __future__ import annotations

import errno as _errno
import shlex
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple


def q(text: str) -> str:
    """``text`` quoted for a POSIX shell command line on the device."""
    return shlex.quote(str(text))


def mkdir_command(dirs: List[str]) -> Optional[Tuple[str, str]]:
    """(``mkdir -p -- …`` for every distinct folder, the first one for messages), or None when none."""
    dirs = sorted({d for d in dirs if d})
    return ("mkdir -p -- %s" % " ".join(q(d) for d in dirs), dirs[0]) if dirs else None


class TransportError(Exception):
    """The device cannot be reached or a transfer failed; the message names the device and the fix."""


def describe_exc(exc: BaseException) -> str:
    """One readable reason for ``exc``, never empty: its type, its errno name where it has one, and its
    text (many exceptions, e.g. a bare ``EOFError()`` from a closed channel, have an empty ``str``)."""
    name = type(exc).__name__
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code in _errno.errorcode:
        name = "%s (%s)" % (name, _errno.errorcode[code])
    text = getattr(exc, "strerror", None) if isinstance(exc, OSError) and getattr(exc, "strerror", None) else None
    if text and getattr(exc, "filename", None):
        text = "%s: %s" % (text, exc.filename)  # type: ignore[attr-defined]
    text = text or str(exc).strip()
    return "%s: %s" % (name, text) if text else "%s (no further detail)" % name


def kill_outcome(kill_confirmed: Optional[bool]) -> str:
    """What happened to the device's process after a timeout, for a message: ``kill_confirmed`` as in
    ExecResult (True: killed and gone; False: the device could not be reached; None: no kill)."""
    if kill_confirmed is None:
        return ""
    if kill_confirmed:
        return "it was killed on the device"
    return ("the device could not be reached to kill it (the link was dead): the agent ends itself when its "
            "standard input closes or its own deadline passes")


@dataclass
class ExecResult:
    """Outcome of one command on the device.

    ``returncode``: the exit status; negative (``-N``, as ``subprocess`` has it) when the process died of
    a signal that this host knows by name; None when there is none (the connection gave no status, or,
    over SSH, the command timed out). ``signal``: the name of the signal that ended the process
    (``"SIGSEGV"``, ``"SIGKILL"``), from the SSH ``exit-signal`` message or the local wait status; None
    when it exited normally (and over SSH after a timeout; locally the timeout's own kill reads as
    SIGKILL). Check ``timed_out`` first. ``duration_s``: host wall time in seconds. ``kill_confirmed``
    (only when ``timed_out``): True when the kill reached the device and its process group is gone,
    False when it could not be confirmed (the link was dead: the agent then ends itself when its
    standard input closes or its own deadline passes), None when no kill was needed.
    """

    returncode: Optional[int]
    stdout: str
    stderr: str
    timed_out: bool
    duration_s: float
    signal: Optional[str] = None
    kill_confirmed: Optional[bool] = None


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
        """sha256 of a file on the device, or None if it is not there. A transport implements this or
        ``file_sha256s`` (each defaults to the other)."""
        return self.file_sha256s([remote]).get(remote)

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
        """Run ``argv`` on the device in its own process group; killed (whole group) at ``timeout_s`` seconds
        (``timed_out`` and ``kill_confirmed`` say so). Raises TransportError if the link drops while it runs;
        the next call reconnects."""
        raise NotImplementedError

    def remove_tree(self, remote: str) -> None:
        raise NotImplementedError

    def join(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/")] + [p.strip("/") for p in parts])

    def abort(self) -> None:
        """Kill whatever this transport is running on the device now (called from another thread)."""

    def close(self) -> None:
        """Release the connection; nothing the harness started may keep running on the device."""


def signal_name(returncode: Optional[int]) -> Optional[str]:
    """``"SIGSEGV"`` for a return code of ``-11`` (a death by signal, as ``subprocess`` reports it); None
    for a normal exit."""
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return "signal %d" % -returncode
