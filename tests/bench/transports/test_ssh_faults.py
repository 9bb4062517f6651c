"""The SSH transport under faults, against real OpenSSH servers on loopback: signals from the
``exit-signal`` message, reconnecting after a drop, the kill on timeout, a full device disk, and the
one-line messages for bad keys, known_hosts lines, servers without SFTP and odd work dirs."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest

from bench.transports import TransportError, describe_exc, key_permission_warning
from bench.transports.ssh import SshTransport
from bench.transports.sshkeys import load_known_hosts
from tests.sshd import Keys, Sshd, free_port, have_sshd

pytestmark = pytest.mark.skipif(not have_sshd(), reason="needs root, unshare and OpenSSH's sshd (make test installs it)")

Server = Tuple[Sshd, Path, Path]  # the server, its known_hosts file, a scratch dir


def start(tmp: Path, **kw: Any) -> Server:
    keys = Keys.make(tmp / "keys")
    sshd = Sshd(keys, "127.0.0.1", free_port(), tmp, **kw).start()
    known = tmp / "known_hosts"
    known.write_text(keys.known_hosts_line(sshd.host, sshd.port))
    return sshd, known, tmp


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start(tmp_path_factory.mktemp("sshd"))
    yield srv
    srv[0].kill()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    """A server this test may kill or restart."""
    srv = start(tmp_path)
    yield srv
    srv[0].kill()


def connect(srv: Server, root: Path, warnings: List[str] = None, **kw: Any) -> SshTransport:
    sshd, known, _ = srv
    return SshTransport(sshd.device("box", str(root), known), op_timeout_s=kw.pop("op_timeout_s", 20.0),
                        warn=(warnings.append if warnings is not None else None), **kw)


@pytest.fixture
def box(server: Server, tmp_path: Path) -> Iterator[SshTransport]:
    t = connect(server, tmp_path / "root")
    yield t
    t.close()


def gone(marker: str) -> bool:
    return subprocess.run(["pgrep", "-f", marker], capture_output=True).stdout.strip() == b""


# -- 1. signals -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["SIGSEGV", "SIGKILL"])
def test_signal_death_reads_as_that_signal_not_sighup(box: SshTransport, name: str) -> None:
    res = box.exec(["sh", "-c", "kill -%s $$" % name[3:]], timeout_s=15)
    assert not res.timed_out
    assert res.signal == name and res.returncode == -getattr(signal, name)


def test_normal_exit_has_no_signal(box: SshTransport) -> None:
    res = box.exec(["sh", "-c", "echo out; exit 3"], timeout_s=15)
    assert (res.returncode, res.signal, res.stdout, res.kill_confirmed) == (3, None, "out\n", None)


# -- 4. the kill on timeout -------------------------------------------------------------------
def test_kill_on_timeout_is_confirmed_when_it_reaches_the_device(box: SshTransport) -> None:
    marker = "sleep 31.25"
    res = box.exec(["sh", "-c", "%s & %s" % (marker, marker)], timeout_s=1)
    assert res.timed_out and res.kill_confirmed is True and res.returncode is None
    assert gone(marker), "the agent's process group is still running"


def test_kill_and_helpers_work_under_a_dash_login_shell(tmp_path: Path) -> None:
    """Many devices log in to dash or busybox sh, whose ``kill`` refuses ``kill -KILL -- -PGID``."""
    srv = start(tmp_path, login_shell="/bin/dash")
    marker = "sleep 31.75"
    try:
        t = connect(srv, tmp_path / "root")
        try:
            assert t._run("echo ${BASH_VERSION:-not bash}", "probing the shell").stdout == "not bash\n"
            t.write_text(t.join("-d", "a.txt"), "dash")
            assert t.pull(t.join("-d", "a.txt")) == b"dash" and t.file_sha256(t.join("-d", "a.txt"))
            res = t.exec(["sh", "-c", "%s & %s" % (marker, marker)], timeout_s=1, env={"X": "a b"})
            assert res.timed_out and res.kill_confirmed is True
            assert gone(marker), "the kill did not reach the agent's process group under dash"
        finally:
            t.close()
    finally:
        srv[0].kill()


# -- 2. reconnecting --------------------------------------------------------------------------
def test_next_operation_reconnects_after_sshd_restart(own_server: Server, tmp_path: Path) -> None:
    sshd, known, work = own_server
    t = connect(own_server, tmp_path / "root", op_timeout_s=15)
    try:
        t.write_text(t.join("a.txt"), "hello")
        sshd.kill()
        again = Sshd(sshd.keys, sshd.host, sshd.port, work).start()
        try:
            t0 = time.monotonic()
            assert t.pull(t.join("a.txt")) == b"hello"
            assert time.monotonic() - t0 < 10 and t.reconnects == 1
            assert t.exec(["echo", "ok"], timeout_s=10).stdout == "ok\n"
        finally:
            again.kill()
    finally:
        t.close()


def test_next_operation_reconnects_after_a_connection_reset(own_server: Server, tmp_path: Path) -> None:
    sshd = own_server[0]
    t = connect(own_server, tmp_path / "root")
    try:
        assert t.exec(["true"], timeout_s=10).returncode == 0
        assert sshd.drop_sessions() >= 1
        assert t.file_sha256s([t.join("nothing")]) == {t.join("nothing"): None}
        assert t.reconnects == 1
    finally:
        t.close()


def test_drop_mid_exec_fails_that_exec_only(own_server: Server, tmp_path: Path) -> None:
    sshd = own_server[0]
    t = connect(own_server, tmp_path / "root")
    marker = "sleep 32.75"
    killer = threading.Timer(0.7, sshd.drop_sessions)
    try:
        killer.start()
        t0 = time.monotonic()
        with pytest.raises(TransportError) as err:
            t.exec(["sh", "-c", marker], timeout_s=20)
        assert time.monotonic() - t0 < 10
        msg = str(err.value)
        assert "device 'box'" in msg and "dropped" in msg and "agent was killed over a new connection" in msg, msg
        assert gone(marker)
        assert t.exec(["echo", "next"], timeout_s=10).stdout == "next\n"  # the next job works
    finally:
        killer.cancel()
        t.close()


def test_reconnect_gives_up_within_the_deadline_and_recovers_later(own_server: Server, tmp_path: Path) -> None:
    sshd, _, work = own_server
    t = connect(own_server, tmp_path / "root", op_timeout_s=4)
    try:
        sshd.kill()
        t0 = time.monotonic()
        with pytest.raises(TransportError) as err:
            t.file_sha256s([t.join("x")])
        assert 2.5 < time.monotonic() - t0 < 6  # attempts at 0, 1 and 3 s; the 4 s wait does not fit
        assert "device 'box'" in str(err.value) and "3 attempt(s) to reconnect" in str(err.value)
        t0 = time.monotonic()
        with pytest.raises(TransportError) as err:  # known to be down: one attempt, no backoff
            t.file_sha256s([t.join("x")])
        assert time.monotonic() - t0 < 1 and "1 attempt(s)" in str(err.value)
        again = Sshd(sshd.keys, sshd.host, sshd.port, work).start()
        try:
            assert t.file_sha256s([t.join("x")]) == {t.join("x"): None}
        finally:
            again.kill()
    finally:
        t.close()


# -- 5. messages ------------------------------------------------------------------------------
def test_describe_exc_is_never_empty() -> None:
    assert describe_exc(EOFError()) == "EOFError (no further detail)"
    assert describe_exc(OSError(errno.ENOSPC, "No space left on device")) == \
        "OSError (ENOSPC): No space left on device"
    assert describe_exc(IOError("Failure")) == "OSError: Failure"


def test_unreadable_local_file_names_the_host_side(box: SshTransport, tmp_path: Path) -> None:
    missing = tmp_path / "not-here.onnx"
    with pytest.raises(TransportError) as err:
        box.push(missing, box.join("models", "m.onnx"))
    msg = str(err.value)
    assert "on this host" in msg and str(missing) in msg and "FileNotFoundError (ENOENT)" in msg


def test_known_hosts_with_unparseable_lines_still_uses_the_valid_one(server: Server, tmp_path: Path) -> None:
    sshd, known, _ = server
    hashed = tmp_path / "hashed"
    hashed.write_text(known.read_text())
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(hashed)], check=True, capture_output=True)  # as ssh-keyscan -H
    mixed = tmp_path / "known_hosts"
    mixed.write_text("@cert-authority *.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH\n"
                     "this line is garbage\n"
                     "[127.0.0.1]:%d ssh-ed25519 not*base64*at*all\n" % sshd.port + hashed.read_text())
    warnings: List[str] = []
    t = SshTransport(sshd.device("box", str(tmp_path / "root"), mixed), warn=warnings.append)
    try:
        assert t.exec(["true"], timeout_s=10).returncode == 0
    finally:
        t.close()
    for n in (1, 2, 3):
        assert any("%s line %d skipped" % (mixed, n) in w for w in warnings), warnings


def test_revoked_host_key_is_not_trusted(server: Server, tmp_path: Path) -> None:
    sshd, known, _ = server
    line = known.read_text()
    revoked = tmp_path / "known_hosts"
    revoked.write_text(line + "@revoked * " + line.split(" ", 1)[1])
    assert len(load_known_hosts(str(known), print)) == 1 and load_known_hosts(str(revoked), print) == []
    with pytest.raises(TransportError) as err:
        SshTransport(sshd.device("box", str(tmp_path / "root"), revoked))
    assert "is not in %s, so it is refused" % revoked in str(err.value)


def test_server_without_sftp_is_one_line(tmp_path: Path) -> None:
    srv = start(tmp_path, sftp=False)
    try:
        with pytest.raises(TransportError) as err:
            connect(srv, tmp_path / "root")
    finally:
        srv[0].kill()
    msg = str(err.value)
    assert "device 'box': the SSH server offers no SFTP subsystem" in msg and "`Subsystem sftp`" in msg
    assert "\n" not in msg


def test_workdir_starting_with_dash_is_never_an_option(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    srv = start(tmp_path, home=home)
    try:
        sshd, known, _ = srv
        t = SshTransport(sshd.device("box", "-eb-workdir", known))
        try:
            assert t.root == "/root/-eb-workdir"
            local = tmp_path / "f.bin"
            local.write_bytes(b"x" * 1000)
            t.push(local, t.join("-sub", "f.bin"))
            assert t.pull(t.join("-sub", "f.bin")) == b"x" * 1000
        finally:
            t.close()
    finally:
        srv[0].kill()
    assert (home / "-eb-workdir" / "-sub" / "f.bin").is_file()


def test_private_key_readable_by_others_is_warned(server: Server, tmp_path: Path) -> None:
    sshd, known, _ = server
    key = tmp_path / "id_loose"
    shutil.copyfile(sshd.keys.client_key, key)
    key.chmod(0o600)
    assert key_permission_warning(str(key)) is None
    for mode in (0o644, 0o666):
        key.chmod(mode)
        line = key_permission_warning(str(key))
        assert line and str(key) in line and "chmod 600 %s" % key in line and "%04o" % mode in line
    warnings: List[str] = []
    t = SshTransport(sshd.device("box", str(tmp_path / "root"), known, key=key), warn=warnings.append)
    t.close()
    assert len(warnings) == 1 and "device 'box'" in warnings[0] and "chmod 600 %s" % key in warnings[0]


# -- 6. a full device disk --------------------------------------------------------------------
def test_full_device_disk_is_one_clear_line(tmp_path: Path, small_disk: Path) -> None:
    srv = start(tmp_path)  # started after the mount, so its mount namespace has it
    try:
        t = connect(srv, small_disk)
        try:
            big = tmp_path / "model.onnx"
            big.write_bytes(os.urandom(3 << 20))
            with pytest.raises(TransportError) as err:
                t.push(big, t.join("models", "model.onnx"))
            t.write_text(t.join("small.txt"), "still room for this")  # the partial file was removed
        finally:
            t.close()
    finally:
        srv[0].kill()
    msg = str(err.value)
    assert msg.startswith("device 'box': no space left on the device's disk under %s (pushing %s" % (small_disk, big))
    assert msg.endswith("free space there or set workdir in devices.yaml to a disk with room")
    assert not list((small_disk / "models").glob("*.part"))
