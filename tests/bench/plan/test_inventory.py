"""devices.yaml parsing and the errors a user sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.plan.inventory import InventoryError, load_inventory, resolve_devices


def test_local_exists_without_inventory(tmp_path: Path) -> None:
    inv = load_inventory(tmp_path / "absent.yaml")
    assert list(inv) == ["local"]
    assert inv["local"].transport == "local" and inv["local"].device_class in ("linux", "apple", "jetson", "rpi")


def test_inventory_entries_and_unknown_device(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text("devices:\n  jetson:\n    class: jetson\n    host: 192.0.2.10\n    user: nvidia\n"
                    "  phone:\n    class: android\n    transport: adb\n    serial: SERIAL123\n    python: /x/python3\n")
    inv = load_inventory(path)
    assert set(inv) == {"jetson", "phone", "local"}
    assert inv["jetson"].transport == "ssh" and inv["jetson"].python == "python3"
    with pytest.raises(InventoryError) as err:
        resolve_devices(["jetsn"], inv)
    msg = str(err.value)
    assert "jetsn" in msg and "jetson" in msg and "devices.example.yaml" in msg


@pytest.mark.parametrize("text, needle", [
    ("devices:\n  x:\n    class: toaster\n", "(got 'toaster')"),
    ("devices:\n  x:\n    class: rpi\n", "needs a 'host'"),
    ("devices:\n  x:\n    class: rpi\n    host: h\n    colour: red\n", "colour"),
    ("devices: [1, 2]\n", "top-level 'devices:'"),
    ("devices:\n  x: {class: rpi\n", "not valid YAML"),
])
def test_malformed_inventory(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(text)
    with pytest.raises(InventoryError, match=None) as err:
        load_inventory(path)
    assert needle in str(err.value)


@pytest.mark.parametrize("entry, needle", [
    ("    port: twenty-two\n", "port: Input should be a valid integer (got 'twenty-two')"),
    ("    port: 70000\n", "port: Input should be less than or equal to 65535"),
    ("    python: null\n", "python is empty (null)"),
    ("    workdir: ~x\n", "workdir: must be an absolute path or start with '~/'"),
    ("    workdir: -rf\n", "workdir: must be an absolute path"),
    ("    options: {knwon_hosts: /k}\n", "unknown field 'options.knwon_hosts' (known: adb_server_port, connect_timeout_s"),
    ("    options: {op_timeout_s: soon}\n", "options.op_timeout_s"),
    ("    options: {lock_file: lab.lock}\n", "options.lock_file: must be an absolute path"),
])
def test_wrong_types_name_the_field(tmp_path: Path, entry: str, needle: str) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text("devices:\n  pi:\n    class: rpi\n    host: 192.0.2.11\n" + entry)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert needle in str(err.value) and "'pi'" in str(err.value)


def test_duplicate_device_is_refused_not_last_wins(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text("devices:\n  pi:\n    class: rpi\n    host: a\n  pi:\n    class: rpi\n    host: b\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert "'pi' is given twice (lines 2 and 5)" in str(err.value)


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "-rf", "x" * 201])
def test_device_names_that_would_be_paths_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text("devices:\n  %r:\n    class: rpi\n    host: h\n" % name)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert "use letters, digits" in str(err.value)


def test_good_entry_keeps_types(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text("devices:\n  pi:\n    class: rpi\n    host: h\n    port: 2222\n    workdir: ~/eb\n"
                    "    options: {op_timeout_s: 5, lock_file: /var/lock/lab/edgebench.lock}\n")
    dev = load_inventory(path)["pi"]
    assert dev.port == 2222 and dev.workdir == "~/eb"
    assert dev.options == {"op_timeout_s": 5.0, "lock_file": "/var/lock/lab/edgebench.lock"}
