"""Keep Celery's pool from forking while the worker's lab thread starts a process.

A device worker's main process forks its pool child (billiard, ``os.fork`` without exec) whenever the child
died. A fork copies every descriptor the process holds at that instant, also those the lab thread opened a
moment before to start a probe: the write end of ``subprocess``'s exec-status pipe and of the probe's stdout.
The pool child keeps them open for its whole life, so the lab thread's ``Popen`` (or its ``communicate``)
waits for an end of file that never comes, the heartbeat stops, the device's lease runs out and every job is
handed back, for as long as that pool child lives (seen in the lab's fault tests under load).

``held()`` marks the section that starts processes; ``install()`` makes every ``os.fork`` of this process
(those ``subprocess`` makes without a ``preexec_fn`` do not count: they exec at once) wait until no section is
held, for at most ``FORK_WAIT_S`` seconds."""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

#: Seconds a fork waits for a held section (a probe ends within its own deadline long before this).
FORK_WAIT_S = 60.0

_lock = threading.RLock()
_fork_holds = threading.local()
_installed = False


def _before_fork() -> None:
    _fork_holds.acquired = _lock.acquire(timeout=FORK_WAIT_S)


def _after_fork_in_parent() -> None:
    if getattr(_fork_holds, "acquired", False):
        _fork_holds.acquired = False
        _lock.release()


def _after_fork_in_child() -> None:
    global _lock
    _fork_holds.acquired = False
    _lock = threading.RLock()  # the child has only the forking thread: nothing of the parent's holds remains


def install() -> None:
    """Make this process's forks wait for held sections (once per process; idempotent)."""
    global _installed
    if not _installed:
        os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                            after_in_child=_after_fork_in_child)
        _installed = True


@contextlib.contextmanager
def held() -> Iterator[None]:
    """While the block runs (it starts processes or opens pipes), no fork of this process copies them."""
    with _lock:
        yield
