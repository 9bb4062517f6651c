"""Device facts: what the device is, as the agent can read it (``python -m device_agents probe``).

Every fact that cannot be read is ``None`` with a ``<fact>_reason`` beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import sys
from typing import Any, Dict, Optional

from . import AGENT_VERSION, SCHEMA_VERSION
from .runtimes import runtime_availability
from .sysinfo import kib_field_bytes, read_kv, read_text, sysctl


def cpu_model() -> Optional[str]:
    """The CPU's marketing name from /proc/cpuinfo (x86 ``model name``, ARM ``Hardware``/``Model``)."""
    info = read_text("/proc/cpuinfo")
    if info:
        for key in ("model name", "Hardware", "Model", "cpu model", "Processor"):
            for line in info.splitlines():
                if line.split(":")[0].strip() == key:
                    return line.split(":", 1)[1].strip()
        # ARM cores without a name: report the implementer/part so it is at least identifiable.
        parts = [ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("CPU part")]
        if parts:
            return "ARM CPU part " + ",".join(sorted(set(parts)))
    return sysctl("machdep.cpu.brand_string")


def board_model() -> Optional[str]:
    """Board name from the device tree (Jetson, Raspberry Pi) or the DMI product name."""
    for path in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model",
                 "/sys/devices/virtual/dmi/id/product_name"):
        text = read_text(path)
        if text:
            return text.replace("\x00", "").strip()
    return sysctl("hw.model")


def memory_total_bytes() -> Optional[int]:
    total = kib_field_bytes(read_kv("/proc/meminfo"), "MemTotal")
    if total is None:
        value = sysctl("hw.memsize")
        total = int(value) if value and value.isdigit() else None
    return total


def os_name() -> str:
    release = read_kv("/etc/os-release", "=")
    pretty = release.get("PRETTY_NAME", "").strip('"')
    if pretty:
        return pretty
    if platform.system() == "Darwin":
        return "macOS " + platform.mac_ver()[0]
    return platform.system()


def probe() -> Dict[str, Any]:
    """All device facts as one JSON-able dict."""
    facts: Dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "agent_version": AGENT_VERSION,
        "hostname": socket.gethostname(),
        "os": os_name(),
        "system": platform.system(),
        "kernel": platform.release(),
        "kernel_version": platform.version(),
        "arch": platform.machine(),
        "cpu_model": cpu_model(),
        "board_model": board_model(),
        "cpu_cores_logical": os.cpu_count(),
        "memory_total_bytes": memory_total_bytes(),
        "python_version": platform.python_version(),
        "python_executable": sys.executable,
    }
    if hasattr(os, "sched_getaffinity"):
        facts["cpu_affinity"] = sorted(os.sched_getaffinity(0))
    else:
        facts["cpu_affinity"] = None
        facts["cpu_affinity_reason"] = "os.sched_getaffinity not available on %s" % platform.system()
    governor_path = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"
    facts["cpu_governor"] = read_text(governor_path)
    if facts["cpu_governor"] is None:
        facts["cpu_governor_reason"] = "not readable: %s absent" % governor_path
    try:
        import numpy

        facts["numpy_version"] = numpy.__version__
    except ImportError:
        facts["numpy_version"] = None
        facts["numpy_version_reason"] = "numpy is not installed"
    facts["runtimes"], facts["runtimes_cached"] = cached_runtime_availability()
    from .sensors import availability

    facts["sensors"] = availability()
    return facts


#: Environment variable naming a private folder (inside the host-checked work dir) for the agent's caches.
STATE_ENV = "EDGEBENCH_AGENT_STATE"


def _install_fingerprint() -> str:
    """What the runtimes' availability depends on: this agent and interpreter, the boot (a driver or a JetPack
    update reboots), and every import path's modification time (installing or removing a package changes its
    site-packages folder)."""
    boot = read_text("/proc/sys/kernel/random/boot_id") or ""
    parts = [AGENT_VERSION, sys.executable, sys.version, boot.strip()]
    cwd = os.getcwd()
    for entry in sys.path:
        if entry in ("", ".", cwd):  # the job's own folder: new for every job, no packages in it
            continue
        try:
            parts.append("%s=%d" % (entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            parts.append("%s=absent" % entry)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def cached_runtime_availability() -> "tuple[Dict[str, Any], bool]":
    """Every runtime's availability (about 0.3 s of imports), from the agent's cache while the install
    fingerprint is unchanged; (facts, True when they came from the cache). Without ``$EDGEBENCH_AGENT_STATE``
    nothing is cached. A job's own runtime is always checked afresh before it loads (run.py)."""
    state = os.environ.get(STATE_ENV)
    path = os.path.join(state, "runtimes.json") if state else None
    key = _install_fingerprint() if path else ""
    if path:
        try:
            with open(path) as fh:
                cached = json.load(fh)
            if isinstance(cached, dict) and cached.get("key") == key and isinstance(cached.get("runtimes"), dict):
                return cached["runtimes"], True
        except (OSError, ValueError):
            pass
    facts = runtime_availability()
    if path:
        try:
            os.makedirs(state, mode=0o700, exist_ok=True)
            tmp = "%s.%d.tmp" % (path, os.getpid())
            with open(tmp, "w") as fh:
                json.dump({"key": key, "runtimes": facts}, fh)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only work dir: no cache, the facts are still right
    return facts, False
