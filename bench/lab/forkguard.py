"""Keep Celery's pool from forking while the worker's lab thread starts a process.

A device worker's main process forks its pool child (billiard, ``os.fork`` without exec) whenever the child
died. A fork copies every descriptor the process holds at that instant, also those the lab thread opened a
moment before to start a probe: the write end of ``subprocess``'s exec-status pipe and of the probe's stdout.
The pool child keeps them open for its whole life, so the lab thread's ``Popen`` (or its ``communicate``)
waits for an end of file that never comes, the heartbeat stops, the device's lease runs out and every job is
handed back, for as long as that pool child lives (seen in the lab's fault tests under load).

``held()`` marks a section that starts processes; ``install()`` makes every ``os.fork`` of this process wait
until no other thread is inside one, for at most ``FORK_WAIT_S`` seconds, and keeps new sections from starting
until the fork is done. (Forks that ``subprocess`` makes without a ``preexec_fn`` do not count: they exec at
once.) A section whose thread hangs is let go with ``abandon(thread)`` so that it stops delaying forks."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Dict, Iterator

#: Seconds a fork waits for the sections held by other threads (a probe ends within its own deadline first).
FORK_WAIT_S = 60.0

_cond = threading.Condition(threading.Lock())
#: Thread ident → how many sections it is inside.
_active: Dict[int, int] = {}
#: Forks waiting for the sections to end: no new section starts meanwhile (a thread starting processes in a loop
#: would otherwise keep a fork waiting for ever).
_forks_waiting = 0
_installed = False


def _before_fork() -> None:
    global _forks_waiting
    _cond.acquire()  # held through the fork: no section starts meanwhile
    _forks_waiting += 1
    me = threading.get_ident()  # a fork from inside a section (a preexec_fn) does not wait for itself
    deadline = time.monotonic() + FORK_WAIT_S
    while any(ident != me for ident in _active):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        _cond.wait(left)


def _after_fork_in_parent() -> None:
    global _forks_waiting
    _forks_waiting -= 1
    _cond.notify_all()
    _cond.release()


def _after_fork_in_child() -> None:
    global _cond, _forks_waiting
    _cond = threading.Condition(threading.Lock())  # the copy is held, and only the forking thread lives on
    _active.clear()
    _forks_waiting = 0


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
    me = threading.get_ident()
    with _cond:
        while _forks_waiting and me not in _active:  # a fork is waiting: it goes first (a nested section does not wait)
            _cond.wait()
        _active[me] = _active.get(me, 0) + 1
    try:
        yield
    finally:
        with _cond:
            depth = _active.pop(me, 0) - 1
            if depth > 0:
                _active[me] = depth
            _cond.notify_all()


def abandon(thread: threading.Thread) -> None:
    """Forks stop waiting for ``thread``'s sections (it hangs; whatever it opens may leak into a child)."""
    with _cond:
        _active.pop(thread.ident or -1, None)
        _cond.notify_all()
