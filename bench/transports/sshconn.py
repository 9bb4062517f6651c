"""One SSH connection for the SSH transport: the socket (TCP_NODELAY, TCP_USER_TIMEOUT, keepalive), the
paramiko client with host keys only from known_hosts, its SFTP session, the ``exit-signal`` message that
paramiko drops, and the watchdog that enforces an operation's overall deadline by cutting the link."""

from __future__ import annotations

import shlex
import signal as _signal
import socket
import threading
import time
from typing import Any, List, NoReturn, Optional, Tuple

import paramiko

from .base import TransportError, describe_exc
from .sshkeys import HostKey

TCP_USER_TIMEOUT = 18  # linux/tcp.h
#: SSH keepalive interval (s) and TCP keepalive idle/interval (s) and probe count on the socket.
KEEPALIVE_S = 5
TCP_KEEPIDLE_S, TCP_KEEPINTVL_S, TCP_KEEPCNT = 5, 2, 3


#: Exceptions that mean the connection (not the device's answer) failed.
DROPS = (EOFError, socket.timeout, ConnectionError, paramiko.SSHException)


class Refused(TransportError):
    """The device answered and said no (host key, authentication, no SFTP): retrying cannot help."""


class Conn:
    """One live connection: paramiko's client, its SFTP session, and the raw socket under both."""

    def __init__(self, client: Any, sftp: Any, sock: socket.socket) -> None:
        self.client = client
        self.sftp = sftp
        self.sock = sock
        #: Set when a deadline watchdog cut this connection.
        self.cut = False

    @property
    def transport(self) -> Any:
        return self.client.get_transport()

    def alive(self) -> bool:
        t = self.client.get_transport()
        return not self.cut and t is not None and t.is_active()

    def close(self) -> None:
        """Drop the connection now; a read or write blocked on it (another thread) fails at once."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        for closer in (self.sftp, self.client):
            try:
                closer.close()
            except Exception:
                pass


class Watchdog:
    """Cuts ``conn`` at ``deadline`` (a ``time.monotonic()`` value, s) unless cancelled first. Closing the
    socket is what bounds paramiko on a stalled or trickling link: its per-read timeouts never fire
    while a few bytes keep arriving, and its write loop waits on TCP for minutes."""

    def __init__(self, conn: Conn, deadline: float) -> None:
        self.conn = conn
        self.fired = False
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        self.conn.cut = True
        self.conn.close()

    def cancel(self) -> None:
        self._timer.cancel()


def signal_from_message(name: Optional[str]) -> Tuple[Optional[int], Optional[str]]:
    """(returncode, signal name) for an SSH ``exit-signal`` name (RFC 4254 sends ``"SEGV"``): the
    return code is ``-N`` with this host's number for that name (None if this host has no such signal)."""
    if not name:
        return None, None
    full = name if name.startswith("SIG") else "SIG" + name
    known = _signal.Signals.__members__.get(full)
    return (-int(known) if known is not None else None), full


def _handle_request(chan: Any, m: Any) -> None:
    """paramiko's channel-request handler, plus the ``exit-signal`` request it ignores (its exit status
    stays -1, which reads as SIGHUP): the signal's name is kept on the channel as ``exit_signal``."""
    from paramiko.channel import Channel

    pos = m.packet.tell()
    try:
        if m.get_text() == "exit-signal":
            m.get_boolean()  # want_reply
            chan.exit_signal = m.get_text()
    except Exception:
        pass
    m.packet.seek(pos)
    Channel._handle_request(chan, m)


def track_exit_signals(transport: Any) -> bool:
    """Make ``transport`` record ``exit-signal`` on its channels. paramiko dispatches channel messages
    through a per-class table; this gives the one transport its own copy. False if the table is absent
    (another paramiko): signals then read as a missing status, never as a wrong signal."""
    from paramiko.common import MSG_CHANNEL_REQUEST

    table = getattr(transport, "_channel_handler_table", None)
    if not isinstance(table, dict) or MSG_CHANNEL_REQUEST not in table:
        return False
    table = dict(table)
    table[MSG_CHANNEL_REQUEST] = _handle_request
    transport._channel_handler_table = table
    return True


def make_socket(device: Any, host: str, port: int, timeout_s: float, user_timeout_s: float) -> socket.socket:
    """A connected TCP socket with TCP_NODELAY, keepalive and TCP_USER_TIMEOUT (``user_timeout_s``)."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        raise TransportError("device %r (%s:%d) is unreachable: %s; check the address, that sshd runs, and "
                             "the network" % (device.name, host, port, describe_exc(exc)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if hasattr(socket, "TCP_KEEPIDLE"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, TCP_KEEPIDLE_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, TCP_KEEPINTVL_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, TCP_KEEPCNT)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, int(user_timeout_s * 1000))
    except OSError:
        pass  # not Linux: keepalive still bounds a dead link
    return sock


def open_conn(device: Any, host: str, port: int, key: Optional[str], host_keys: List[HostKey],
              known_hosts: str, timeout_s: float, user_timeout_s: float,
              sock: Optional[socket.socket] = None) -> Conn:
    """Connect, authenticate and open SFTP, each step within ``timeout_s`` seconds. Raises Refused
    for answers a retry cannot change, TransportError for the rest."""
    name = host if port == 22 else "[%s]:%d" % (host, port)
    sock = sock or make_socket(device, host, port, timeout_s, user_timeout_s)
    client = paramiko.SSHClient()
    keys = client.get_host_keys()
    for hostname, keytype, hostkey in host_keys:
        keys.add(hostname, keytype, hostkey)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())

    def fail(exc: BaseException) -> NoReturn:
        client.close()
        sock.close()
        raise exc

    try:
        client.connect(host, port=port, username=device.user, key_filename=key, sock=sock, timeout=timeout_s,
                       banner_timeout=timeout_s, auth_timeout=timeout_s, allow_agent=not key, look_for_keys=False)
    except paramiko.BadHostKeyException as exc:
        fail(Refused(
            "HOST KEY MISMATCH for device %r (%s): the key it offers (%s) is not the one in %s. Refusing to "
            "connect. If the device was reinstalled, remove the old key with: ssh-keygen -R %s -f %s"
            % (device.name, name, exc.key.get_fingerprint().hex(), known_hosts, shlex.quote(name),
               shlex.quote(known_hosts))))
    except paramiko.AuthenticationException as exc:
        fail(Refused("authentication failed for %s@%s (device %r): %s; check 'user' and 'key' in devices.yaml"
                     % (device.user, name, device.name, describe_exc(exc))))
    except paramiko.SSHException as exc:
        if "known_hosts" in str(exc):
            fail(Refused(
                "device %r: host %s is not in %s, so it is refused. Check its fingerprint on the device, then "
                "add it with: ssh-keyscan -p %d %s >> %s" % (device.name, name, known_hosts, port,
                                                            shlex.quote(host), shlex.quote(known_hosts))))
        fail(TransportError("SSH to device %r (%s) failed: %s" % (device.name, name, describe_exc(exc))))
    except (OSError, EOFError) as exc:
        fail(TransportError("SSH to device %r (%s) failed: %s" % (device.name, name, describe_exc(exc))))
    transport = client.get_transport()
    transport.set_keepalive(KEEPALIVE_S)
    track_exit_signals(transport)
    try:
        sftp = client.open_sftp()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        if transport.is_active():
            fail(Refused("device %r: the SSH server offers no SFTP subsystem (%s); enable `Subsystem sftp` in the "
                         "device's sshd_config (e.g. `Subsystem sftp internal-sftp`) and restart sshd"
                         % (device.name, describe_exc(exc))))
        fail(TransportError("SSH to device %r (%s) dropped while opening SFTP: %s"
                            % (device.name, name, describe_exc(exc))))
    return Conn(client, sftp, sock)
