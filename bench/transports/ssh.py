"""SSH transport (paramiko): host keys checked against known_hosts (never auto-accepted), a socket with
TCP_NODELAY, TCP_USER_TIMEOUT and keepalive, SFTP for files, every remote path and argument quoted (and
after ``--`` where a command takes options).

Agent commands run in their own process group (``os.setsid`` through the device's Python, which every
device has) with their process id in ``agent.pid`` beside them: a timeout or a host-side interrupt
kills that whole group. The agent also ends by itself if the SSH channel closes (it watches its
standard input) or its deadline passes, so nothing is left running when the link dies. A death by
signal is reported by name from the SSH ``exit-signal`` message (``ExecResult.signal``).

The agent's ``run`` jobs run in children forked by a warm agent on the device (bench/transports/sshwarm.py: one
session channel per run; each child writes its process group to ``agent.pid`` in its job folder, so the same kill
reaches it), unless it cannot start there (the run then starts a process per job) or ``EDGEBENCH_WARM_AGENT=0``.

Deadlines (seconds; the options are the device's ``options:`` in devices.yaml):

- every operation finishes within ``op_timeout_s`` (default 60), reconnecting included;
- a transfer of n bytes (push, pull, write_text) within ``op_timeout_s + n / min_transfer_rate_Bps``,
  ``min_transfer_rate_Bps`` defaulting to 100,000 B/s (0.8 Mbit/s): a 10 MB model gets 160 s, a
  1 MB result 70 s;
- the agent (``exec``) its ``timeout_s``; killing it on timeout gets ``KILL_BUDGET_S`` (10) more.

At a deadline the connection is cut (closing its socket is the only thing that stops paramiko on a
trickling or stalled link) and the operation raises TransportError naming the device and the fix.

Reconnecting: an operation that finds the connection dead opens a new one, up to 1 + 3 attempts 1, 2
and 4 s apart (``RECONNECT_BACKOFF_S``), all inside that operation's deadline; after such a round failed,
later operations try once each until the device answers again; a refusal (host key, authentication,
no SFTP) is not retried. An operation that is safe to repeat (hash, mkdir, push, pull,
write, remove) and loses its connection midway is repeated once on a new connection. The agent's run
is not: it fails with TransportError, after an attempt to kill the agent over a new connection.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import secrets
import socket
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, Tuple, TypeVar

from .base import ExecResult, Transport, TransportError, describe_exc, mkdir_command, q
from .sshconn import DROPS, Conn, Refused, Watchdog, open_conn, signal_from_message
from .sshscripts import FREE_SPACE, HASHES, KILL, SETSID
from .sshkeys import key_permission_warning, load_known_hosts
from .sshwarm import ChannelPipe
from .warm import WarmAgent, WarmLinkLost, WarmSlot, serve_argv

T = TypeVar("T")

#: Waits (s) before the 2nd, 3rd and 4th attempt to reconnect; all inside the operation's deadline.
RECONNECT_BACKOFF_S: Tuple[float, ...] = (1.0, 2.0, 4.0)
#: Slowest transfer rate (bytes/s) a push or pull is allowed before its deadline cuts it.
DEFAULT_MIN_RATE_BPS = 100_000.0
#: Seconds for killing a timed-out agent (reconnecting included), and for Ctrl-C's kill (no reconnect).
KILL_BUDGET_S = 10.0
ABORT_BUDGET_S = 5.0
#: Seconds past exec's own timeout after which its watchdog cuts a connection that stopped answering.
EXEC_GRACE_S = 5.0


class _Dropped(Exception):
    """The SSH session ended under a running command."""


class _NotStarted(_Dropped):
    """The connection was dead before the command could start (so it is safe to start it again)."""


def _why(exc: BaseException) -> str:
    """The reason for a drop, for a message (this module's own markers carry it as their text)."""
    return str(exc) if isinstance(exc, _Dropped) else describe_exc(exc)




def _warn_stderr(message: str) -> None:
    print("warning: %s" % message, file=sys.stderr)


class SshTransport(Transport):
    holds_stdin = True

    def __init__(self, device: Any, connect_timeout_s: float = 10.0, op_timeout_s: float = 60.0,
                 user_timeout_s: float = 15.0, sock: Optional[socket.socket] = None,
                 min_rate_Bps: float = DEFAULT_MIN_RATE_BPS, warn: Optional[Callable[[str], None]] = None,
                 reconnect_backoff_s: Tuple[float, ...] = RECONNECT_BACKOFF_S) -> None:
        """``*_s`` in seconds, ``min_rate_Bps`` in bytes/s; ``sock``: an already connected socket for the
        first connection (reconnects make their own); ``warn``: where warning lines go (stderr)."""
        self.device = device
        self.connect_timeout_s = connect_timeout_s
        self.op_timeout_s = op_timeout_s
        self.user_timeout_s = user_timeout_s
        self.min_rate_Bps = min_rate_Bps
        self.reconnect_backoff_s = tuple(reconnect_backoff_s)
        self.host = device.host
        self.port = int(device.port or 22)
        self.known_hosts = os.path.expanduser(str(device.options.get("known_hosts") or "~/.ssh/known_hosts"))
        #: Python for the harness's helpers on the device (process-group trampoline, file hashes); the agent
        #: itself always runs with ``device.python``. Differs only where that one is a wrapper (an emulated
        #: board, a container entry point).
        self.helper_python = str(device.options.get("helper_python") or device.python)
        #: Warning lines given so far (also sent to ``warn``); reconnects made after a drop.
        self.warnings: List[str] = []
        self.reconnects = 0
        self._down = False  # the last round of reconnect attempts failed
        self._warn_sink = warn or _warn_stderr
        self._lock = threading.Lock()
        self._running: Optional[str] = None
        #: The agent's jobs run in children of a warm agent on the device (bench/transports/sshwarm.py) unless it
        #: could not take one in this run or ``EDGEBENCH_WARM_AGENT=0``; then each job starts a process of its own.
        self.warm = WarmSlot()
        self.key = os.path.expanduser(device.key) if device.key else None
        if self.key:
            problem = key_permission_warning(self.key)
            if problem:
                self.warn("device %r: %s" % (device.name, problem))
        self._host_keys = load_known_hosts(self.known_hosts, self.warn)
        self._conn: Optional[Conn] = self._open(connect_timeout_s, sock)
        try:
            super().__init__(self._resolve_root(str(device.workdir)))
            self._mkdirs([self.root])
        except BaseException:
            self.close()
            raise

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            self._warn_sink(message)

    def _resolve_root(self, workdir: str) -> str:
        """The work dir as an absolute path: ``~`` and ``~/x`` under the login's home, a relative path
        too (so it can never start with ``-``)."""
        if workdir.startswith("/"):
            return workdir
        if workdir.startswith("~") and not (workdir == "~" or workdir.startswith("~/")):
            raise TransportError("device %r: workdir %r names another user's home, which is not supported; use an "
                                 "absolute path or one starting with '~/'" % (self.device.name, workdir))
        home = self._op("finding the home directory", lambda conn, _: conn.sftp.normalize("."), self.op_timeout_s)
        rest = workdir[1:].lstrip("/") if workdir.startswith("~") else workdir
        return home.rstrip("/") + ("/" + rest if rest else "")

    # -- connection -------------------------------------------------------------------------
    def _open(self, timeout_s: float, sock: Optional[socket.socket] = None) -> Conn:
        return open_conn(self.device, self.host, self.port, self.key, self._host_keys, self.known_hosts,
                         timeout_s, self.user_timeout_s, sock)

    def _connection(self, deadline: float, what: str) -> Conn:
        """The live connection, reconnecting first if it died (bounded by ``deadline``, monotonic s)."""
        with self._lock:
            conn = self._conn
            if conn is not None and conn.alive():
                return conn
            if conn is not None:
                conn.close()
                self._conn = None
            self._conn = self._reconnect(deadline, what)
            return self._conn

    def _reconnect(self, deadline: float, what: str) -> Conn:
        """A new connection: 1 + len(backoff) attempts within ``deadline``; only one while the device is
        known to be down (the last round failed), so a device gone for good costs each later job one
        connect timeout, not the whole round."""
        last: Optional[TransportError] = None
        tries = 0
        for wait in (0.0,) + (() if self._down else self.reconnect_backoff_s):
            if wait:
                if time.monotonic() + wait >= deadline:
                    break
                time.sleep(wait)
            left = deadline - time.monotonic()
            if left <= 0.05:
                break
            tries += 1
            try:
                conn = self._open(min(self.connect_timeout_s, left))
            except Refused:
                raise
            except TransportError as exc:
                last = exc
                continue
            self.reconnects += 1
            self._down = False
            return conn
        self._down = True
        raise TransportError("device %r: the SSH connection was lost and %d attempt(s) to reconnect (for %s) failed "
                             "within the deadline; check that the device is on and reachable. Last error: %s"
                             % (self.device.name, tries, what, last or "no time left"))

    def _discard(self, conn: Conn) -> None:
        with self._lock:
            if self._conn is conn:
                self._conn = None
        conn.close()

    def _op(self, what: str, fn: Callable[[Conn, float], T], budget_s: float, retry: bool = True,
            budget_note: str = "") -> T:
        """``fn(conn, deadline)`` within ``budget_s`` seconds overall: reconnects if the connection is
        dead, cuts it at the deadline, repeats ``fn`` once on a new connection after a drop if ``retry``.
        An answer from the device (an exception while the connection is alive) is passed through."""
        deadline = time.monotonic() + budget_s
        while True:
            conn = self._connection(deadline, what)
            dog = Watchdog(conn, deadline)
            try:
                return fn(conn, deadline)
            except Exception as exc:
                if dog.fired:
                    raise self._deadline_error(what, budget_s, budget_note) from exc
                if not (isinstance(exc, DROPS + (_Dropped,)) or not conn.alive()):
                    raise
                self._discard(conn)
                if not retry or time.monotonic() >= deadline:
                    raise TransportError("device %r: the SSH connection dropped during %s (%s); the next operation "
                                         "reconnects" % (self.device.name, what, _why(exc))) from exc
                retry = False
            finally:
                dog.cancel()

    def _deadline_error(self, what: str, budget_s: float, note: str = "") -> TransportError:
        return TransportError(
            "device %r: %s did not finish within %.0f s%s: the link to the device is stalled or too slow. Check the "
            "network; on a slow link raise options.op_timeout_s%s in devices.yaml"
            % (self.device.name, what, budget_s, " (%s)" % note if note else "",
               " or lower options.min_transfer_rate_Bps" if note else ""))

    def _transfer_budget(self, nbytes: int) -> Tuple[float, str]:
        """Seconds allowed for moving ``nbytes`` bytes, and how that number was made."""
        return (self.op_timeout_s + nbytes / self.min_rate_Bps,
                "op_timeout_s %g + %d bytes at min_transfer_rate_Bps %g" % (self.op_timeout_s, nbytes,
                                                                              self.min_rate_Bps))

    # -- commands ---------------------------------------------------------------------------
    def _run_channel(self, conn: Conn, command: str, deadline: float) -> ExecResult:
        """Run ``command`` on ``conn`` until it exits or ``deadline`` (monotonic s) passes (then
        ``timed_out``, and it is left running). Raises _Dropped if the connection dies under it."""
        start = time.perf_counter()
        transport = conn.transport
        if transport is None:
            raise _Dropped("no SSH session")
        try:
            chan = transport.open_session(timeout=max(0.1, deadline - time.monotonic()))
        except DROPS as exc:
            raise _NotStarted(describe_exc(exc)) from exc
        out: List[bytes] = []
        err: List[bytes] = []
        timed_out = False
        try:
            chan.exec_command(command)
            while True:
                while chan.recv_ready():
                    out.append(chan.recv(65536))
                while chan.recv_stderr_ready():
                    err.append(chan.recv_stderr(65536))
                if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                if time.monotonic() > deadline:
                    timed_out = True
                    break
                if not transport.is_active():
                    raise _Dropped("the SSH session ended")
                time.sleep(0.005)
        finally:
            chan.close()
        rc: Optional[int] = None
        sig: Optional[str] = None
        if not timed_out:
            if chan.exit_status != -1:
                rc = chan.exit_status
            else:
                rc, sig = signal_from_message(getattr(chan, "exit_signal", None))
            if rc is None and sig is None and not transport.is_active():
                raise _Dropped("the connection closed before the command's exit status arrived")
        return ExecResult(rc, b"".join(out).decode("utf-8", "replace"), b"".join(err).decode("utf-8", "replace"),
                          timed_out, time.perf_counter() - start, signal=sig)

    def _run(self, command: str, what: str, budget_s: Optional[float] = None, retry: bool = True) -> ExecResult:
        """A harness helper command (idempotent), within ``budget_s`` (default ``op_timeout_s``) seconds."""
        budget = budget_s or self.op_timeout_s
        res = self._op(what, lambda conn, deadline: self._run_channel(conn, command, deadline), budget, retry)
        if res.timed_out:
            raise self._deadline_error(what, budget)
        return res

    def _command(self, argv: List[str], cwd: str, env: Optional[Dict[str, str]]) -> str:
        """The shell line that runs ``argv`` in ``cwd`` with ``env``, as the leader of its own process group (its pid
        in ``cwd/agent.pid``)."""
        envs = " ".join("%s=%s" % (k, q(v)) for k, v in (env or {}).items())
        wrapped = [self.helper_python, "-c", SETSID] + list(argv)
        return "cd -- %s && %s exec %s" % (q(cwd), envs, " ".join(q(a) for a in wrapped))

    def exec(self, argv: List[str], timeout_s: float, cwd: Optional[str] = None,
             env: Optional[Dict[str, str]] = None) -> ExecResult:
        warm = self._warm_exec(argv, timeout_s, cwd, env)  # after Ctrl-C or a failed worker: nothing starts
        if warm is not None:
            return warm
        cwd = cwd or self.root
        command = self._command(argv, cwd, env)
        start = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        self._running = cwd
        try:
            res = self._exec_once(command, argv[0], cwd, deadline)
            if res is None:  # the connection was found dead before the command started: once more
                res = self._exec_once(command, argv[0], cwd, deadline, last_try=True)
        finally:
            self._running = None
        assert res is not None
        if res.timed_out:
            res.kill_confirmed = self._kill_group(cwd)
        res.duration_s = time.perf_counter() - start
        return res

    def _warm_exec(self, argv: List[str], timeout_s: float, cwd: Optional[str], env: Optional[Dict[str, str]]
                   ) -> Optional[ExecResult]:
        """WarmSlot.exec over SSH: an agent job in a child of the device's warm agent; None when the command runs in a
        process of its own. The child watches its parent, the warm agent, which watches the channel
        (``--watch-stdin`` becomes ``--watch-parent``). A drop under it is this transport's drop mid-run: the job
        killed over a new connection, TransportError."""
        argv = ["--watch-parent" if a == "--watch-stdin" else a for a in argv]
        # the run's jobs folder: the warm agent's agent.pid
        folder = posixpath.dirname((cwd or "").rstrip("/")) or cwd or self.root

        def start(ready_s: float) -> WarmAgent:
            conn = self._connection(time.monotonic() + ready_s, "starting the warm agent")
            pipe = ChannelPipe(conn, self._command(serve_argv(argv[:3]), folder, env), folder, ready_s,
                               self._kill_group, self.pull)
            return WarmAgent(pipe, ready_s, pid_file="agent.pid")

        self._running = cwd
        try:
            return self.warm.exec(argv, timeout_s, cwd, env or {}, start)
        except WarmLinkLost as exc:
            assert cwd is not None
            killed = self._kill_group(cwd)
            self._kill_group(folder)  # the warm agent too, should the device not have noticed the drop yet
            raise TransportError("device %r: the SSH connection dropped while %s was running (%s); %s" % (
                self.device.name, argv[0], exc, _kill_note(killed))) from exc
        finally:
            self._running = None

    def _exec_once(self, command: str, name: str, cwd: str, deadline: float,
                   last_try: bool = False) -> Optional[ExecResult]:
        """One attempt at exec; None if the connection was dead before the command started."""
        conn = self._connection(deadline, "starting %s" % name)
        dog = Watchdog(conn, deadline + EXEC_GRACE_S)
        try:
            return self._run_channel(conn, command, deadline)
        except Exception as exc:
            if not (dog.fired or isinstance(exc, DROPS + (_Dropped,)) or not conn.alive()):
                raise
            self._discard(conn)
            if dog.fired:  # the link stopped answering past the timeout: a timeout
                return ExecResult(None, "", "", True, 0.0)
            if isinstance(exc, _NotStarted) and not last_try:
                return None
            if isinstance(exc, _NotStarted):
                raise TransportError("device %r: cannot start %s: the SSH connection dropped (%s); the next operation "
                                     "reconnects" % (self.device.name, name, _why(exc))) from exc
            killed = self._kill_group(cwd)
            raise TransportError("device %r: the SSH connection dropped while %s was running (%s); %s" % (
                self.device.name, name, _why(exc), _kill_note(killed))) from exc
        finally:
            dog.cancel()

    def _kill_group(self, cwd: str, reconnect: bool = True) -> bool:
        """Kill the agent's process group (its pid is in cwd/agent.pid); True when the kill ran and the
        group is gone, False when that cannot be confirmed (the link is dead)."""
        command = "%s -c %s %s" % (q(self.helper_python), q(KILL), q(posixpath.join(cwd, "agent.pid")))
        try:
            if reconnect:
                return self._run(command, "killing the agent", KILL_BUDGET_S).returncode == 0
            conn = self._conn
            if conn is None or not conn.alive():
                return False
            deadline = time.monotonic() + ABORT_BUDGET_S
            dog = Watchdog(conn, deadline)
            try:
                res = self._run_channel(conn, command, deadline)
            finally:
                dog.cancel()
            return not res.timed_out and res.returncode == 0
        except Exception:
            return False

    def abort(self) -> None:
        killed = self.warm.abort()  # the warm agent, and its job if it had one
        cwd = self._running
        if cwd and cwd != killed:
            self._kill_group(cwd, reconnect=False)

    # -- files ------------------------------------------------------------------------------
    def file_sha256s(self, remotes: List[str]) -> Dict[str, Optional[str]]:
        if not remotes:
            return {}
        res = self._run("%s -c %s %s" % (q(self.helper_python), q(HASHES), " ".join(q(r) for r in remotes)),
                        "hashing %d file(s)" % len(remotes))
        try:
            return json.loads(res.stdout)
        except ValueError:
            raise TransportError("device %r: cannot hash files with %s (exit %s): %s" % (
                self.device.name, self.helper_python, res.returncode, res.stderr.strip()[-200:] or "no output"))

    def _mkdirs(self, dirs: List[str]) -> None:
        command = mkdir_command(dirs)
        if command is None:
            return
        res = self._run(command[0], "creating %s" % command[1])
        if res.returncode != 0:
            first = command[1]
            why = res.stderr.strip()[-300:] or "exit status %s" % res.returncode
            if "no space" in why.lower():
                raise self._disk_full_error("creating %s" % first)
            raise TransportError("device %r: cannot create %s: %s; check that workdir is writable by %s there"
                                 % (self.device.name, first, why, self.device.user))

    def _disk_full_error(self, doing: str, free_bytes: Optional[int] = None) -> TransportError:
        free = "; %d bytes free there" % free_bytes if free_bytes is not None else ""
        return TransportError("device %r: no space left on the device's disk under %s (%s%s); free space there or "
                              "set workdir in devices.yaml to a disk with room" % (self.device.name, self.root, doing,
                                                                                   free))

    def _send(self, source: IO[bytes], size: int, remote: str, label: str, verb: str = "pushing") -> None:
        """Copy ``size`` bytes from ``source`` to ``remote`` through a temporary name, then rename."""
        tmp = "%s.%d-%s.part" % (remote, os.getpid(), secrets.token_hex(3))  # concurrent harnesses

        def put(conn: Conn, _: float) -> None:
            source.seek(0)
            conn.sftp.putfo(source, tmp, file_size=size, confirm=True)
            conn.sftp.posix_rename(tmp, remote)

        budget, note = self._transfer_budget(size)
        try:
            self._op("%s %s" % (verb, label), put, budget, budget_note=note)
        except TransportError:
            raise
        except OSError as exc:  # the device answered: an SFTP status (Failure, size mismatch, permission)
            raise self._push_error("%s %s" % (verb, label), remote, tmp, size, exc) from exc

    def _push_error(self, doing: str, remote: str, tmp: str, size: int, exc: OSError) -> TransportError:
        """What a failed push means: a full disk (free space checked on the device) or the SFTP error."""
        probe = "%s -c %s %s %s" % (q(self.helper_python), q(FREE_SPACE), q(posixpath.dirname(remote) or self.root),
                                    q(tmp))
        free: Optional[int] = None
        partial = 0
        try:
            fields = self._run(probe, "checking free space", retry=False).stdout.split()
            free, partial = int(fields[0]), int(fields[1])
        except (TransportError, ValueError, IndexError):
            pass
        if free is not None and free < 0:
            free = None
        if "no space" in str(exc).lower() or (free is not None and free < size - partial):
            return self._disk_full_error("%s, %d bytes" % (doing, size), free)
        return TransportError("device %r: %s to %s failed: %s" % (self.device.name, doing, remote, describe_exc(exc)))

    def _push_file(self, local: Path, remote: str) -> int:
        try:
            fh = open(local, "rb")
            size = os.fstat(fh.fileno()).st_size
        except OSError as exc:
            raise TransportError("cannot read %s on this host to push it to device %r: %s"
                                 % (local, self.device.name, describe_exc(exc)))
        with fh:
            self._send(fh, size, remote, str(local))
        return size

    def push(self, local: Path, remote: str) -> int:
        self._mkdirs([posixpath.dirname(remote)])
        return self._push_file(local, remote)

    def push_many(self, files: List[Tuple[Path, str]]) -> int:
        self._mkdirs([posixpath.dirname(r) for _, r in files])
        return sum(self._push_file(local, remote) for local, remote in files)

    def pull(self, remote: str) -> bytes:
        what = "pulling %s" % remote

        def read(conn: Conn, _: float) -> bytes:
            with conn.sftp.open(remote, "rb") as fh:
                fh.prefetch(size)
                return fh.read()

        try:
            size = self._op(what, lambda conn, _: conn.sftp.stat(remote).st_size or 0, self.op_timeout_s)
            budget, note = self._transfer_budget(size)
            return self._op(what, read, budget, budget_note=note)
        except (FileNotFoundError, TransportError):
            raise
        except OSError as exc:
            raise TransportError("device %r: pulling %s failed: %s" % (self.device.name, remote, describe_exc(exc)))

    def write_text(self, remote: str, text: str) -> None:
        data = text.encode()
        self._mkdirs([posixpath.dirname(remote)])
        self._send(io.BytesIO(data), len(data), remote, remote, verb="writing")

    def remove_tree(self, remote: str) -> None:
        if not remote.startswith(self.root + "/"):
            raise TransportError("refusing to delete %s outside the harness directory %s" % (remote, self.root))
        self._run("rm -rf -- %s" % q(remote), "removing %s" % remote)

    def close(self) -> None:
        warm = getattr(self, "warm", None)
        if warm is not None:
            warm.close()
        with self._lock:
            conn, self._conn = getattr(self, "_conn", None), None
        if conn is not None:
            conn.close()


def _kill_note(killed: bool) -> str:
    """The end of a mid-run drop's message: whether the agent was killed over a new connection."""
    if killed:
        return "the agent was killed over a new connection"
    return ("the device could not be reached to kill the agent: it ends itself when its standard input closes or "
            "its own deadline passes")
