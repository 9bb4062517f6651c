"""``python -m device_agents serve``: a warm agent — one process per device and run that starts the interpreter and
imports numpy and the agent's own modules once, then forks a fresh child per job. The child is the job's process:
its own address space and process group, the device lock, deadline and host watch of a ``run``, its own output
files. What a fresh process per job costs before a measurement begins (interpreter start, imports: ~0.1 s a job on
the 2-core test machine) is paid once; nothing measured is shared (each child loads its model, makes its session and
its inputs; no runtime is imported here, so a job's memory figures hold the same modules as a process of its own).

Protocol, one JSON object per line (standard library only, like the rest of the agent):
  server → host  ``{"ready": true, "pid": N, "agent_version": ...}`` once, when the imports are done;
  host → server  ``{"argv": ["run", "job.json", "--out", "result.json", ...], "cwd": "<job folder>"}`` per job
                 (only ``run``: a probe or a microbenchmark is a process of its own), with ``"pid_file": "agent.pid"``
                 where the host kills a job through a file holding its process group (over SSH);
  server → host  ``{"started": PID}`` when the child is forked, then ``{"exit": CODE, "stdout": ..., "stderr": ...}``
                 when it ended (CODE is the exit status, or minus the signal that ended it; the child's output, its
                 last ``OUTPUT_CAP_BYTES`` each), or ``{"refused": "why"}`` for a bad request.
The child writes its standard output and error to ``.agent-stdout`` / ``.agent-stderr`` in the job folder (sent
back and removed when it exits; left there when the host went away first). The server ends when its standard input
closes (the host is done, gone, or its SSH channel closed), killing a running child's group first, or after
``--idle-exit-s`` seconds without a request (a link that died without the device noticing leaves nothing for long).
``started`` is sent once the child leads its own process group (and has written its pid file): a kill the host sends
after it reaches the job. The exit message names the signal as the device numbers it (``"signal": "SIGBUS"``).
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from . import AGENT_VERSION

#: The child's output files, in its job folder.
STDOUT_FILE = ".agent-stdout"
STDERR_FILE = ".agent-stderr"

#: The most of a child's standard output or error sent back in its exit message (bytes; its end is kept).
OUTPUT_CAP_BYTES = 256 * 1024

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
    pid_file = req.get("pid_file")
    if pid_file is not None and not (isinstance(pid_file, str) and 0 < len(pid_file) <= 64 and pid_file.strip(".")
                                     and all(c.isalnum() or c in "._-" for c in pid_file)):
        raise ValueError("pid_file must be a plain file name: %r" % (pid_file,))
    return {"argv": argv, "cwd": cwd, "pid_file": pid_file}


def _child(main: Main, req: Dict[str, Any], t_fork: float, server: int, home: str, ready_fd: int) -> None:
    """In the forked child: become the job's process (output files, own session, folder), run it, exit. ``server``:
    the warm agent's pid (the parent the host watch must see); ``home``: its folder when it started; ``ready_fd``:
    written and closed once the child leads its own process group (and its pid file says so), so that a kill the
    host sends after ``started`` reaches it."""
    code = 1
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(os.open(os.path.join(req["cwd"], STDOUT_FILE), flags, 0o600), 1)
        os.dup2(os.open(os.path.join(req["cwd"], STDERR_FILE), flags, 0o600), 2)
        os.setsid()
        os.chdir(req["cwd"])
        if req["pid_file"]:  # the job's process group, for a host that kills it from another connection
            with open(req["pid_file"], "w") as fh:
                fh.write(str(os.getpid()))
        os.write(ready_fd, b"1")
        os.close(ready_fd)
        if sys.path and os.path.abspath(sys.path[0] or ".") == home:
            sys.path[0] = os.getcwd()  # as in a process started in the job's folder (``python -m`` puts it first)
        from . import guard, run

        guard.EXPECTED_PARENT = server  # the host watch ends this job if the warm agent is already gone
        run.PROCESS = PROCESS_NOTE
        code = main(req["argv"], t0=t_fork)
    except SystemExit as exc:  # argparse on bad flags, sys.exit in the job
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            sys.stderr.write("%s\n" % (exc.code,))
            code = 1
    except BaseException:  # noqa: B902 — anything: its traceback in the job's stderr file, exit 1
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def exit_code(status: int) -> int:
    """``waitpid``'s status as ``subprocess`` reports it: the exit status, or minus the signal (Python 3.8)."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _wait(pid: int, lines: _Lines) -> Optional[int]:
    """The child's exit code (minus a signal); None when the host went away first (the child's group killed).
    A thread blocks in ``waitpid`` and wakes this loop through a pipe (no polling during the job's window); it has
    ended before the next fork."""
    import threading

    rfd, wfd = os.pipe()
    status: List[int] = []

    def reap() -> None:
        status.append(os.waitpid(pid, 0)[1])
        os.write(wfd, b"x")

    waiter = threading.Thread(target=reap, name="edgebench-serve-reap", daemon=True)
    waiter.start()
    try:
        while not status:
            ready, _, _ = select.select([rfd] + ([lines.fd] if not lines.eof else []), [], [])
            if lines.fd in ready:
                lines.fill()
                if lines.eof:  # the host is gone: nothing of this job may keep running
                    _kill_group(pid)
                    waiter.join()
                    return None
        waiter.join()
        return exit_code(status[0])
    finally:
        _kill_group(pid)  # helpers the job left behind (its group outlives it only through them)
        os.close(rfd)
        os.close(wfd)


def _output(cwd: str, name: str) -> str:
    """A child's output file, its last OUTPUT_CAP_BYTES (a first line says what was cut), then removed; "" when
    absent."""
    path = os.path.join(cwd, name)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - OUTPUT_CAP_BYTES))
            data = fh.read(OUTPUT_CAP_BYTES)  # not more, should the file still grow
        os.remove(path)
    except (IOError, OSError):
        return ""
    text = data.decode("utf-8", "replace")
    if size > len(data):
        text = "[edgebench: the first %d bytes of this output were cut]\n%s" % (size - len(data), text)
    return text


def _signal_name(code: int) -> Optional[str]:
    """The name of the signal that ended the child (the device's own numbering), or None for an exit."""
    if code >= 0:
        return None
    try:
        return signal.Signals(-code).name
    except ValueError:
        return None


def _kill_group(pid: int) -> None:
    """SIGKILL the job's process group (it leads one: setsid); nothing if it is gone."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def serve(main: Main, idle_exit_s: Optional[float] = None) -> int:
    """The server loop (see the module docstring); ``main`` is the agent's command line entry, run in each child;
    ``idle_exit_s``: end after that many seconds without a request (seconds between jobs, never during one)."""
    import numpy  # noqa: F401 — what every job imports first (inputs, summaries, the device facts)

    from . import guard, run  # noqa: F401 — the agent's own modules, as a job imports them

    sys.stdout.flush()
    home, me = os.getcwd(), os.getpid()
    _send({"ready": True, "pid": me, "agent_version": AGENT_VERSION})
    lines = _Lines(0)
    while True:
        if idle_exit_s and not lines.pending() and not lines.eof and not select.select([0], [], [], idle_exit_s)[0]:
            sys.stderr.write("edgebench warm agent: no request for %g s, ending\n" % idle_exit_s)
            return 0
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
        rfd, wfd = os.pipe()
        try:
            pid = os.fork()
        except OSError as exc:  # no process to be had (EAGAIN, ENOMEM): nothing ran, the host starts its own
            os.close(rfd)
            os.close(wfd)
            _send({"refused": "fork failed: %s" % exc})
            continue
        if pid == 0:
            os.close(rfd)
            _child(main, req, t_fork, me, home, wfd)
        os.close(wfd)
        os.read(rfd, 1)  # the child leads its group now (or ended before: EOF); only then can the host kill it
        os.close(rfd)
        _send({"started": pid})
        code = _wait(pid, lines)
        if code is None:
            return 0
        _send({"exit": code, "signal": _signal_name(code), "stdout": _output(req["cwd"], STDOUT_FILE),
               "stderr": _output(req["cwd"], STDERR_FILE)})

