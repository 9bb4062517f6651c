"""The local transport's messages and results (the machine itself as the device)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from bench.transports import TransportError
from bench.transports.local import LocalTransport


def test_signal_death_is_named(tmp_path: Path) -> None:
    res = LocalTransport(str(tmp_path)).exec(["sh", "-c", "kill -SEGV $$"], timeout_s=15)
    assert res.signal == "SIGSEGV" and res.returncode == -signal.SIGSEGV and res.kill_confirmed is None


def test_kill_on_timeout_is_confirmed(tmp_path: Path) -> None:
    res = LocalTransport(str(tmp_path)).exec(["sleep", "30"], timeout_s=0.5)
    assert res.timed_out and res.kill_confirmed is True


def test_full_disk_is_one_clear_line(tmp_path: Path, small_disk: Path) -> None:
    t = LocalTransport(str(small_disk))
    big = tmp_path / "model.onnx"
    big.write_bytes(os.urandom(3 << 20))
    with pytest.raises(TransportError) as err:
        t.push(big, t.join("models", "model.onnx"))
    assert str(err.value).startswith("device 'local': no space left on the disk under %s (copying %s" % (small_disk, big))
    assert list((small_disk / "models").iterdir()) == []  # the partial copy is gone


def test_models_are_linked_not_copied_and_agent_files_are_copied(tmp_path: Path) -> None:
    t = LocalTransport(str(tmp_path / "dev"))
    model = tmp_path / "model.onnx"
    model.write_bytes(b"onnx bytes")
    assert t.push(model, t.join("models", "model.onnx")) == 0  # nothing written: a hard link
    assert os.stat(t.join("models", "model.onnx")).st_ino == model.stat().st_ino
    source = tmp_path / "run.py"
    source.write_text("print('agent')\n")
    assert t.push(source, t.join("agent", "run.py")) == source.stat().st_size
    assert os.stat(t.join("agent", "run.py")).st_ino != source.stat().st_ino  # a private copy
