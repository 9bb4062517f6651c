"""Host keys and client keys for the SSH transport: a known_hosts loader that survives lines paramiko
cannot parse, and the permission check on private keys (also callable from the inventory)."""

from __future__ import annotations

import os
import stat
from typing import Callable, List, Optional, Set, Tuple

from .base import TransportError, describe_exc

#: (host name or hashed ``|1|…`` pattern, key type, key object) as paramiko's HostKeys.add takes them.
HostKey = Tuple[str, str, object]


def key_permission_warning(path: str) -> Optional[str]:
    """One warning line when the private key at ``path`` can be read or written by its group or by others
    (mode bits 0o077, e.g. 0644 or 0666), else None. OpenSSH's own client refuses such keys."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # a missing key is reported where it is used, with the connection's error
    if not stat.S_ISREG(mode) or not mode & 0o077:
        return None
    return ("private key %s is accessible by other users (mode %04o); anyone who can read it can log in to "
            "the device: run `chmod 600 %s`" % (path, stat.S_IMODE(mode), path))


def load_known_hosts(path: str, warn: Callable[[str], None]) -> List[HostKey]:
    """The host keys in the known_hosts file at ``path`` (none if it does not exist).

    Lines paramiko cannot parse (``@cert-authority`` lines, bad base64, unknown key types, garbage) are
    skipped with one warning naming the file and line number, so a valid line after them still counts;
    paramiko's own loader raises ``InvalidHostKey`` on the first such line. Keys listed on ``@revoked``
    lines are dropped from every other line. Raises TransportError if the file cannot be read.
    """
    from paramiko.hostkeys import HostKeyEntry

    if not os.path.exists(path):
        return []
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise TransportError("cannot read the known_hosts file %s: %s; fix its permissions or set "
                             "options.known_hosts in devices.yaml" % (path, describe_exc(exc)))
    entries: List[Tuple[int, object]] = []
    revoked: Set[str] = set()
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        marker = None
        if line.startswith("@"):
            marker, _, line = line.partition(" ")
            line = line.strip()
        try:
            entry = HostKeyEntry.from_line(line, lineno)
        except Exception as exc:  # InvalidHostKey (not an SSHException), binascii errors, key decoding errors
            entry, why = None, describe_exc(exc)
        else:
            why = "not a host, a key type and a key (or a key type paramiko does not know)"
        if entry is None:
            warn("%s line %d skipped: %s" % (path, lineno, why))
            continue
        if marker == "@revoked":
            revoked.add(entry.key.get_base64())
        elif marker is not None:
            warn("%s line %d skipped: %s lines are not supported by this client (paramiko)" % (path, lineno, marker))
        else:
            entries.append((lineno, entry))
    keys: List[HostKey] = []
    for _, entry in entries:
        if entry.key.get_base64() in revoked:
            continue
        for name in entry.hostnames:
            keys.append((name, entry.key.get_name(), entry.key))
    return keys
