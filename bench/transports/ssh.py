"""SSH transport (paramiko): host keys checked against known_hosts (never auto-accepted), a socket with
TCP_NODELAY, TCP_USER_TIMEOUT and keepalive, a deadline on every operation, SFTP for files, every remote
path and argument quoted.

Agent commands run in their own process group (``os.setsid`` through the device's Python, which every
device has) with their process id in ``agent.pid`` beside them: a timeout or a host-side interrupt
kills that whole group. The agent also ends by itself if the SSH channel closes (it watches its
standard input) or its deadline passes, so nothing is left running when the link dies.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import socket
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .base import ExecResult, Transport, TransportError

TCP_USER_TIMEOUT = 18  # linux/tcp.h
#: Run argv[1:] as the leader of a new process group, recording its pid in ./agent.pid.
#: (sshd may already have made it a session leader, which is a group leader too: setsid then fails.)
SETSID = ("import os,sys\ntry:\n os.setsid()\nexcept OSError:\n pass\n"
          "f=open('agent.pid','w'); f.write(str(os.getpgrp())); f.close(); os.execvp(sys.argv[1], sys.argv[1:])")
HASHES = ("import hashlib,json,sys\nout={}\nfor p in sys.argv[1:]:\n try:\n  h=hashlib.sha256()\n"
          "  f=open(p,'rb')\n  b=f.read(1<<20)\n  while b:\n   h.update(b)\n   b=f.read(1<<20)\n  f.close()\n"
          "  out[p]=h.hexdigest()\n except (IOError,OSError):\n  out[p]=None\nprint(json.dumps(out))")


def q(text: str) -> str:
    return shlex.quote(str(text))


class SshTransport(Transport):
    holds_stdin = True

    def __init__(self, device: Any, connect_timeout_s: float = 10.0, op_timeout_s: float = 60.0,
                 user_timeout_s: float = 15.0, sock: Optional[socket.socket] = None) -> None:
        self.device = device
        self.connect_timeout_s = connect_timeout_s
        self.op_timeout_s = op_timeout_s
        self.user_timeout_s = user_timeout_s
        self.host = device.host
        self.port = int(device.port or 22)
        self.known_hosts = os.path.expanduser(str(device.options.get("known_hosts", "~/.ssh/known_hosts")))
        #: Python for the harness's helpers on the device (process-group trampoline, file hashes); the agent
        #: itself always runs with ``device.python``. Differs only where that one is a wrapper (an emulated
        #: board, a container entry point).
        self.helper_python = str(device.options.get("helper_python", device.python))
        self._running: Optional[str] = None
        self.client = self._connect(sock)
        self.sftp = self.client.open_sftp()
        self.sftp.get_channel().settimeout(op_timeout_s)
        root = device.workdir
        if root.startswith("~"):
            root = self.sftp.normalize(".") + root[1:]
        super().__init__(root)
        self._run_simple("mkdir -p %s" % q(self.root))

    # -- connection -------------------------------------------------------------------------
    def _socket(self) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        except OSError as exc:
            raise TransportError("device %r (%s:%d) is unreachable: %s; check the address, that sshd runs, and "
                                 "the network" % (self.device.name, self.host, self.port, exc))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_KEEPIDLE"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 5)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 2)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, int(self.user_timeout_s * 1000))
        except OSError:
            pass  # not Linux: keepalive still bounds a dead link
        return sock

    def _connect(self, sock: Optional[socket.socket]) -> Any:
        import paramiko

        client = paramiko.SSHClient()
        if os.path.exists(self.known_hosts):
            client.load_host_keys(self.known_hosts)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        name = self.host if self.port == 22 else "[%s]:%d" % (self.host, self.port)
        try:
            client.connect(self.host, port=self.port, username=self.device.user,
                           key_filename=os.path.expanduser(self.device.key) if self.device.key else None,
                           sock=sock or self._socket(), timeout=self.connect_timeout_s,
                           banner_timeout=self.connect_timeout_s, auth_timeout=self.connect_timeout_s,
                           allow_agent=not self.device.key, look_for_keys=False)
        except paramiko.BadHostKeyException as exc:
            raise TransportError(
                "HOST KEY MISMATCH for device %r (%s): the key it offers (%s) is not the one in %s. Refusing to "
                "connect. If the device was reinstalled, remove the old key with: ssh-keygen -R %s -f %s"
                % (self.device.name, name, exc.key.get_fingerprint().hex(), self.known_hosts, q(name),
                   q(self.known_hosts)))
        except paramiko.AuthenticationException as exc:
            raise TransportError("authentication failed for %s@%s (device %r): %s; check 'user' and 'key' in "
                                 "devices.yaml" % (self.device.user, name, self.device.name, exc))
        except paramiko.SSHException as exc:
            if "known_hosts" in str(exc):
                raise TransportError(
                    "device %r: host %s is not in %s, so it is refused. Check its fingerprint on the device, then "
                    "add it with: ssh-keyscan -p %d %s >> %s" % (self.device.name, name, self.known_hosts,
                                                                self.port, q(self.host), q(self.known_hosts)))
            raise TransportError("SSH to device %r (%s) failed: %s" % (self.device.name, name, exc))
        except (OSError, EOFError) as exc:
            raise TransportError("SSH to device %r (%s) failed: %s" % (self.device.name, name, exc))
        client.get_transport().set_keepalive(5)
        return client

    # -- commands ---------------------------------------------------------------------------
    def _channel_run(self, command: str, timeout_s: float) -> ExecResult:
        import paramiko

        start = time.perf_counter()
        try:
            chan = self.client.get_transport().open_session(timeout=min(timeout_s, self.op_timeout_s))
            chan.settimeout(1.0)
            chan.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError, AttributeError) as exc:
            raise TransportError("device %r: cannot start a command: %s" % (self.device.name, exc or type(exc).__name__))
        out, err = [], []
        deadline = start + timeout_s
        timed_out = False
        try:
            while True:
                while chan.recv_ready():
                    out.append(chan.recv(65536))
                while chan.recv_stderr_ready():
                    err.append(chan.recv_stderr(65536))
                if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                if time.perf_counter() > deadline:
                    timed_out = True
                    break
                if chan.closed or not self.client.get_transport().is_active():
                    raise TransportError("device %r: the SSH connection dropped during %r"
                                         % (self.device.name, command[:80]))
                time.sleep(0.005)
        finally:
            rc = chan.recv_exit_status() if not timed_out and chan.exit_status_ready() else None
            chan.close()
        if rc == -1 and not self.client.get_transport().is_active():
            raise TransportError("device %r: the SSH connection dropped during %r" % (self.device.name, command[:60]))
        return ExecResult(rc, b"".join(out).decode("utf-8", "replace"), b"".join(err).decode("utf-8", "replace"),
                          timed_out, time.perf_counter() - start)

    def _run_simple(self, command: str, timeout_s: Optional[float] = None) -> ExecResult:
        res = self._channel_run(command, timeout_s or self.op_timeout_s)
        if res.timed_out:
            raise TransportError("device %r: %r did not finish within %.0f s" % (self.device.name, command[:80],
                                                                                timeout_s or self.op_timeout_s))
        return res

    def exec(self, argv: List[str], timeout_s: float, cwd: Optional[str] = None,
             env: Optional[Dict[str, str]] = None) -> ExecResult:
        cwd = cwd or self.root
        envs = " ".join("%s=%s" % (k, q(v)) for k, v in (env or {}).items())
        wrapped = [self.helper_python, "-c", SETSID] + list(argv)
        command = "cd %s && %s exec %s" % (q(cwd), envs, " ".join(q(a) for a in wrapped))
        self._running = cwd
        try:
            res = self._channel_run(command, timeout_s)
        finally:
            self._running = None
        if res.timed_out:
            self._kill_group(cwd)
        return res

    def _kill_group(self, cwd: str) -> None:
        """Kill the agent's process group (its pid is in cwd/agent.pid); best effort on a dead link."""
        try:
            self._channel_run("cd %s && pid=$(cat agent.pid 2>/dev/null) && kill -KILL -- -$pid 2>/dev/null; true"
                              % q(cwd), 10.0)
        except TransportError:
            pass

    def abort(self) -> None:
        if self._running:
            self._kill_group(self._running)

    # -- files ------------------------------------------------------------------------------
    def file_sha256s(self, remotes: List[str]) -> Dict[str, Optional[str]]:
        if not remotes:
            return {}
        res = self._run_simple("%s -c %s %s" % (q(self.helper_python), q(HASHES), " ".join(q(r) for r in remotes)))
        try:
            return json.loads(res.stdout)
        except ValueError:
            raise TransportError("device %r: cannot hash files with %s (exit %s): %s" % (
                self.device.name, self.helper_python, res.returncode, res.stderr.strip()[-200:] or "no output"))

    def file_sha256(self, remote: str) -> Optional[str]:
        return self.file_sha256s([remote]).get(remote)

    def _mkdirs(self, remote_dir: str) -> None:
        self._run_simple("mkdir -p %s" % q(remote_dir))

    def push(self, local: Path, remote: str) -> int:
        self._mkdirs(os.path.dirname(remote))
        tmp = "%s.%d-%s.part" % (remote, os.getpid(), secrets.token_hex(3))  # concurrent harnesses
        try:
            self.sftp.put(str(local), tmp)
            self.sftp.posix_rename(tmp, remote)
        except (OSError, EOFError) as exc:
            raise TransportError("device %r: pushing %s failed: %s" % (self.device.name, local, exc or type(exc).__name__))
        return Path(local).stat().st_size

    def push_many(self, files: List[Tuple[Path, str]]) -> int:
        dirs = sorted({os.path.dirname(r) for _, r in files})
        if dirs:
            self._run_simple("mkdir -p %s" % " ".join(q(d) for d in dirs))
        sent = 0
        for local, remote in files:
            tmp = "%s.%d-%s.part" % (remote, os.getpid(), secrets.token_hex(3))
            try:
                self.sftp.put(str(local), tmp)
                self.sftp.posix_rename(tmp, remote)
            except (OSError, EOFError) as exc:
                raise TransportError("device %r: pushing %s failed: %s" % (self.device.name, local,
                                                                          exc or type(exc).__name__))
            sent += Path(local).stat().st_size
        return sent

    def pull(self, remote: str) -> bytes:
        try:
            with self.sftp.open(remote, "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            raise
        except IOError as exc:
            if getattr(exc, "errno", None) == 2:
                raise FileNotFoundError(remote)
            raise TransportError("device %r: pulling %s failed: %s" % (self.device.name, remote, exc))
        except (OSError, EOFError) as exc:
            raise TransportError("device %r: pulling %s failed: %s" % (self.device.name, remote, exc))

    def write_text(self, remote: str, text: str) -> None:
        self._mkdirs(os.path.dirname(remote))
        try:
            with self.sftp.open(remote, "w") as fh:
                fh.write(text.encode())
        except (OSError, EOFError) as exc:
            raise TransportError("device %r: writing %s failed: %s" % (self.device.name, remote, exc))

    def remove_tree(self, remote: str) -> None:
        if not remote.startswith(self.root + "/"):
            raise TransportError("refusing to delete %s outside the harness directory %s" % (remote, self.root))
        self._run_simple("rm -rf -- %s" % q(remote))

    def close(self) -> None:
        for closer in (getattr(self, "sftp", None), getattr(self, "client", None)):
            try:
                if closer is not None:
                    closer.close()
            except Exception:
                pass
