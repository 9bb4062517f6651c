"""The device inventory (``devices.yaml``): devices are described, not coded. ``local`` always exists."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from .paths import cache_root, inventory_path

DEVICE_CLASSES = ("jetson", "rpi", "apple", "linux", "android")
TRANSPORT_NAMES = ("local", "ssh", "adb")


class InventoryError(ValueError):
    """The inventory is malformed or names an unknown device; the message says how to fix it."""


@dataclass
class Device:
    """One device. ``python`` is the interpreter the agent runs with on the device."""

    name: str
    device_class: str
    transport: str
    python: str
    workdir: str
    host: Optional[str] = None
    port: Optional[int] = None
    user: Optional[str] = None
    key: Optional[str] = None
    options: Dict[str, Any] = field(default_factory=dict)


def _local_class() -> str:
    if platform.system() == "Darwin":
        return "apple"
    try:
        model = Path("/proc/device-tree/model").read_text(errors="replace").lower()
    except OSError:
        model = ""
    if "jetson" in model or "nvidia" in model:
        return "jetson"
    if "raspberry" in model:
        return "rpi"
    return "linux"


def local_device() -> Device:
    return Device(name="local", device_class=_local_class(), transport="local", python=sys.executable,
                  workdir=str(cache_root() / "device-local"))


def _parse(name: str, spec: Any, source: Path) -> Device:
    if not isinstance(spec, dict):
        raise InventoryError("%s: device %r must be a mapping of fields" % (source, name))
    known = {"class", "transport", "python", "workdir", "host", "port", "user", "key", "options"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise InventoryError("%s: device %r has unknown field(s) %s; allowed: %s"
                             % (source, name, ", ".join(unknown), ", ".join(sorted(known))))
    cls = spec.get("class")
    if cls not in DEVICE_CLASSES:
        raise InventoryError("%s: device %r has class %r; use one of %s"
                             % (source, name, cls, ", ".join(DEVICE_CLASSES)))
    transport = spec.get("transport", "local" if name == "local" else "ssh")
    if transport not in TRANSPORT_NAMES:
        raise InventoryError("%s: device %r has transport %r; use one of %s"
                             % (source, name, transport, ", ".join(TRANSPORT_NAMES)))
    if transport != "local" and not spec.get("host"):
        raise InventoryError("%s: device %r (transport %s) needs a 'host'" % (source, name, transport))
    default_workdir = (str(cache_root() / ("device-" + name)) if transport == "local"
                       else "~/.cache/edgebench-agent")
    return Device(name=name, device_class=cls, transport=transport,
                  python=str(spec.get("python", sys.executable if transport == "local" else "python3")),
                  workdir=str(spec.get("workdir", default_workdir)), host=spec.get("host"),
                  port=int(spec["port"]) if spec.get("port") is not None else None,
                  user=spec.get("user"), key=spec.get("key"), options=dict(spec.get("options") or {}))


def load_inventory(path: Optional[Path] = None) -> Dict[str, Device]:
    """Devices by name from ``path`` (default ``devices.yaml``), with ``local`` added if absent."""
    path = path or inventory_path()
    devices: Dict[str, Device] = {}
    if path.exists():
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InventoryError("%s is not valid YAML: %s" % (path, exc))
        entries = data.get("devices") if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            raise InventoryError("%s must have a top-level 'devices:' mapping (see devices.example.yaml)" % path)
        for name, spec in entries.items():
            devices[str(name)] = _parse(str(name), spec, path)
    devices.setdefault("local", local_device())
    return devices


def resolve_devices(names: List[str], inventory: Dict[str, Device]) -> List[Device]:
    """Devices for ``names``; an unknown name raises InventoryError listing the known ones."""
    out = []
    for name in names:
        if name not in inventory:
            raise InventoryError("unknown device %r; known: %s. Add it to %s (copy devices.example.yaml)"
                                 % (name, ", ".join(sorted(inventory)), inventory_path()))
        if inventory[name] not in out:
            out.append(inventory[name])
    return out
