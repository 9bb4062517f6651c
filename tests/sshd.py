"""Real OpenSSH servers for tests: on loopback, or inside network namespaces behind the guard of
../shared/TESTBED.md (unreachable route for 10.200.0.0/16 and an nft drop counter), started in their
own mount and PID namespace so that killing them ends every session they spawned."""

from __future__ import annotations

import os
import shutil
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def have_sshd() -> bool:
    return os.path.exists(SSHD) and shutil.which("unshare") is not None and os.geteuid() == 0


from bench.lab.localredis import free_port  # noqa: E402  (one loopback port finder for every test server)


@dataclass
class Keys:
    dir: Path
    host_key: Path
    client_key: Path

    @classmethod
    def make(cls, directory: Path) -> "Keys":
        directory.mkdir(parents=True, exist_ok=True)
        host, client = directory / "host_ed25519", directory / "client_ed25519"
        for key in (host, client):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        return cls(directory, host, client)

    def known_hosts_line(self, host: str, port: int) -> str:
        name = host if port == 22 else "[%s]:%d" % (host, port)
        return "%s %s\n" % (name, " ".join(Path(str(self.host_key) + ".pub").read_text().split()[:2]))


@dataclass
class Sshd:
    keys: Keys
    host: str
    port: int
    workdir: Path
    netns: Optional[str] = None
    proc: Optional[subprocess.Popen] = None
    log: List[str] = field(default_factory=list)
    #: False: a server without the SFTP subsystem (no ``Subsystem`` line).
    sftp: bool = True
    #: A directory mounted over /root inside the server's mount namespace: the login's home there.
    home: Optional[Path] = None
    #: root's login shell inside the server's mount namespace (e.g. /bin/dash, as many devices have).
    login_shell: Optional[str] = None

    def config(self) -> Path:
        cfg = self.workdir / ("sshd_%d.conf" % self.port)
        authorized = self.workdir / "authorized_keys"
        authorized.write_text(Path(str(self.keys.client_key) + ".pub").read_text())
        cfg.write_text("\n".join([
            "Port %d" % self.port, "ListenAddress %s" % self.host, "HostKey %s" % self.keys.host_key,
            "AuthorizedKeysFile %s" % authorized, "PidFile %s" % (self.workdir / ("sshd_%d.pid" % self.port)),
            "UsePAM no", "StrictModes no", "PermitRootLogin yes", "PasswordAuthentication no",
            "Subsystem sftp internal-sftp" if self.sftp else "", "LogLevel ERROR", "MaxSessions 50", "MaxStartups 50:30:100", ""]))
        return cfg

    def start(self) -> "Sshd":
        cfg = self.config()
        # Its own mount namespace (a private /run/sshd, and root's rc files hidden) and PID namespace.
        home = "mount --bind %s /root && " % shlex.quote(str(self.home)) if self.home else ""
        if self.login_shell:
            passwd = self.workdir / ("passwd_%d" % self.port)
            lines = Path("/etc/passwd").read_text().splitlines()
            passwd.write_text("".join((ln.rsplit(":", 1)[0] + ":" + self.login_shell if ln.startswith("root:") else ln)
                                      + "\n" for ln in lines))
            home += "mount --bind %s /etc/passwd && " % shlex.quote(str(passwd))
        inner = ("mount -t tmpfs x /run && mkdir -m755 /run/sshd && " + home +
                 "for f in /root/.bashrc /root/.profile; do [ -f $f ] && mount --bind /dev/null $f; done; "
                 "exec %s -D -e -f %s" % (SSHD, cfg))
        argv = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--",
                "sh", "-c", inner]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns] + argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sshd exited: %s" % self.proc.stdout.read())
            if self._listening():
                return self
            time.sleep(0.02)
        raise RuntimeError("sshd did not start listening on %s:%d" % (self.host, self.port))

    def _listening(self) -> bool:
        cmd = ["ss", "-ltnH", "sport = :%d" % self.port]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        return bool(out.strip())

    def session_pids(self) -> List[int]:
        """PIDs of the per-connection sshd processes (``sshd: root@notty``), children of the listener."""
        assert self.proc is not None
        children: dict = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            pid, ppid = int(stat.parent.name), int(text.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(pid)
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            for child in children.get(pid, []):
                todo.append(child)
                try:
                    cmdline = Path("/proc/%d/cmdline" % child).read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    continue
                if cmdline.startswith("sshd: ") and "@" in cmdline:
                    found.append(child)
        return found

    def drop_sessions(self) -> int:
        """SIGKILL every per-connection sshd (their TCP connections die with them); how many there were."""
        pids = self.session_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # went with its parent
        return len(pids)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)

    def device(self, name: str, workdir: str, known_hosts: Path, key: Optional[Path] = None, **options: Any) -> Any:
        """An inventory Device for this server (root login, this test's Python), for transport-level tests."""
        from bench.plan.inventory import Device

        return Device(name=name, device_class="linux", transport="ssh", python=sys.executable, workdir=workdir,
                      host=self.host, port=self.port, user="root", key=str(key or self.keys.client_key),
                      options=dict(known_hosts=str(known_hosts), **options))

    def device_yaml(self, name: str, python: str, workdir: str, known_hosts: Path, device_class: str = "linux") -> str:
        return ("  %s:\n    class: %s\n    transport: ssh\n    host: %s\n    port: %d\n    user: root\n"
                "    key: %s\n    python: %s\n    workdir: %s\n    options: {known_hosts: %s}\n"
                % (name, device_class, self.host, self.port, self.keys.client_key, python, workdir, known_hosts))
