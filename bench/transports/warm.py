"""The host's end of a warm agent (``python -m device_agents serve``, device_agents/serve.py): started once per
device and run, it forks a fresh process per job, so a job does not pay the interpreter's start and the agent's
imports before its measurement. Each job gets what ``Transport.exec`` gives: its exit code (or signal), its
standard output and error, whether it was killed at its timeout.

The warm agent is a speed-up, never a condition of a job: when it cannot start (a device "python" that is not one,
a crash, no answer within the job's timeout) or refuses a request, ``WarmAgentUnavailable`` says so before the job
has begun and the caller runs the job in a process of its own. A warm agent that ends while a job runs is reported
as that job's agent killed (the job's process group is killed too), as a fresh agent killed mid-job would be.
Everything it sends is checked (one JSON object per line, the expected keys and types) before it is used.
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
from typing import Any, Dict, List, Optional

from device_agents.serve import STDERR_FILE, STDOUT_FILE  # the child's output files in its job folder

from .base import ExecResult, signal_name

#: Seconds to wait for the warm agent's "ready" at most (less when the job's own timeout is shorter).
READY_TIMEOUT_S = 30.0


class WarmAgentUnavailable(Exception):
    """The warm agent could not take this job; nothing of the job has run."""


class _Gone(Exception):
    """The warm agent's output ended (it exited or was killed)."""


class WarmAgent:
    """One ``device_agents serve`` process on this machine, and the job running in it (at most one)."""

    def __init__(self, prefix: List[str], env: Dict[str, str], cwd: str, ready_timeout_s: float) -> None:
        """``prefix``: the agent command without its subcommand (``[python, "-m", "device_agents"]``)."""
        self.prefix, self.env = list(prefix), dict(env)
        self._buf = b""
        self._lock = threading.Lock()
        self.child: Optional[int] = None  # the running job's pid (its own process group)
        self.ready_timeout_s = ready_timeout_s
        self.stderr_path = os.path.join(cwd, ".warm-agent-stderr")
        try:
            with open(self.stderr_path, "wb") as err:
                self.proc: Optional[subprocess.Popen] = subprocess.Popen(
                    self.prefix + ["serve"], cwd=cwd, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=err, start_new_session=True)
        except OSError as exc:
            self.proc = None
            raise WarmAgentUnavailable("the warm agent could not start: %s" % exc) from exc

    def wait_ready(self) -> None:
        """Until the warm agent says it is ready (its imports done); WarmAgentUnavailable when it does not."""
        try:
            hello = self._message(time.monotonic() + self.ready_timeout_s)
        except (_Gone, TimeoutError) as exc:
            why = ("no answer within %.0f s" % self.ready_timeout_s if isinstance(exc, TimeoutError)
                   else "it ended%s" % _tail(self.stderr_path))
            self.close()
            raise WarmAgentUnavailable("the warm agent did not start (%s)" % why) from exc
        if hello.get("ready") is not True or not isinstance(hello.get("pid"), int):
            self.close()
            raise WarmAgentUnavailable("the warm agent said %r instead of ready" % str(hello)[:200])

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _message(self, deadline: float) -> Dict[str, Any]:
        """The next line from the warm agent as a JSON object; _Gone at its end, TimeoutError at ``deadline``."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError()
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise _Gone()
                self._buf += chunk
                if len(self._buf) > 1 << 20:  # no line is this long: not our agent
                    raise _Gone()
        line, self._buf = self._buf.split(b"\n", 1)
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            raise _Gone()  # not the protocol: treated as an agent that ended
        return obj

    def run(self, argv: List[str], cwd: str, timeout_s: float) -> ExecResult:
        """Run one job (``argv`` after the prefix, starting with ``run``) in its folder ``cwd``."""
        assert self.proc is not None and self.proc.stdin is not None
        start = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        try:
            self.proc.stdin.write((json.dumps({"argv": argv, "cwd": cwd}) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as exc:  # it had ended: the request never reached it, nothing ran
            self.close()
            raise WarmAgentUnavailable("the warm agent had ended (%s)" % exc) from exc
        try:
            msg = self._message(min(deadline, time.monotonic() + READY_TIMEOUT_S))
        except (_Gone, TimeoutError):
            # the request was sent: a child may have been forked (it ends itself, its parent gone), so this is the
            # job's agent killed, not a job that never started
            self.abort()
            self.close()
            return ExecResult(-signal.SIGKILL, "", "edgebench: the warm agent ended before it said the job started",
                              False, time.perf_counter() - start, signal="SIGKILL", kill_confirmed=None)
        if "refused" in msg:  # nothing ran
            self.close()
            raise WarmAgentUnavailable("the warm agent refused the job: %s" % str(msg["refused"])[:300])
        if not isinstance(msg.get("started"), int) or isinstance(msg.get("started"), bool) or msg["started"] <= 1:
            self.abort()
            self.close()
            return ExecResult(-signal.SIGKILL, "", "edgebench: the warm agent said %r instead of the job's pid"
                              % str(msg)[:200], False, time.perf_counter() - start, signal="SIGKILL")
        with self._lock:
            self.child = msg["started"]
        timed_out, killed = False, None
        try:
            try:
                end = self._message(deadline)
            except TimeoutError:
                timed_out, killed = True, self.kill_child()
                end = self._message(time.monotonic() + 10.0)
        except (_Gone, TimeoutError):
            # the warm agent ended (or went silent) while the job ran: the job's own processes go too
            killed = self.kill_child()
            self.close()
            return ExecResult(-signal.SIGKILL, _read(cwd, STDOUT_FILE), _read(cwd, STDERR_FILE) +
                              "\nedgebench: the warm agent ended while this job ran; the job's processes were killed",
                              timed_out, time.perf_counter() - start, signal="SIGKILL", kill_confirmed=killed)
        except BaseException:  # Ctrl-C on the host: leave nothing running
            self.abort()
            self.close()
            raise
        finally:
            with self._lock:
                self.child = None
        code = end.get("exit")
        if not isinstance(code, int) or isinstance(code, bool):
            self.close()
            code = -signal.SIGKILL
        return ExecResult(code, _read(cwd, STDOUT_FILE), _read(cwd, STDERR_FILE), timed_out,
                          time.perf_counter() - start, signal=signal_name(code), kill_confirmed=killed)

    def kill_child(self) -> bool:
        """SIGKILL the running job's process group; True when sent (or it was already gone)."""
        with self._lock:
            pid = self.child
        if pid is None:
            return True
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except OSError:
            return False
        return True

    def close(self) -> None:
        """End the warm agent: its input closed (it kills a running job's group and exits), killed if it lingers."""
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
        if proc.stdout is not None:
            proc.stdout.close()

    def abort(self) -> None:
        """From another thread: kill the running job and the warm agent now."""
        self.kill_child()
        proc = self.proc
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass


def _tail(path: str) -> str:
    """': <last line of the file>' when it has one (the warm agent's standard error)."""
    try:
        lines = Path(path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return (": " + lines[-1][:300]) if lines else ""


def _read(cwd: str, name: str) -> str:
    """A child's output file, read and removed (empty when absent)."""
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
