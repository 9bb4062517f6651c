"""Inventory entries for phones over adb: serial, python and/or runners, the Android work dir default,
options.adb_server_port; bad entries give one line with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.plan.inventory import InventoryError, load_inventory


def inv(tmp_path: Path, body: str):
    path = tmp_path / "devices.yaml"
    path.write_text("devices:\n  pixel:\n" + body)
    return load_inventory(path)


def test_phone_defaults_and_fields(tmp_path: Path) -> None:
    d = inv(tmp_path, "    class: android\n    serial: 127.0.0.1:5555\n    python: /data/x/python3\n"
                      "    runners: {litert: ~/bm}\n    options: {adb_server_port: 5038}\n")["pixel"]
    assert (d.transport, d.workdir, d.serial, d.python) == ("adb", "/data/local/tmp/edgebench", "127.0.0.1:5555",
                                                            "/data/x/python3")
    assert d.runners == {"litert": str(Path.home() / "bm")} and d.options == {"adb_server_port": 5038}


@pytest.mark.parametrize("body, words", [
    ("    class: android\n    python: /x\n", ["needs a 'serial'", "adb devices", "host:port"]),
    ("    class: android\n    serial: abc\n", ["give 'python'", "runners"]),
    ("    class: android\n    serial: abc\n    python: /x\n    host: 10.0.0.1\n", ["'host' is for SSH"]),
    ("    class: android\n    serial: abc\n    python: /x\n    workdir: ~/w\n", ["absolute path on the phone"]),
    ("    class: android\n    serial: abc\n    runners: {tensorrt: /x}\n", ["runners.tensorrt"]),
    ("    class: linux\n    host: h\n    serial: abc\n", ["'serial' is for phones over adb"]),
    ("    class: linux\n    host: h\n    options: {adb_server_port: 5037}\n", ["adb_server_port is for transport adb"]),
    ("    class: android\n    serial: abc\n    python: /x\n    options: {adb_server_port: 0}\n", ["adb_server_port"]),
])
def test_bad_phone_entries_say_the_fix(tmp_path: Path, body: str, words) -> None:
    with pytest.raises(InventoryError) as err:
        inv(tmp_path, body)
    assert "\n" not in str(err.value)
    for w in words:
        assert w in str(err.value), str(err.value)
