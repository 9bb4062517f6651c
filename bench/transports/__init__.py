"""Room 2, transports: how the host reaches a device (local, SSH, ADB) — one interface (base.py), one file per
implementation; each device in the inventory names one. May import: the base modules only."""

from __future__ import annotations

import contextlib

from typing import Any, Callable, Dict, Iterator, Optional

from .base import ExecResult, Transport, TransportError, describe_exc, kill_outcome
from .sshkeys import key_permission_warning

TRANSPORTS = ("local", "ssh", "adb")


def _option(opts: Dict[str, Any], key: str, default: float) -> float:
    value = opts.get(key)
    return default if value is None else float(value)


def open_transport(device: Any, warn: Optional[Callable[[str], None]] = None) -> Transport:
    """A connected transport for ``device`` (an inventory Device); ``warn`` receives warning lines (a
    private key others can read, a known_hosts line that cannot be parsed); default: stderr."""
    if device.transport == "local":
        from .local import LocalTransport

        return LocalTransport(device.workdir, device.name)
    if device.transport == "ssh":
        from .ssh import SshTransport

        from .ssh import DEFAULT_MIN_RATE_BPS

        opts = device.options or {}
        return SshTransport(device, connect_timeout_s=_option(opts, "connect_timeout_s", 10),
                            op_timeout_s=_option(opts, "op_timeout_s", 60),
                            user_timeout_s=_option(opts, "tcp_user_timeout_s", 15),
                            min_rate_Bps=_option(opts, "min_transfer_rate_Bps", DEFAULT_MIN_RATE_BPS), warn=warn)
    if device.transport == "adb":
        from .adb import DEFAULT_MIN_RATE_BPS as ADB_MIN_RATE_BPS, AdbTransport

        opts = device.options or {}
        return AdbTransport(device, connect_timeout_s=_option(opts, "connect_timeout_s", 10),
                            op_timeout_s=_option(opts, "op_timeout_s", 60),
                            min_rate_Bps=_option(opts, "min_transfer_rate_Bps", ADB_MIN_RATE_BPS))
    raise TransportError("device %r uses transport %r, which this edgebench does not have (it has: %s)"
                         % (device.name, device.transport, ", ".join(TRANSPORTS)))


@contextlib.contextmanager
def transport_session(device: Any, warn: Optional[Callable[[str], None]] = None) -> Iterator[Transport]:
    """``open_transport`` for a short conversation (a probe, a preflight check): closed afterwards, and a
    failure to close (a link already gone) never hides what happened inside."""
    transport = open_transport(device, warn=warn)
    try:
        yield transport
    finally:
        try:
            transport.close()
        except Exception:
            pass


__all__ = ["ExecResult", "Transport", "TransportError", "describe_exc", "key_permission_warning", "kill_outcome",
           "open_transport", "transport_session", "TRANSPORTS"]
