"""The local machine as a device: same contract as the remote transports, with files and processes here."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

from .base import ExecResult, Transport


class LocalTransport(Transport):
    def __init__(self, root: str) -> None:
        super().__init__(root)
        Path(root).mkdir(parents=True, exist_ok=True)
        self._proc: Optional[subprocess.Popen] = None

    def file_sha256(self, remote: str) -> Optional[str]:
        from device_agents.hashing import sha256_file

        return sha256_file(remote) if Path(remote).is_file() else None

    def push(self, local: Path, remote: str) -> int:
        dest = Path(remote)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name("%s.%d-%s.part" % (dest.name, os.getpid(), secrets.token_hex(3)))  # concurrent harnesses
        shutil.copyfile(local, tmp)
        os.replace(tmp, dest)
        return dest.stat().st_size

    def pull(self, remote: str) -> bytes:
        return Path(remote).read_bytes()

    def write_text(self, remote: str, text: str) -> None:
        dest = Path(remote)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)

    def exec(self, argv: List[str], timeout_s: float, cwd: Optional[str] = None,
             env: Optional[Dict[str, str]] = None) -> ExecResult:
        full_env = dict(os.environ)
        full_env.update(env or {})
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        self._proc = proc
        try:
            out, err = proc.communicate(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            timed_out = True
        except BaseException:  # Ctrl-C on the host: leave nothing running
            _kill_group(proc)
            proc.communicate()
            raise
        finally:
            self._proc = None
        return ExecResult(proc.returncode, out, err, timed_out, time.perf_counter() - start)

    def abort(self) -> None:
        proc = self._proc
        if proc is not None:
            _kill_group(proc)

    def remove_tree(self, remote: str) -> None:
        shutil.rmtree(remote, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
