"""devices.yaml parsing and the errors a user sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.inventory import InventoryError, load_inventory, resolve_devices


def test_local_exists_without_inventory(tmp_path: Path) -> None:
    inv = load_inventory(tmp_path / "absent.yaml")
    assert list(inv) == ["local"]
    assert inv["local"].transport == "local" and inv["local"].device_class in ("linux", "apple", "jetson", "rpi")


def test_inventory_entries_and_unknown_device(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text("devices:\n  jetson:\n    class: jetson\n    host: 192.0.2.10\n    user: nvidia\n"
                    "  phone:\n    class: android\n    transport: adb\n    host: SERIAL123\n")
    inv = load_inventory(path)
    assert set(inv) == {"jetson", "phone", "local"}
    assert inv["jetson"].transport == "ssh" and inv["jetson"].python == "python3"
    with pytest.raises(InventoryError) as err:
        resolve_devices(["jetsn"], inv)
    msg = str(err.value)
    assert "jetsn" in msg and "jetson" in msg and "devices.example.yaml" in msg


@pytest.mark.parametrize("text, needle", [
    ("devices:\n  x:\n    class: toaster\n", "class 'toaster'"),
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
