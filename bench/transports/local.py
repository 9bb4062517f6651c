"""The local machine as a device: same contract as the remote transports, with files and processes here."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

from .base import ExecResult, Transport, TransportError, describe_exc, signal_name
from .warm import ProcessPipe, WarmAgent, WarmSlot


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
        self.warm = WarmSlot()

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
        # the warm agent's folder: the run's jobs folder (a job's own folder is removed after the job)
        folder = os.path.dirname((cwd or "").rstrip("/")) or cwd or self.root
        res = self.warm.exec(argv, timeout_s, cwd, full_env,
                             lambda ready_s: WarmAgent(ProcessPipe(argv[:3], full_env, folder), ready_s))
        return res if res is not None else self._exec_process(argv, timeout_s, cwd, full_env)

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
        self.warm.abort()
        proc = self._proc
        if proc is not None:
            _kill_group(proc)

    def close(self) -> None:
        """End the warm agent (a running job's processes with it)."""
        self.warm.close()

    def remove_tree(self, remote: str) -> None:
        shutil.rmtree(remote, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> bool:
    """SIGKILL the process's whole group; True when it was sent (or the group was already gone)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except OSError:
        return False
    return True
