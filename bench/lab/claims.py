"""Idempotency where the results live: one claim file per (run, job, attempt) in the run's folder,
``<run>/lab/claims/<job-id>.a<attempt>.json``, created with O_EXCL before the attempt runs. A duplicate or
replayed message for an attempt that already started finds the claim and is dropped; a given-up attempt
(its worker or its process died) gets a ``.given-up`` marker, and its late result is never stored.

The claims also carry the plan's progress across a broker that forgot everything (Redis restarted without
persistence): an attempt with a claim started; one without never did (recovery.py)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Dict, Optional

from ..paths import safe_child

_NAME = re.compile(r"^(?P<job>.+)\.a(?P<attempt>\d+)\.json$")


def claims_dir(run_root: Path) -> Path:
    return run_root / "lab" / "claims"


def _file(run_root: Path, job_id: str, attempt: int, suffix: str = "") -> Path:
    return safe_child(claims_dir(run_root), "%s.a%d%s.json" % (job_id, int(attempt), suffix))


def _create(path: Path, info: Dict[str, Any]) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except FileExistsError:
        return False
    try:
        os.write(fd, json.dumps(info, sort_keys=True).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def claim(run_root: Path, job_id: str, attempt: int, info: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """Claim ``attempt`` of ``job_id`` for the caller: None when it is now ours; else the existing claim's
    content (the attempt already started: this is a duplicate or a replay)."""
    path = _file(run_root, job_id, attempt)
    if _create(path, info):
        return None
    return read(run_root, job_id, attempt) or {"unreadable": True}


def read(run_root: Path, job_id: str, attempt: int, suffix: str = "") -> Optional[Dict[str, Any]]:
    try:
        data = json.loads(_file(run_root, job_id, attempt, suffix).read_text())
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def give_up(run_root: Path, job_id: str, attempt: int, reason: str) -> bool:
    """Mark ``attempt`` given up (its late result will not be stored); False if it already was."""
    return _create(_file(run_root, job_id, attempt, ".given-up"), {"reason": reason})


#: How the ``.given-up`` marker of an attempt put back because its device went away begins (tasks.py).
AWAY = "device away: "


def away_count(run_root: Path, job_id: str) -> int:
    """How many attempts of ``job_id`` were put back because their device went away (not lost to a worker)."""
    n = 0
    for attempt in range(1, latest_attempt(run_root, job_id) + 1):
        reason = str((read(run_root, job_id, attempt, ".given-up") or {}).get("reason") or "")
        n += reason.startswith(AWAY)
    return n


def given_up(run_root: Path, job_id: str, attempt: int) -> bool:
    return read(run_root, job_id, attempt, ".given-up") is not None


def latest_attempt(run_root: Path, job_id: str) -> int:
    """The highest attempt of ``job_id`` that was claimed (0: it never started)."""
    best = 0
    try:
        names = os.listdir(claims_dir(run_root))
    except OSError:
        return 0
    for name in names:
        m = _NAME.match(name)
        if m and m.group("job") == job_id:
            best = max(best, int(m.group("attempt")))
    return best
