"""The device inventory (``devices.yaml``): devices are described, not coded. ``local`` always exists."""

from __future__ import annotations

import os
import platform
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..paths import SAFE_NAME, cache_root, inventory_path

DEVICE_CLASSES = ("jetson", "rpi", "apple", "linux", "android")
TRANSPORT_NAMES = ("local", "ssh", "adb")


class InventoryError(ValueError):
    """The inventory is malformed or names an unknown device; the message says how to fix it."""


@dataclass
class Device:
    """One device. ``python`` is the interpreter the agent runs with on the device ("" for a phone without
    one: native mode). ``serial``: the adb serial (a USB serial or host:port); ``runners``: runtime name ->
    host path of a vendor benchmark binary built for the phone (native mode)."""

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
    serial: Optional[str] = None
    runners: Dict[str, str] = field(default_factory=dict)


#: Where edgebench works on a phone: adb's shell user can write there on every stock Android.
ANDROID_WORKDIR = "/data/local/tmp/edgebench"
#: Native-mode runners: runtime name -> the vendor binary's usual name.
RUNNER_NAMES = ("litert", "onnxruntime")


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


class DeviceOptions(BaseModel):
    """``options:`` of one device; an unknown key is a typo, refused with the list of known ones."""

    model_config = ConfigDict(extra="forbid", strict=True)

    known_hosts: Optional[str] = None
    datasheet: Optional[str] = None
    connect_timeout_s: Optional[float] = Field(default=None, gt=0)
    op_timeout_s: Optional[float] = Field(default=None, gt=0)
    #: This device's job timeout (s), in place of --job-timeout (a slow board, or a device known to hang).
    job_timeout_s: Optional[float] = Field(default=None, gt=0)
    tcp_user_timeout_s: Optional[float] = Field(default=None, gt=0)
    #: Slowest transfer rate (bytes/s) a push or pull may run at before its deadline passes.
    min_transfer_rate_Bps: Optional[float] = Field(default=None, gt=0)
    helper_python: Optional[str] = None
    #: A shared lab lock on the device (absolute path); default: the per-user lock.
    lock_file: Optional[str] = None
    #: adb only: the port of the adb server edgebench uses (``adb -P``); default adb's own, 5037.
    adb_server_port: Optional[int] = Field(default=None, ge=1, le=65535)

    @field_validator("connect_timeout_s", "op_timeout_s", "tcp_user_timeout_s", "min_transfer_rate_Bps", mode="before")
    @classmethod
    def _int_is_float(cls, v: Any) -> Any:
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("lock_file")
    @classmethod
    def _absolute(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not v.startswith("/"):
            raise ValueError("must be an absolute path on the device")
        return v


class DeviceEntry(BaseModel):
    """One entry of ``devices:``, checked field by field (types, allowed values, no unknown fields)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    device_class: Literal["jetson", "rpi", "apple", "linux", "android"] = Field(alias="class")
    transport: Optional[Literal["local", "ssh", "adb"]] = None
    python: Optional[str] = None
    workdir: Optional[str] = None
    host: Optional[str] = None
    port: Optional[int] = Field(default=None, ge=1, le=65535)
    user: Optional[str] = None
    key: Optional[str] = None
    serial: Optional[str] = None
    runners: Optional[Dict[Literal["litert", "onnxruntime"], str]] = None
    options: DeviceOptions = Field(default_factory=DeviceOptions)

    @field_validator("python", "workdir", "host", "user", "key", "serial")
    @classmethod
    def _not_blank(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("workdir")
    @classmethod
    def _workdir(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not (v.startswith("/") or v == "~" or v.startswith("~/")):
            raise ValueError("must be an absolute path or start with '~/' (the login user's home); got %r" % v)
        return v

    @field_validator("options", mode="before")
    @classmethod
    def _null_options(cls, v: Any) -> Any:
        return {} if v is None else v

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            empty = sorted(str(k) for k, v in data.items() if v is None and k != "options")
            if empty:
                raise ValueError("%s %s empty (null): give a value or remove the line to use the default"
                                 % (", ".join(empty), "is" if len(empty) == 1 else "are"))
        return data


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        if err.get("type") == "extra_forbidden":
            owner = DeviceOptions if loc.startswith("options.") else DeviceEntry
            known = sorted(f.alias or k for k, f in owner.model_fields.items())
            parts.append("unknown field %r (known: %s)" % (loc, ", ".join(known)))
        else:
            msg = str(err.get("msg", "")).replace("Value error, ", "")
            got = "" if err.get("type") == "value_error" else " (got %r)" % (err.get("input"),)
            parts.append("%s: %s%s" % (loc or "entry", msg, got))
    return "; ".join(parts)


def _parse(name: str, spec: Any, source: Path) -> Device:
    if not re.fullmatch(SAFE_NAME, name):
        raise InventoryError("%s: device name %r: use letters, digits, '.', '_' and '-' (not starting with '.' or "
                             "'-'); the name becomes a folder and file name" % (source, name))
    if not isinstance(spec, dict):
        raise InventoryError("%s: device %r must be a mapping of fields" % (source, name))
    try:
        entry = DeviceEntry.model_validate(spec)
    except ValidationError as exc:
        raise InventoryError("%s: device %r: %s" % (source, name, _explain(exc)))
    transport = entry.transport or ("local" if name == "local" else "adb" if entry.device_class == "android"
                                    else "ssh")
    if transport == "adb":
        return _parse_adb(name, entry, source)
    if transport != "local" and not entry.host:
        raise InventoryError("%s: device %r (transport %s) needs a 'host'" % (source, name, transport))
    for key in ("serial", "runners"):
        if getattr(entry, key) is not None:
            raise InventoryError("%s: device %r: %r is for phones over adb (transport: adb), not transport %s; "
                                 "remove it" % (source, name, key, transport))
    if entry.options.adb_server_port is not None:
        raise InventoryError("%s: device %r: options.adb_server_port is for transport adb only; remove it"
                             % (source, name))
    default_workdir = (str(cache_root() / ("device-" + name)) if transport == "local"
                       else "~/.cache/edgebench-agent")
    workdir = entry.workdir or default_workdir
    if transport == "local":
        workdir = os.path.expanduser(workdir)
    return Device(name=name, device_class=entry.device_class, transport=transport,
                  python=entry.python or (sys.executable if transport == "local" else "python3"),
                  workdir=workdir, host=entry.host, port=entry.port, user=entry.user, key=entry.key,
                  options=entry.options.model_dump(exclude_none=True))


def _parse_adb(name: str, entry: DeviceEntry, source: Path) -> Device:
    """A phone over adb: a serial (not a host), an absolute workdir, Python-agent mode where ``python`` is
    given, native mode with ``runners``; at least one of the two."""
    if not entry.serial:
        raise InventoryError("%s: device %r (transport adb) needs a 'serial': the USB serial `adb devices` lists, "
                             "or host:port for adb over Wi-Fi" % (source, name))
    for key in ("host", "port", "user", "key"):
        if getattr(entry, key) is not None:
            raise InventoryError("%s: device %r (transport adb): %r is for SSH; a phone is named by 'serial'"
                                 % (source, name, key))
    workdir = entry.workdir or ANDROID_WORKDIR
    if not workdir.startswith("/"):
        raise InventoryError("%s: device %r: workdir %r must be an absolute path on the phone (default %s)"
                             % (source, name, workdir, ANDROID_WORKDIR))
    runners = {k: os.path.expanduser(v) for k, v in (entry.runners or {}).items()}
    if not entry.python and not runners:
        raise InventoryError("%s: device %r: give 'python' (a Python on the phone, e.g. Termux's "
                             "/data/data/com.termux/files/usr/bin/python3) or 'runners' (host paths of benchmark_model "
                             "/ onnxruntime_perf_test built for the phone) or both" % (source, name))
    return Device(name=name, device_class=entry.device_class, transport="adb", python=entry.python or "",
                  workdir=workdir, serial=entry.serial, runners=runners,
                  options=entry.options.model_dump(exclude_none=True))


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping (YAML's own rule is last-wins)."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Dict[Any, Any]:
    seen: Dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, "%r is given twice (lines %d and %d); keep one" % (key, seen[key], key_node.start_mark.line + 1),
                key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_inventory(path: Optional[Path] = None) -> Dict[str, Device]:
    """Devices by name from ``path`` (default ``devices.yaml``), with ``local`` added if absent."""
    path = path or inventory_path()
    devices: Dict[str, Device] = {}
    if path.exists():
        try:
            data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader) or {}
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
