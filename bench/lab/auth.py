"""Who may queue work in the lab: every job message carries an HMAC-SHA256 over its JSON, made with the lab's
secret; a worker runs nothing whose signature does not verify.

Why an HMAC over the JSON rather than Celery's message signing (``task_serializer='auth'``): Celery's signing
needs an X.509 key pair and certificate store per member plus the ``cryptography`` package, and it replaces the
JSON serializer with its own envelope; the lab's threat is "anyone who can write to Redis", for which one
shared symmetric secret is enough. An HMAC keeps the messages plain JSON (pickle stays refused), needs only the
standard library and costs microseconds per job. What it does not do: tell lab members apart (every holder of
the secret can sign), or stop a replay of a genuine message — replays are stopped by the one claim per
(run, job, attempt) in the results store (claims.py).

The secrets live in ``$EDGEBENCH_LAB_SECRETS`` (default ``~/.config/edgebench/lab``; a folder of mode 0700
holding ``secrets.json``, mode 0600): ``python -m bench lab keygen`` writes them; copy that file to every lab
host and every submitter (scp, a secrets manager), never through the broker. Several keys may be listed
(``keygen --rotate`` adds one): messages are signed with the newest, verified with any of them."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import secrets as _random
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from .app import LabError

FILE_NAME = "secrets.json"
#: Version tag of the signature format, ``v1:<key id>:<hex digest>``.
SIG_VERSION = "v1"


def secrets_dir() -> Path:
    """``$EDGEBENCH_LAB_SECRETS`` or ``~/.config/edgebench/lab``."""
    env = os.environ.get("EDGEBENCH_LAB_SECRETS")
    return Path(env) if env else Path.home() / ".config" / "edgebench" / "lab"


@dataclass(frozen=True)
class LabKey:
    """One lab secret: ``key_id`` (public, names the key in signatures) and its 32 random bytes."""

    key_id: str
    secret: bytes


def canonical(payload: Any) -> bytes:
    """The bytes that are signed: JSON with sorted keys, no spaces, no NaN (the same on every host)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=True).encode()


def keygen(folder: Optional[Path] = None, rotate: bool = False) -> Path:
    """Create the lab's secret in ``folder`` (0700) / ``secrets.json`` (0600); returns the file. Refuses to
    overwrite an existing one unless ``rotate`` (then a new key is added in front; old ones still verify)."""
    folder = folder or secrets_dir()
    path = folder / FILE_NAME
    existing: List[Dict[str, Any]] = []
    if path.exists():
        if not rotate:
            raise LabError("%s already exists: the lab has a secret (copy it to the other hosts); pass --rotate to "
                           "add a new key" % path)
        existing = _read(path)["keys"]
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    entry = {"id": _random.token_hex(4), "secret": _random.token_hex(32),
             "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    text = json.dumps({"keys": [entry] + existing}, indent=1)
    tmp = folder / (".%s.%d.tmp" % (FILE_NAME, os.getpid()))
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def _read(path: Path) -> Dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        keys = data["keys"]
        if not isinstance(keys, list) or not keys:
            raise ValueError("no keys")
        for k in keys:
            if not (isinstance(k.get("id"), str) and isinstance(k.get("secret"), str) and len(k["secret"]) >= 64):
                raise ValueError("a key without id or 32-byte secret")
            bytes.fromhex(k["secret"])
        return data
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LabError("lab secrets %s unreadable (%s): create them again with `python -m bench lab keygen` (or "
                       "copy the lab's secrets.json from another lab host)" % (path, exc))


def load_keys(folder: Optional[Path] = None) -> List[LabKey]:
    """The lab's keys (newest first). LabError, naming the fix, when there are none or when the file is
    readable by other users."""
    folder = folder or secrets_dir()
    path = folder / FILE_NAME
    if not path.is_file():
        raise LabError("no lab secret at %s: every lab member needs it — create it once with `python -m bench lab "
                       "keygen` and copy %s to each lab host and submitter (EDGEBENCH_LAB_SECRETS names another "
                       "folder)" % (path, path))
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise LabError("lab secrets %s are readable by other users (mode %o): chmod 600 %s" % (path, mode, path))
    return [LabKey(k["id"], bytes.fromhex(k["secret"])) for k in _read(path)["keys"]]


_cache: Dict[str, List[LabKey]] = {}


def keys_cached() -> List[LabKey]:
    """``load_keys()`` once per process and folder (a worker verifies every message with them)."""
    where = str(secrets_dir())
    if where not in _cache:
        _cache[where] = load_keys()
    return _cache[where]


def sign(payload: Any, keys: Optional[List[LabKey]] = None) -> str:
    """``v1:<key id>:<hmac-sha256 hex>`` of ``payload``'s canonical JSON, with the newest key."""
    key = (keys or keys_cached())[0]
    return "%s:%s:%s" % (SIG_VERSION, key.key_id, hmac.new(key.secret, canonical(payload), hashlib.sha256).hexdigest())


def verify(payload: Any, signature: Any, keys: Optional[List[LabKey]] = None) -> Optional[str]:
    """None when ``signature`` is a valid signature of ``payload`` by one of the lab's keys; else why not."""
    if not isinstance(signature, str) or signature.count(":") != 2:
        return "missing or malformed (not v1:<key>:<hmac>): the message was not sent by a lab member"
    version, key_id, digest = signature.split(":")
    if version != SIG_VERSION:
        return "unknown signature version %r" % version[:20]
    key = next((k for k in (keys or keys_cached()) if k.key_id == key_id), None)
    if key is None:
        return "signed with key %r, which this host does not have (copy the lab's current secrets.json here)" % key_id[:20]
    try:
        body = canonical(payload)
    except (TypeError, ValueError) as exc:
        return "payload is not canonical JSON (%s)" % exc
    want = hmac.new(key.secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, digest):
        return "does not match the message: it was forged or altered after signing"
    return None
