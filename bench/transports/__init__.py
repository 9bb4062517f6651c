"""Transports by name; each device in the inventory names one."""

from __future__ import annotations

from typing import Any

from .base import ExecResult, Transport, TransportError

TRANSPORTS = ("local", "ssh")


def open_transport(device: Any) -> Transport:
    """A connected transport for ``device`` (an inventory Device)."""
    if device.transport == "local":
        from .local import LocalTransport

        return LocalTransport(device.workdir)
    if device.transport == "ssh":
        from .ssh import SshTransport

        opts = device.options
        return SshTransport(device, connect_timeout_s=float(opts.get("connect_timeout_s", 10)),
                            op_timeout_s=float(opts.get("op_timeout_s", 60)),
                            user_timeout_s=float(opts.get("tcp_user_timeout_s", 15)))
    raise TransportError("device %r uses transport %r, which this edgebench does not have (it has: %s)"
                         % (device.name, device.transport, ", ".join(TRANSPORTS)))


__all__ = ["ExecResult", "Transport", "TransportError", "open_transport", "TRANSPORTS"]
