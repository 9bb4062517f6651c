"""A warm agent on an SSH device (the ``Pipe`` of bench/transports/warm.py): one session channel runs
``python -m device_agents serve`` in the run's jobs folder, its standard input and output are the channel's, its
process group is in ``agent.pid`` there (written by the SETSID trampoline, as for any agent command). Each job's child
writes its own process group to ``agent.pid`` in its job folder, so a timeout, a drop or Ctrl-C kills it through the
same helper as an agent process of its own.

Ends as an agent over SSH ends: closing the channel (the run is over, or the link dropped and sshd noticed) closes
the warm agent's standard input, which kills a running job's group; the job itself watches the warm agent (its
parent) and its own deadline.
"""

from __future__ import annotations

import posixpath
import socket
import time
from typing import TYPE_CHECKING, Callable, Optional

from .base import describe_exc
from .sshconn import DROPS, Watchdog
from .warm import Pipe, WarmAgentUnavailable, last_line

if TYPE_CHECKING:
    from .sshconn import Conn

#: ``kill_group(folder, reconnect)``: the SSH transport's kill of the process group in ``folder/agent.pid``; True when
#: it is gone. ``pull(path)``: a file's bytes from the device.
KillGroup = Callable[[str, bool], bool]
Pull = Callable[[str], bytes]

#: Longest single wait for the channel (s): its standard error is read between waits.
SLICE_S = 0.5
#: Seconds the warm agent has to exit once its input is closed before its group is killed.
CLOSE_WAIT_S = 2.0
#: Seconds to wait for sshd's exit status of a warm agent whose output ended (none comes when the link was cut).
STATUS_WAIT_S = 2.0
#: Bytes of the warm agent's own standard error kept (for the reason it did not start).
STDERR_KEEP = 4096


class ChannelPipe(Pipe):
    """The warm agent's channel on one SSH connection (``conn``), started with the shell line ``command`` within
    ``timeout_s`` seconds; ``folder`` is where it runs (its ``agent.pid``); the owning transport's ``kill_group`` and
    ``pull``."""

    def __init__(self, conn: "Conn", command: str, folder: str, timeout_s: float, kill_group: KillGroup,
                 pull: Pull) -> None:
        self.conn, self.folder, self._kill_group, self._pull = conn, folder, kill_group, pull
        self._drops = DROPS + (OSError,)
        self._err = b""
        self._closed = False
        transport = conn.transport
        chan = None
        dog = Watchdog(conn, time.monotonic() + timeout_s)  # paramiko's exec_command waits without a deadline
        try:
            if transport is None:
                raise EOFError("no SSH session")
            chan = transport.open_session(timeout=max(0.1, timeout_s))
            chan.exec_command(command)
        except self._drops as exc:
            if chan is not None:
                chan.close()
            why = "no answer within %.0f s" % timeout_s if dog.fired else describe_exc(exc)
            raise WarmAgentUnavailable("the warm agent could not start over SSH: %s" % why, transient=True) from exc
        finally:
            dog.cancel()
        self.chan = chan

    def _drain_stderr(self) -> None:
        try:
            while self.chan.recv_stderr_ready():
                self._err = (self._err + self.chan.recv_stderr(65536))[-STDERR_KEEP:]
        except self._drops:
            pass

    def send(self, data: bytes) -> None:
        try:
            self.chan.sendall(data)
        except self._drops as exc:
            raise OSError(describe_exc(exc)) from exc

    def recv(self, timeout_s: float) -> Optional[bytes]:
        end = time.monotonic() + timeout_s
        while True:
            self._drain_stderr()
            try:
                self.chan.settimeout(max(0.0, min(SLICE_S, end - time.monotonic())))
                return self.chan.recv(65536)  # b"" at the channel's end: the agent exited or the link dropped
            except socket.timeout:
                if time.monotonic() >= end:
                    return None
            except self._drops:
                return b""

    def alive(self) -> bool:
        return not self._closed and not self.chan.exit_status_ready() and self.conn.alive()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.chan.shutdown_write()  # end of its standard input: it kills a running job's group and exits
            self.chan.status_event.wait(CLOSE_WAIT_S)
        except self._drops:
            pass
        if not self.chan.exit_status_ready() and self.conn.alive():
            self._kill_group(self.folder, False)
        self.chan.close()

    def kill(self) -> None:
        self._closed = True
        self._kill_group(self.folder, False)
        self.chan.close()

    def kill_job(self, pid: int, cwd: str, quick: bool = False) -> bool:
        return self._kill_group(cwd, not quick)

    def leftover(self, cwd: str, name: str) -> str:
        try:
            return self._pull(posixpath.join(cwd, name)).decode("utf-8", "replace")
        except Exception:  # absent, or the device no longer answers: what is left is the job's error line
            return ""

    def stderr_tail(self) -> str:
        self._drain_stderr()
        return last_line(self._err)

    def link_lost(self) -> Optional[str]:
        # an agent that ended has its exit status (or signal) sent by sshd right after the end of its output; a channel
        # cut with its link gets none (neither the connection's state nor an end of output tells them apart: paramiko
        # closes the channels before it marks the connection dead, and a dying sshd may still send the end of output)
        self.chan.status_event.wait(STATUS_WAIT_S)  # also set when the channel closes: what came decides
        if self.chan.exit_status != -1 or getattr(self.chan, "exit_signal", None):
            return None
        return "the SSH connection dropped under the warm agent"

    def check_ready(self, pid: int) -> Optional[str]:
        try:
            seen = int(self._pull(posixpath.join(self.folder, "agent.pid")).decode().strip())
        except Exception as exc:  # noqa: B902 — any failure to read it: the kill could not be trusted
            return "the warm agent's process group could not be read back (%s)" % describe_exc(exc)
        if seen != pid:
            return ("the warm agent says it is process %d but the device's helper sees %d (a wrapped interpreter in "
                    "another PID namespace, or a wrapper that does not exec): its jobs could not be killed "
                    "reliably" % (pid, seen))
        return None
