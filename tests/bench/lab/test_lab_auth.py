"""Only the lab's members can queue work: the lab secret (keygen, file modes, rotation), HMAC signatures
(forged or altered messages refused), every lab command needing the secret, and a password-less broker on a
network address refused unless --insecure-broker."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.lab.conftest import REPO


def test_keygen_modes_rotation_and_signatures(tmp_path: Path) -> None:
    from bench.lab.app import LabError
    from bench.lab.auth import keygen, load_keys, sign, verify

    folder = tmp_path / "cfg" / "lab"
    path = keygen(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and stat.S_IMODE(path.stat().st_mode) == 0o600
    [key] = load_keys(folder)
    payload = {"run_id": "20240101-000000-abcd", "job": {"job_id": "a"}, "attempt": 1}
    sig = sign(payload, [key])
    assert verify(payload, sig, [key]) is None
    assert verify(dict(payload), sig, [key]) is None  # key order does not matter (canonical JSON)
    altered = dict(payload, attempt=2)
    assert "forged or altered" in verify(altered, sig, [key])
    assert "malformed" in verify(payload, None, [key])
    assert "malformed" in verify(payload, "deadbeef", [key])
    other = keygen(tmp_path / "other")
    assert "does not have" in verify(payload, sign(payload, load_keys(other.parent)), [key])
    with pytest.raises(LabError, match="already exists"):
        keygen(folder)
    keygen(folder, rotate=True)
    keys = load_keys(folder)
    assert len(keys) == 2 and keys[1] == key
    assert verify(payload, sig, keys) is None  # old signatures still verify after a rotation
    assert sign(payload, keys).split(":")[1] == keys[0].key_id  # new ones use the new key
    os.chmod(path, 0o644)
    with pytest.raises(LabError, match="readable by other users.*chmod 600"):
        load_keys(folder)
    with pytest.raises(LabError, match="lab keygen"):
        load_keys(tmp_path / "nothing-here")


def test_lab_commands_need_the_secret_and_keygen_makes_it(tmp_path: Path) -> None:
    env = dict(os.environ, EDGEBENCH_LAB_SECRETS=str(tmp_path / "s"), EDGEBENCH_BROKER="redis://127.0.0.1:1/0")
    for args in (["status"], ["wait", "x"], ["submit", "--device", "local"], ["worker", "--devices", "local"]):
        proc = subprocess.run([sys.executable, "-m", "bench", "lab"] + args, cwd=str(REPO), capture_output=True,
                              text=True, timeout=60, env=env)
        assert proc.returncode == 2 and "no lab secret" in proc.stderr and "lab keygen" in proc.stderr, (args, proc.stderr)
    proc = subprocess.run([sys.executable, "-m", "bench", "lab", "keygen"], cwd=str(REPO), capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 0 and "Copy this file" in proc.stdout, proc.stderr
    data = json.loads((tmp_path / "s" / "secrets.json").read_text())
    assert len(bytes.fromhex(data["keys"][0]["secret"])) == 32
    proc = subprocess.run([sys.executable, "-m", "bench", "lab", "keygen"], cwd=str(REPO), capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 2 and "--rotate" in proc.stderr


def test_password_less_network_broker_refused_unless_insecure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture) -> None:
    from bench.lab.app import LabError, broker_url

    for ok in ("redis://127.0.0.1:6379/0", "redis://localhost:1/0", "redis://[::1]:6379/0",
               "rediss://:pw@10.0.0.5:6380/0", "redis://lab:pw@10.0.0.5:6379/0"):
        assert broker_url(ok, insecure=False) == ok
    for bad in ("redis://10.0.0.5:6379/0", "rediss://lab.example:6380/0", "redis://user@10.0.0.5/0"):
        with pytest.raises(LabError, match="no password.*--insecure-broker"):
            broker_url(bad, insecure=False)
        assert broker_url(bad, insecure=True) == bad
    from bench.cli.main import main
    from bench.lab.auth import keygen

    keygen(tmp_path / "s")
    monkeypatch.setenv("EDGEBENCH_LAB_SECRETS", str(tmp_path / "s"))

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a lab command tried to connect to %r" % (args,))

    monkeypatch.setattr(socket.socket, "connect", no_network)  # no packet may leave: refused before any connect
    monkeypatch.setattr(socket, "create_connection", no_network)
    for cmd in (["status"], ["wait", "x"], ["submit", "--device", "local"], ["worker", "--devices", "local"]):
        assert main(["lab"] + cmd + ["--broker", "redis://192.0.2.1:6379/0"]) == 2
        err = capsys.readouterr().err
        assert "no password" in err and "--insecure-broker" in err, (cmd, err)
    env = dict(os.environ, EDGEBENCH_LAB_SECRETS=str(tmp_path / "s"))
    proc = subprocess.run([sys.executable, "-m", "bench", "lab", "status", "--insecure-broker", "--broker",
                           "redis://127.0.0.1:1/0"], cwd=str(REPO), capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2 and "unreachable" in proc.stderr  # accepted, then it tried (loopback, nobody there)
