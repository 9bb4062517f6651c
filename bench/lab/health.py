"""The health probe a worker runs on its device before consuming and then periodically (between jobs)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

#: What the device's Python must print: proof that the link works and the interpreter starts.
_PROBE = "import sys; print('edgebench-ok', sys.version_info[0])"


@dataclass
class Health:
    """``ok``: the device answered; ``reason``: why not (one line); ``probe_s``: seconds the probe took."""

    ok: bool
    reason: Optional[str]
    probe_s: float


def probe(device: Any, timeout_s: float = 15.0) -> Health:
    """Connect with the device's own transport (local, SSH, …) and run its Python once."""
    from ..transports import TransportError, transport_session

    start = time.perf_counter()
    try:
        with transport_session(device, warn=lambda line: None) as transport:
            res = transport.exec([device.python, "-c", _PROBE], timeout_s=timeout_s, cwd=transport.root)
        if res.timed_out:
            reason: Optional[str] = "the device's python did not answer within %.0f s" % timeout_s
        elif res.returncode != 0 or "edgebench-ok 3" not in (res.stdout or ""):
            tail = ((res.stderr or "") + (res.stdout or "")).strip().splitlines()
            reason = "%s exited with %s: %s" % (device.python, res.returncode, tail[-1][:200] if tail else "no output")
        else:
            reason = None
    except (TransportError, OSError) as exc:
        reason = "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
    return Health(ok=reason is None, reason=reason, probe_s=round(time.perf_counter() - start, 3))


def store_problem() -> Optional[str]:
    """Why this host cannot serve the lab's results store (one line), or None. A worker never creates the
    results folder: one that is missing means the shared directory is not mounted here."""
    import os

    from ..paths import results_root

    root = results_root()
    if not root.is_dir():
        return ("the lab's results store %s is not on this host: mount the shared results directory there (or set "
                "EDGEBENCH_RESULTS); not consuming until it is" % root)
    if not os.access(str(root), os.W_OK | os.X_OK):
        return "the lab's results store %s is not writable by this worker (uid %d): fix its permissions" % (
            root, os.getuid())
    return None
