"""The local machine as a device: same contract as the remote transports, with files and processes here."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

from .base import ExecResult, Transport, TransportError, describe_exc, signal_name
from .warm import READY_TIMEOUT_S, WarmAgent, WarmAgentUnavailable


#: Files the local device gets as hard links (never the agent's own files, which must be private copies).
MODEL_SUFFIXES = (".onnx", ".tflite", ".pt2", ".pte", ".engine", ".plan", ".mlpackage.zip")


class LocalTransport(Transport):
    #: Files can be read while an agent runs (the job's live status: what it waits for).
    polls_during_exec = True

    def __init__(self, root: str, name: str = "local") -> None:
        super().__init__(root)
        self.name = name  # the inventory's name for this machine, for messages
        Path(root).mkdir(parents=True, exist_ok=True)
        self._proc: Optional[subprocess.Popen] = None
        #: Agent jobs run in children of a warm agent (bench/transports/warm.py) unless it failed once in this run
        #: or ``EDGEBENCH_WARM_AGENT=0``; then each job starts an agent process of its own.
        self.warm_agents = os.environ.get("EDGEBENCH_WARM_AGENT", "1") != "0"
        self._warm: Optional[WarmAgent] = None
        self._warm_key: Optional[tuple] = None
        #: Why the warm agent is off for the rest of this run (None while it is on or was never tried).
        self.warm_off_reason: Optional[str] = None
        self._aborted = threading.Event()

    def file_sha256(self, remote: str) -> Optional[str]:
        from device_agents.hashing import sha256_file

        return sha256_file(remote) if Path(remote).is_file() else None

    def push(self, local: Path, remote: str) -> int:
        """Copy ``local`` into the work dir; a model file is hard-linked instead where the file system allows
        (no second copy of every model for the local device; the agent still checks its sha256 before each
        job). Returns bytes written: 0 for a link."""
        dest = Path(remote)
        tmp = dest.with_name("%s.%d-%s.part" % (dest.name, os.getpid(), secrets.token_hex(3)))  # concurrent harnesses
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if str(local).endswith(MODEL_SUFFIXES):
                try:
                    os.link(local, tmp)
                    os.replace(tmp, dest)
                    return 0
                except OSError:
                    pass  # another file system, or links not allowed: copy
            shutil.copyfile(local, tmp)
            os.replace(tmp, dest)
            return dest.stat().st_size
        except OSError as exc:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise self._error("copying %s to %s" % (local, remote), exc)

    def _error(self, doing: str, exc: OSError) -> TransportError:
        """One line for a file error on this machine's work dir: a full disk says so."""
        if exc.errno == errno.ENOSPC:
            return TransportError("device %r: no space left on the disk under %s (%s); free space there or set "
                                  "workdir" % (self.name, self.root, doing))
        return TransportError("device %r: %s failed: %s" % (self.name, doing, describe_exc(exc)))

    def pull(self, remote: str) -> bytes:
        return Path(remote).read_bytes()

    def write_text(self, remote: str, text: str) -> None:
        dest = Path(remote)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text)
        except OSError as exc:
            raise self._error("writing %s" % remote, exc)

    def exec(self, argv: List[str], timeout_s: float, cwd: Optional[str] = None,
             env: Optional[Dict[str, str]] = None) -> ExecResult:
        full_env = dict(os.environ)
        full_env.update(env or {})
        if self._aborted.is_set():
            return _aborted()
        if self.warm_agents and cwd and argv[1:4] == ["-m", "device_agents", "run"]:
            try:
                return self._warm_exec(argv, timeout_s, cwd, full_env)
            except WarmAgentUnavailable as exc:  # nothing of the job ran: it runs in a process of its own
                self.warm_agents, self.warm_off_reason = False, str(exc)
                if self._aborted.is_set():  # the warm agent was killed by abort(): nothing more starts
                    return _aborted()
        return self._exec_process(argv, timeout_s, cwd, full_env)

    def _warm_exec(self, argv: List[str], timeout_s: float, cwd: str, env: Dict[str, str]) -> ExecResult:
        """The job in a child of the warm agent for this interpreter and environment (started on first use, one at a
        time: a job with another interpreter or environment ends the previous one)."""
        key = (tuple(argv[:3]), tuple(sorted(env.items())))
        if self._warm is not None and (self._warm_key != key or not self._warm.alive()):
            self._warm.close()
            self._warm = None
        if self._warm is None:
            # its folder: the run's jobs folder (a job's own folder is removed after the job); published before it
            # is ready, so abort() can end it while it starts
            self._warm = WarmAgent(argv[:3], env, os.path.dirname(cwd.rstrip("/")) or cwd,
                                   min(READY_TIMEOUT_S, max(1.0, timeout_s)))
            self._warm_key = key
            if self._aborted.is_set():
                self._warm.abort()
            try:
                self._warm.wait_ready()
            except WarmAgentUnavailable:
                self._warm = None
                raise
        res = self._warm.run(argv[3:], cwd, timeout_s)
        if not self._warm.alive():  # it ended under the job: the rest of the run starts processes of their own
            self._warm = None
            self.warm_agents, self.warm_off_reason = False, "the warm agent ended while a job ran"
        return res

    def _exec_process(self, argv: List[str], timeout_s: float, cwd: Optional[str], full_env: Dict[str, str]
                      ) -> ExecResult:
        start = time.perf_counter()
        killed: Optional[bool] = None
        proc = subprocess.Popen(argv, cwd=cwd, env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        self._proc = proc
        try:
            out, err = proc.communicate(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            killed = _kill_group(proc)
            out, err = proc.communicate()
            timed_out = True
        except BaseException:  # Ctrl-C on the host: leave nothing running
            _kill_group(proc)
            proc.communicate()
            raise
        finally:
            self._proc = None
        return ExecResult(proc.returncode, out, err, timed_out, time.perf_counter() - start,
                          signal=signal_name(proc.returncode), kill_confirmed=killed)

    def abort(self) -> None:
        """Kill what runs now (from another thread); nothing starts on this transport afterwards."""
        self._aborted.set()
        proc = self._proc
        if proc is not None:
            _kill_group(proc)
        warm = self._warm
        if warm is not None:
            warm.abort()

    def close(self) -> None:
        """End the warm agent (a running job's processes with it)."""
        warm, self._warm = self._warm, None
        if warm is not None:
            warm.close()

    def remove_tree(self, remote: str) -> None:
        shutil.rmtree(remote, ignore_errors=True)


def _aborted() -> ExecResult:
    """What exec gives once the transport was aborted: nothing started, as if killed at once."""
    return ExecResult(-signal.SIGKILL, "", "edgebench: aborted before this started", False, 0.0, signal="SIGKILL",
                      kill_confirmed=True)


def _kill_group(proc: subprocess.Popen) -> bool:
    """SIGKILL the process's whole group; True when it was sent (or the group was already gone)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except OSError:
        return False
    return True
