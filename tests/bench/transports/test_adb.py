"""The ADB transport, end to end: the real ``adb`` client and a private adb server (own port, own HOME)
against tests/adbpeer.py, a STAND-IN for a phone's adbd (no Android runs here). The peer's shell is
Android's own mksh and toybox (Debian packages) in an Android-like tree, but its processes run on this
x86-64 host: a host-side stand-in for the phone's CPU. Servers and peers are ended by PID."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Iterator, Tuple

import pytest

from bench.plan.inventory import load_inventory
from bench.transports import TransportError, open_transport
from bench.transports.adb import AdbTransport
from bench.transports.adbclient import state_problem
from tests.adbpeer import AdbServer, PeerProcess, have_adb, phone_and_server, tree_pids
from tests.sshd import free_port

pytestmark = pytest.mark.skipif(not have_adb(), reason="needs root, adb, mksh, toybox (make test installs them)")

REPO = Path(__file__).resolve().parents[3]
#: Host paths the Python-agent mode needs inside the phone's tree (the venv and the Python it links to).
PYTHON_BINDS = [str(REPO / ".venv"), str(Path(os.path.realpath(REPO / ".venv/bin/python")).parents[1])]


def phone_yaml(name: str, peer: PeerProcess, server: AdbServer, python: bool = True, op_timeout_s: float = 10,
               extra: str = "") -> str:
    lines = ["  %s:" % name, "    class: android", "    serial: %s" % peer.serial]
    if python:
        lines.append("    python: %s" % (REPO / ".venv/bin/python"))
    else:
        lines.append("    runners: {litert: /nonexistent/benchmark_model}")
    lines.append("    options: {adb_server_port: %d, connect_timeout_s: 3, op_timeout_s: %g%s}" % (server.port, op_timeout_s,
                                                                                            extra))
    return "\n".join(lines) + "\n"


def device_of(tmp_path: Path, yaml: str, name: str = "pixel"):
    path = tmp_path / "devices.yaml"
    path.write_text("devices:\n" + yaml)
    return load_inventory(path)[name]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[PeerProcess, AdbServer]]:
    with phone_and_server(tmp_path_factory.mktemp("adb"), binds=PYTHON_BINDS) as both:
        yield both


def test_push_hash_pull_exec_and_remove(tmp_path: Path, lab) -> None:
    peer, server = lab
    t = open_transport(device_of(tmp_path, phone_yaml("pixel", peer, server)))
    assert isinstance(t, AdbTransport) and t.root == "/data/local/tmp/edgebench"
    a, b = tmp_path / "a.bin", tmp_path / "b.txt"
    a.write_bytes(os.urandom(300_000))
    b.write_text("hello")
    ra, rb = t.join("x", "a.bin"), t.join("y", "z", "b.txt")
    assert t.file_sha256s([ra, rb]) == {ra: None, rb: None}
    assert t.push_many([(a, ra), (b, rb)]) == 300_005
    from device_agents.hashing import sha256_file

    assert t.file_sha256s([ra, rb]) == {ra: sha256_file(str(a)), rb: sha256_file(str(b))}
    assert (peer.root / ra.lstrip("/")).read_bytes() == a.read_bytes()  # really in the phone's tree
    assert not list((peer.root / t.root.lstrip("/") / ".incoming").iterdir())  # staging cleaned
    assert t.pull(ra) == a.read_bytes()
    with pytest.raises(FileNotFoundError):
        t.pull(t.join("absent"))
    res = t.exec(["sh", "-c", "getprop ro.soc.model; echo oops >&2; exit 7"], timeout_s=10)
    assert (res.returncode, res.stdout, res.stderr, res.timed_out) == (7, "SM8250\n", "oops\n", False)
    t.remove_tree(t.join("x"))
    assert t.file_sha256(ra) is None
    with pytest.raises(TransportError, match="outside the harness directory"):
        t.remove_tree("/data/local")
    t.close()


def test_exec_runs_in_its_own_group_killed_at_the_deadline(tmp_path: Path, lab) -> None:
    peer, server = lab
    t = open_transport(device_of(tmp_path, phone_yaml("pixel", peer, server)))
    job = t.join("jobs", "hang")
    t.write_text(job + "/marker", "x")
    start = time.monotonic()
    res = t.exec(["sh", "-c", "sleep 300 & sleep 300"], timeout_s=1.5, cwd=job)
    assert res.timed_out and res.kill_confirmed is True
    assert time.monotonic() - start < 1.5 + 5
    pgid = int(t.pull(job + "/agent.pid"))
    left = [p for p in tree_pids(peer.root) if _pgid(p) == pgid]
    assert left == []  # the whole group, the background sleep included
    res = t.exec(["sh", "-c", "kill -SEGV $$"], timeout_s=10, cwd=job)
    assert res.signal == "SIGSEGV" and res.returncode == -11
    t.close()


def _pgid(pid: int) -> int:
    try:
        return int(open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return -1


def test_unauthorized_phone_says_accept_the_prompt(tmp_path: Path) -> None:
    peer = PeerProcess(tmp_path / "phone", free_port(), auth="deny").start()
    server = AdbServer(tmp_path / "home", free_port()).start()
    try:
        with pytest.raises(TransportError) as err:
            open_transport(device_of(tmp_path, phone_yaml("pixel", peer, server)))
        msg = str(err.value)
        assert "'pixel'" in msg and "unauthorized" in msg and "Allow USB debugging" in msg
        assert str(server.pubkey) in msg.replace(str(Path.home()), str(server.home)) or "adbkey.pub" in msg
        assert "\n" not in msg
    finally:
        server.kill()
        peer.kill()


def test_verified_key_connects_without_a_prompt(tmp_path: Path) -> None:
    """The peer verifies the client's RSA signature against the authorized key (no RSAPUBLICKEY prompt)."""
    server = AdbServer(tmp_path / "home", free_port()).start()
    server.adb("devices")  # the server has made its key by now
    assert server.pubkey.exists()
    peer = PeerProcess(tmp_path / "phone", free_port(), auth="verify", keys=[server.pubkey]).start()
    try:
        t = open_transport(device_of(tmp_path, phone_yaml("pixel", peer, server)))
        assert t.exec(["getprop", "ro.build.version.sdk"], timeout_s=10).stdout == "33\n"
        t.close()
    finally:
        server.kill()
        peer.kill()


def test_nothing_at_the_serial_says_adb_connect_failed(tmp_path: Path, lab) -> None:
    _, server = lab
    dead = PeerProcess(tmp_path / "phone", free_port())  # never started: nothing listens there
    start = time.monotonic()
    with pytest.raises(TransportError) as err:
        open_transport(device_of(tmp_path, phone_yaml("pixel", dead, server)))
    assert "adb connect %s" % dead.serial in str(err.value) and "wireless debugging" in str(err.value)
    assert time.monotonic() - start < 5


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_stalled_link_is_cut_at_the_deadline(tmp_path: Path) -> None:
    """The phone stops answering (the peer frozen with SIGSTOP): `adb devices` still lists it, `adb
    shell` would hang; every call ends at its deadline with one line naming the phone."""
    peer = PeerProcess(tmp_path / "phone", free_port()).start()
    server = AdbServer(tmp_path / "home", free_port()).start()
    try:
        t = open_transport(device_of(tmp_path, phone_yaml("pixel", peer, server, op_timeout_s=2)))
        inner = [p for p in _children(peer.proc.pid)]
        for pid in inner:
            os.kill(pid, signal.SIGSTOP)
        assert "\tdevice" in server.adb("devices").stdout
        start = time.monotonic()
        with pytest.raises(TransportError, match="'pixel'.*did not finish within 2 s"):
            t.file_sha256(t.join("x"))
        assert time.monotonic() - start < 4
        res = t.exec(["sleep", "1"], timeout_s=1.0)
        assert res.timed_out and res.kill_confirmed is False
        for pid in inner:
            os.kill(pid, signal.SIGCONT)
    finally:
        server.kill()
        peer.kill()


def _children(pid: int):
    out = []
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and int(open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(p))
        except (OSError, IndexError, ValueError):
            pass
    return out


@pytest.mark.parametrize("text, words", [
    ("error: device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set", ["Allow USB debugging", "RSA"]),
    ("error: device offline", ["offline", "replug"]),
    ("error: insufficient permissions for device: user in plugdev group; are your udev rules wrong?",
     ["udev rule", "plugdev"]),
    ("error: device 'R58M123ABC' not found", ["not found", "USB debugging"]),
    ("device", []),
])
def test_adb_states_become_one_line_with_the_fix(text: str, words) -> None:
    """adb's state messages (offline and no-permissions as adb 1.0.41 words them in its source, not seen
    here: a TCP peer cannot be offline-but-listed on demand, and USB permissions need a USB device)."""
    line = state_problem("pixel", "R58M123ABC", text, "/root/.android/adbkey.pub")
    if not words:
        assert line is None
        return
    assert line and "\n" not in line and "'pixel'" in line
    for w in words:
        assert w in line


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_python_agent_mode_full_run_then_second_run_pushes_nothing(tmp_path: Path, lab, tiny_onnx: Path) -> None:
    """`bench run --device pixel`: the existing agent runs on the phone through adb exactly as over SSH
    (the phone's Python here is this host's, bound into the stand-in tree: a functional check)."""
    from tests.bench.cli.test_cli_run import QUICK, bench, only_run, run_dirs
    import json

    peer, server = lab
    (tmp_path / "devices.yaml").write_text("devices:\n" + phone_yaml("pixel", peer, server))
    proc = bench(["run", "--device", "pixel", "--model-file", str(tiny_onnx), "--ceilings", "skip"] + QUICK)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = only_run(tmp_path / "results")
    job = json.loads(next((run / "jobs").glob("*.json")).read_text())
    assert job["status"] == "ok", job
    assert job["device_class"] == "android" and job["host"]["bytes_pushed"] > 0
    assert job["host"]["workdir"].startswith("/data/local/tmp/edgebench/jobs/")
    assert any(run.glob("report.*"))
    first = job["host"]
    proc = bench(["run", "--device", "pixel", "--model-file", str(tiny_onnx), "--ceilings", "skip"] + QUICK)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    second = json.loads(next((run_dirs(tmp_path / "results")[-1] / "jobs").glob("*.json")).read_text())
    assert second["status"] == "ok" and second["host"]["bytes_pushed"] == 0 and second["host"]["files_pushed"] == 0
    print("adb python-agent mode: first push %.2f s (%d bytes, %d files), exec %.2f s; second push %.2f s, exec %.2f s"
          % (first["push_s"], first["bytes_pushed"], first["files_pushed"], first["exec_s"],
             second["host"]["push_s"], second["host"]["exec_s"]))
