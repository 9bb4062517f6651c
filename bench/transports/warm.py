"""The host's end of a warm agent (``python -m device_agents serve``, device_agents/serve.py): started once per
device and run, it forks a fresh process per job, so a job does not pay the interpreter's start and the agent's
imports before its measurement. Each job gets what ``Transport.exec`` gives: its exit code (or signal), its
standard output and error, whether it was killed at its timeout.

The warm agent is a speed-up, never a condition of a job: when it cannot start (a device "python" that is not one,
a crash, no answer within the job's timeout) or refuses a request, ``WarmAgentUnavailable`` says so before the job
has begun and the caller runs the job in a process of its own. A warm agent that ends while a job runs is reported
as that job's agent killed (the job's process group is killed too), as a fresh agent killed mid-job would be; a link
to the device that drops under it is ``WarmLinkLost``, which the transport reports as it reports any drop mid-run.
Everything it sends is checked (one JSON object per line, the expected keys and types) before it is used.

How the host reaches the warm agent is a ``Pipe``: ``ProcessPipe`` here for this machine, ``ChannelPipe``
(bench/transports/sshwarm.py) for an SSH device. ``WarmSlot`` is a transport's one warm agent: when to start it,
when to end it, when to stop trying.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from device_agents import AGENT_VERSION
from device_agents.serve import STDERR_FILE, STDOUT_FILE  # the child's output files in its job folder

from .base import ExecResult, signal_name

#: Seconds to wait for the warm agent's "ready" at most (less when the job's own timeout is shorter).
READY_TIMEOUT_S = 30.0
#: Seconds the warm agent has to report a job it killed at its timeout as ended.
KILLED_EXIT_WAIT_S = 10.0
#: No line of the protocol is longer (bytes): an exit message carries two outputs of at most 256 KiB, escaped.
MAX_LINE_BYTES = 4 << 20
#: The warm agent ends itself after this many seconds without a request (``serve --idle-exit-s``): a link that died
#: without the device noticing leaves nothing running for long. The host starts a new one for a job that comes after
#: half of that, so a job never meets one that is just ending.
IDLE_EXIT_S = 600.0


def serve_argv(prefix: List[str]) -> List[str]:
    """The warm agent's command line: the agent command without its subcommand (``[python, "-m", "device_agents"]``),
    then ``serve`` and its idle exit."""
    return list(prefix) + ["serve", "--idle-exit-s", "%g" % IDLE_EXIT_S]


class WarmAgentUnavailable(Exception):
    """The warm agent could not take this job; nothing of the job has run. ``transient``: because the link to the
    device failed (this warm agent is given up, not warm agents for the rest of the run)."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class WarmLinkLost(Exception):
    """The link to the device dropped while the warm agent had a job (the job may have started); its text says
    how. The transport reports it as any drop mid-run, after killing the job over a new connection."""


class _Gone(Exception):
    """The warm agent's output ended (it exited, was killed, or its link dropped)."""


class Pipe:
    """How the host reaches one warm agent: its standard input and output, and the device's processes."""

    def send(self, data: bytes) -> None:
        """Write to the warm agent's standard input; OSError when it has ended."""
        raise NotImplementedError

    def recv(self, timeout_s: float) -> Optional[bytes]:
        """Some bytes of its standard output; ``b""`` at its end; None when nothing came within ``timeout_s``."""
        raise NotImplementedError

    def alive(self) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        """End it: its input closed (it kills a running job's group and exits), killed if it lingers."""
        raise NotImplementedError

    def kill(self) -> None:
        """Kill it now (from any thread)."""
        raise NotImplementedError

    def kill_job(self, pid: int, cwd: str, quick: bool = False) -> bool:
        """SIGKILL the job's process group (``pid`` leads it; ``cwd`` is its folder); True when it is gone (or was).
        ``quick``: from another thread while the host stops (no reconnecting, no waiting)."""
        raise NotImplementedError

    def leftover(self, cwd: str, name: str) -> str:
        """A job's output file in its folder, read and removed ("" when absent): what is left of a job whose warm
        agent ended under it (it sends the outputs itself when the job ends)."""
        raise NotImplementedError

    def stderr_tail(self) -> str:
        """``": <last line>"`` of the warm agent's own standard error, or ""."""
        raise NotImplementedError

    def link_lost(self) -> Optional[str]:
        """Why the link to the device failed, when it did (a job is then a transport error, not its agent killed)."""
        return None

    def check_ready(self, pid: int) -> Optional[str]:
        """Why the warm agent that says it is process ``pid`` cannot be used (None when it can): over SSH the kill
        helper must see the same process (no wrapper in another PID namespace)."""
        return None


class WarmAgent:
    """One ``device_agents serve`` process, reached through ``pipe``, and the job running in it (at most one)."""

    def __init__(self, pipe: Pipe, ready_timeout_s: float, pid_file: Optional[str] = None) -> None:
        """``pid_file``: the file in a job's folder where its child writes its process group (a transport that kills
        it from another connection needs it)."""
        self.pipe = pipe
        self.ready_timeout_s = ready_timeout_s
        self.pid_file = pid_file
        self._buf = b""
        self._lock = threading.Lock()
        self.child: Optional[Tuple[int, str]] = None  # the running job's (pid, folder); it leads its process group
        self.last_used = time.monotonic()  # when it last started or ended a job (monotonic s)
        self._aborted = False

    def wait_ready(self) -> None:
        """Until the warm agent says it is ready (its imports done); WarmAgentUnavailable when it does not."""
        try:
            hello = self._message(time.monotonic() + self.ready_timeout_s)
        except (_Gone, TimeoutError) as exc:
            lost = self.pipe.link_lost()
            why = ("no answer within %.0f s" % self.ready_timeout_s if isinstance(exc, TimeoutError)
                   else lost or "it ended%s" % self.pipe.stderr_tail())
            self.close()
            raise WarmAgentUnavailable("the warm agent did not start (%s)" % why, transient=bool(lost)) from exc
        pid = hello.get("pid")
        if hello.get("ready") is not True or not _is_int(pid) or pid <= 1:
            self.close()
            raise WarmAgentUnavailable("the warm agent said %r instead of ready" % str(hello)[:200])
        if hello.get("agent_version") != AGENT_VERSION:
            self.close()
            raise WarmAgentUnavailable("the warm agent is version %r, not this host's %r" % (
                str(hello.get("agent_version"))[:40], AGENT_VERSION))
        why = self.pipe.check_ready(pid)
        if why:
            self.close()
            raise WarmAgentUnavailable(why)
        self.last_used = time.monotonic()

    def alive(self) -> bool:
        return self.pipe.alive()

    def _message(self, deadline: float) -> Dict[str, Any]:
        """The next line from the warm agent as a JSON object; _Gone at its end, TimeoutError at ``deadline``."""
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError()
            chunk = self.pipe.recv(left)
            if chunk is None:
                continue
            if not chunk:
                raise _Gone()
            self._buf += chunk
            if len(self._buf) > MAX_LINE_BYTES:  # no line is this long: not our agent
                raise _Gone()
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            raise _Gone()  # not the protocol: treated as an agent that ended
        return obj

    def _lost(self) -> None:
        """Raise WarmLinkLost (the warm agent closed) when its link, not the agent, failed."""
        why = self.pipe.link_lost()
        if why:
            self.close()
            raise WarmLinkLost(why)

    def run(self, argv: List[str], cwd: str, timeout_s: float) -> ExecResult:
        """Run one job (``argv`` after the prefix, starting with ``run``) in its folder ``cwd``."""
        start = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        request: Dict[str, Any] = {"argv": argv, "cwd": cwd}
        if self.pid_file:
            request["pid_file"] = self.pid_file
        try:
            self.pipe.send((json.dumps(request) + "\n").encode())
        except OSError as exc:  # it had ended: the request never reached it, nothing ran
            self.close()
            raise WarmAgentUnavailable("the warm agent had ended (%s)" % exc) from exc
        try:
            msg = self._message(min(deadline, time.monotonic() + READY_TIMEOUT_S))
        except (_Gone, TimeoutError) as exc:
            # the request was sent: a child may have been forked (it ends itself, its parent gone), so this is the
            # job's agent killed (or its link lost, or its time up), not a job that never started
            if not self._aborted:
                self._lost()
            self.abort()
            self.close()
            if isinstance(exc, TimeoutError) and time.monotonic() >= deadline:
                return ExecResult(None, "", "edgebench: the warm agent had not started the job when its time was up; "
                                  "the warm agent was killed", True, time.perf_counter() - start, kill_confirmed=False)
            return ExecResult(-signal.SIGKILL, "", "edgebench: the warm agent ended before it said the job started",
                              False, time.perf_counter() - start, signal="SIGKILL", kill_confirmed=None)
        if "refused" in msg:  # nothing ran
            self.close()
            raise WarmAgentUnavailable("the warm agent refused the job: %s" % str(msg["refused"])[:300])
        if not _is_int(msg.get("started")) or msg["started"] <= 1:
            self.abort()
            self.close()
            return ExecResult(-signal.SIGKILL, "", "edgebench: the warm agent said %r instead of the job's pid"
                              % str(msg)[:200], False, time.perf_counter() - start, signal="SIGKILL")
        with self._lock:
            self.child = (msg["started"], cwd)
        timed_out, killed = False, None
        try:
            try:
                end = self._message(deadline)
            except TimeoutError:
                timed_out, killed = True, self.kill_child()
                end = self._message(time.monotonic() + KILLED_EXIT_WAIT_S)
        except (_Gone, TimeoutError):
            if self._aborted:  # Ctrl-C killed it and the job: nothing to wait for or read back
                self.close()
                return ExecResult(-signal.SIGKILL, "", "edgebench: aborted", timed_out, time.perf_counter() - start,
                                  signal="SIGKILL", kill_confirmed=killed)
            if not timed_out:  # a job killed at its timeout stays a timeout, whatever the link does next
                self._lost()
            # the warm agent ended (or went silent) while the job ran: the job's own processes go too
            if not killed:
                killed = self.kill_child()
            self.close()
            return ExecResult(-signal.SIGKILL, self.pipe.leftover(cwd, STDOUT_FILE),
                              self.pipe.leftover(cwd, STDERR_FILE) +
                              "\nedgebench: the warm agent ended while this job ran; the job's processes were killed",
                              timed_out, time.perf_counter() - start, signal="SIGKILL", kill_confirmed=killed)
        except BaseException:  # Ctrl-C on the host: leave nothing running
            self.abort()
            self.close()
            raise
        finally:
            with self._lock:
                self.child = None
            self.last_used = time.monotonic()
        code = end.get("exit")
        if not _is_int(code):
            self.close()
            code = -signal.SIGKILL
        out, err, sig = (end.get(k) for k in ("stdout", "stderr", "signal"))
        if not (code < 0 and isinstance(sig, str) and 3 < len(sig) < 16 and sig.startswith("SIG")
                and sig[3:].isalnum()):
            sig = signal_name(code)  # the device's own name when it sent a plausible one (its numbering may differ)
        return ExecResult(code, out if isinstance(out, str) else "", err if isinstance(err, str) else "", timed_out,
                          time.perf_counter() - start, signal=sig, kill_confirmed=killed)

    def kill_child(self, quick: bool = False) -> bool:
        """SIGKILL the running job's process group; True when it is gone (or there was none)."""
        with self._lock:
            child = self.child
        if child is None:
            return True
        return self.pipe.kill_job(child[0], child[1], quick)

    def close(self) -> None:
        """End the warm agent (a running job's processes with it)."""
        self.pipe.close()

    def abort(self) -> None:
        """From another thread: kill the running job and the warm agent now."""
        self._aborted = True
        self.kill_child(quick=True)
        self.pipe.kill()


class ProcessPipe(Pipe):
    """A warm agent on this machine: a child process with pipes; its standard error in a file in its folder."""

    def __init__(self, prefix: List[str], env: Dict[str, str], cwd: str) -> None:
        """``prefix``: the agent command without its subcommand (``[python, "-m", "device_agents"]``)."""
        self.stderr_path = os.path.join(cwd, ".warm-agent-stderr")
        try:
            with open(self.stderr_path, "wb") as err:
                self.proc: Optional[subprocess.Popen] = subprocess.Popen(
                    serve_argv(prefix), cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=err, start_new_session=True)
        except OSError as exc:
            self.proc = None
            raise WarmAgentUnavailable("the warm agent could not start: %s" % exc) from exc
        self._sel = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self._fd = self.proc.stdout.fileno()
        self._sel.register(self._fd, selectors.EVENT_READ)

    def send(self, data: bytes) -> None:
        proc = self.proc
        if proc is None or proc.stdin is None:
            raise OSError("the warm agent was closed")
        proc.stdin.write(data)
        proc.stdin.flush()

    def recv(self, timeout_s: float) -> Optional[bytes]:
        if self.proc is None:
            return b""
        if not self._sel.select(max(0.0, timeout_s)):
            return None
        return os.read(self._fd, 65536)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
        self._sel.close()
        if proc.stdout is not None:
            proc.stdout.close()

    def kill(self) -> None:
        proc = self.proc
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass

    def kill_job(self, pid: int, cwd: str, quick: bool = False) -> bool:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except OSError:
            return False
        return True

    def leftover(self, cwd: str, name: str) -> str:
        path = Path(cwd) / name
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return ""
        try:
            path.unlink()
        except OSError:
            pass
        return text

    def stderr_tail(self) -> str:
        return last_line(Path(self.stderr_path).read_bytes() if os.path.exists(self.stderr_path) else b"")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def last_line(data: bytes) -> str:
    """``": <last line>"`` of some output (at most 300 characters), or "" when it has none."""
    lines = data.decode("utf-8", "replace").strip().splitlines()
    return (": " + lines[-1][:300]) if lines else ""


#: ``start(ready_timeout_s)``: a new warm agent, not yet ready (so abort() can end it while it starts).
Starter = Callable[[float], WarmAgent]


def aborted_result() -> ExecResult:
    """What exec gives once the transport was aborted: nothing started, as if killed at once."""
    return ExecResult(-signal.SIGKILL, "", "edgebench: aborted before this started", False, 0.0, signal="SIGKILL",
                      kill_confirmed=True)


class WarmSlot:
    """A transport's warm agent for the agent's ``run`` jobs: started on first use, one at a time (a job with
    another interpreter or environment ends the previous one); off for the rest of the run once it could not take a
    job or ended under one, or with ``EDGEBENCH_WARM_AGENT=0``; a link lost under it only ends this one (the next
    job starts another over the new connection)."""

    def __init__(self) -> None:
        self.enabled = os.environ.get("EDGEBENCH_WARM_AGENT", "1") != "0"
        #: Why the warm agent is off for the rest of this run (None while it is on or was never tried).
        self.off_reason: Optional[str] = None
        self.agent: Optional[WarmAgent] = None
        self._key: Optional[tuple] = None
        #: Set by abort(): nothing starts on this transport afterwards.
        self.aborted = threading.Event()

    def takes(self, argv: List[str], cwd: Optional[str]) -> bool:
        """Is this an agent ``run`` job the warm agent can take?"""
        return self.enabled and bool(cwd) and argv[1:4] == ["-m", "device_agents", "run"]

    def exec(self, argv: List[str], timeout_s: float, cwd: Optional[str], env: Dict[str, str],
             start: Starter) -> Optional[ExecResult]:
        """What a transport's ``exec`` does first: after abort(), nothing (as if killed at once); an agent ``run`` job
        (the full ``argv``, run with ``env``) in the warm agent for its interpreter and environment; None when the
        caller runs the command in a process of its own (not an agent job, or the warm agent cannot take it: nothing
        of it ran). WarmLinkLost passes through."""
        if self.aborted.is_set():
            return aborted_result()
        if not self.takes(argv, cwd):
            return None
        assert cwd is not None
        try:
            return self._run(argv, timeout_s, cwd, (tuple(argv[:3]), tuple(sorted(env.items()))), start)
        except WarmAgentUnavailable as exc:
            if not exc.transient:
                self.enabled, self.off_reason = False, str(exc)
        # killed by abort() while it started: nothing more starts
        return aborted_result() if self.aborted.is_set() else None

    def _run(self, argv: List[str], timeout_s: float, cwd: str, key: tuple, start: Starter) -> ExecResult:
        if self.agent is not None and (self._key != key or not self.agent.alive()
                                       or time.monotonic() - self.agent.last_used > IDLE_EXIT_S / 2):
            self.close()
        if self.agent is None:
            self.agent, self._key = start(min(READY_TIMEOUT_S, max(1.0, timeout_s))), key
            if self.aborted.is_set():
                self.agent.abort()
            try:
                self.agent.wait_ready()
            except WarmAgentUnavailable:
                self.agent = None
                raise
        agent = self.agent
        try:
            res = agent.run(argv[3:], cwd, timeout_s)
        except (WarmLinkLost, WarmAgentUnavailable):
            self.agent = None
            raise
        if not agent.alive():  # it ended under the job: the rest of the run starts processes of their own
            self.agent = None
            self.enabled, self.off_reason = False, "the warm agent ended while a job ran"
        return res

    def abort(self) -> Optional[str]:
        """Kill the warm agent and its job now (from another thread); nothing starts afterwards. The folder of the job
        it killed, if it had one."""
        self.aborted.set()
        agent = self.agent
        if agent is None:
            return None
        child = agent.child
        agent.abort()
        return child[1] if child else None

    def close(self) -> None:
        """End the warm agent (a running job's processes with it)."""
        agent, self.agent = self.agent, None
        if agent is not None:
            agent.close()
