"""``python -m device_agents serve``: a warm agent — one process per device and run that starts the interpreter and
imports numpy and the agent's own modules once, then forks a fresh child per job. The child is the job's process:
its own address space and process group, the device lock, deadline and host watch of a ``run``, its own output
files. What a fresh process per job costs before a measurement begins (interpreter start, imports: ~0.1 s a job on
the 2-core test machine) is paid once; nothing measured is shared (each child loads its model, makes its session and
its inputs; no runtime is imported here, so a job's memory figures hold the same modules as a process of its own).

Protocol, one JSON object per line (standard library only, like the rest of the agent):
  server → host  ``{"ready": true, "pid": N, "agent_version": ...}`` once, when the imports are done;
  host → server  ``{"argv": ["run", "job.json", "--out", "result.json", ...], "cwd": "<job folder>"}`` per job
                 (only ``run``: a probe or a microbenchmark is a process of its own);
  server → host  ``{"started": PID}`` when the child is forked, then ``{"exit": CODE}`` when it ended (CODE is the
                 exit status, or minus the signal that ended it), or ``{"refused": "why"}`` for a bad request.
The child writes its standard output and error to ``.agent-stdout`` / ``.agent-stderr`` in the job folder. The
server ends when its standard input closes (the host is done or gone), killing a running child's group first.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
from typing import Any, Callable, Dict, Optional

from . import AGENT_VERSION

#: The child's output files, in its job folder.
STDOUT_FILE = ".agent-stdout"
STDERR_FILE = ".agent-stderr"

#: What a result's ``method.process`` says of a child forked here.
PROCESS_NOTE = ("a fresh process per job, forked from a warm agent (the interpreter, numpy and the agent's modules "
                "started once per device and run; the runtime imported by the job's own process)")

Main = Callable[..., int]


class _Lines:
    """Lines from a file descriptor, read with os.read (no buffering hidden from select)."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buf, self.eof = fd, b"", False

    def pending(self) -> bool:
        return b"\n" in self.buf

    def fill(self) -> None:
        chunk = os.read(self.fd, 65536)
        if chunk:
            self.buf += chunk
        else:
            self.eof = True

    def take(self) -> Optional[bytes]:
        """The next whole line, blocking; None at end of input."""
        while not self.pending():
            if self.eof:
                return None
            self.fill()
        line, self.buf = self.buf.split(b"\n", 1)
        return line


def _send(obj: Dict[str, Any]) -> None:
    os.write(1, (json.dumps(obj) + "\n").encode())


def _request(line: bytes) -> Dict[str, Any]:
    """The request checked: argv a list of strings starting with ``run``, cwd an existing folder."""
    req = json.loads(line)
    if not isinstance(req, dict):
        raise ValueError("a request is a JSON object")
    argv, cwd = req.get("argv"), req.get("cwd")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv) or argv[0] != "run":
        raise ValueError("argv must be a list of strings starting with 'run'")
    if not isinstance(cwd, str) or not os.path.isdir(cwd):
        raise ValueError("cwd must be an existing folder: %r" % (cwd,))
    return {"argv": argv, "cwd": cwd}


def _child(main: Main, req: Dict[str, Any], t_fork: float) -> None:
    """In the forked child: become the job's process (own session, folder, output files), run it, exit."""
    code = 1
    try:
        os.setsid()
        home = os.getcwd()
        os.chdir(req["cwd"])
        if sys.path and os.path.abspath(sys.path[0] or ".") == home:
            sys.path[0] = os.getcwd()  # as in a process started in the job's folder (``python -m`` puts it first)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(os.open(STDOUT_FILE, flags, 0o600), 1)
        os.dup2(os.open(STDERR_FILE, flags, 0o600), 2)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        from . import run

        run.PROCESS = PROCESS_NOTE
        code = main(req["argv"], t0=t_fork)
    except SystemExit as exc:  # argparse on bad flags
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException:  # noqa: B902 — anything: its traceback in the job's stderr file, exit 1
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _wait(pid: int, lines: _Lines) -> Optional[int]:
    """The child's exit code (minus a signal); None when the host went away first (the child's group killed)."""
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            pidfd = None
    try:
        while True:
            watch = [lines.fd] if not lines.eof else []
            ready, _, _ = select.select(watch + ([pidfd] if pidfd is not None else []), [], [],
                                        None if pidfd is not None else 0.01)
            if lines.fd in ready:
                lines.fill()
                if lines.eof:  # the host is gone: nothing of this job may keep running
                    _kill_group(pid)
                    os.waitpid(pid, 0)
                    return None
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
            return
        except OSError:
            continue


def serve(main: Main) -> int:
    """The server loop (see the module docstring); ``main`` is the agent's command line entry, run in each child."""
    import numpy  # noqa: F401 — what every job imports first (inputs, summaries, the device facts)

    from . import guard, run  # noqa: F401 — the agent's own modules, as a job imports them

    sys.stdout.flush()
    _send({"ready": True, "pid": os.getpid(), "agent_version": AGENT_VERSION})
    lines = _Lines(0)
    while True:
        line = lines.take()
        if line is None:
            return 0
        if not line.strip():
            continue
        try:
            req = _request(line)
        except ValueError as exc:  # JSONDecodeError is a ValueError
            _send({"refused": str(exc)[:300]})
            continue
        t_fork = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            _child(main, req, t_fork)
        _send({"started": pid})
        code = _wait(pid, lines)
        if code is None:
            return 0
        _send({"exit": code})

