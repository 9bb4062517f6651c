"""Plots drawn side by side: a report's plots are independent PNG files, so inside ``side_by_side()`` each call
through ``draw`` is queued and, when the block ends, the queue is split across forked processes (one per usable
core, at most one per plot) that draw their share and exit — matplotlib already imported, nothing pickled.

Drawing is the largest part of a report's cost (text layout and rasterising, 0.1–0.5 s a plot on the 2-core test
machine) and a run's report is written while the user waits. Forking is used only where it is safe: a POSIX
``os.fork``, at least two usable cores and two plots, and a process with one thread (a lab worker's heartbeat
thread, or any other, means the plots are drawn here, one after another). A child that fails or is killed is not
trusted: its plots are drawn again in this process, so an error is raised here exactly as it would have been
without the children. Outside ``side_by_side()`` (tests, ``bench history``) ``draw`` draws at once.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Tuple

PlotCall = Tuple[Callable[..., Path], Tuple[Any, ...]]

_local = threading.local()


def draw(fn: Callable[..., Path], *args: Any) -> Path:
    """``fn(*args)`` — a plot function whose last argument is its output path, which it returns — now, or inside
    ``side_by_side()`` queued; either way the path the image has (or will have when the block ends)."""
    pending: Optional[List[PlotCall]] = getattr(_local, "pending", None)
    if pending is None:
        return fn(*args)
    pending.append((fn, args))
    return args[-1]


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@contextmanager
def side_by_side(processes: Optional[int] = None) -> Iterator[dict]:
    """Queue the ``draw`` calls made inside the block; draw them all (in up to ``processes`` processes, default one
    per usable core) when it ends without an exception. Yields a dict that then holds ``plots`` (how many) and
    ``processes`` (how many drew them)."""
    info = {"plots": 0, "processes": 1}
    outer = getattr(_local, "pending", None)
    _local.pending = []
    try:
        yield info
        calls = _local.pending
    finally:
        _local.pending = outer
    info["plots"] = len(calls)
    info["processes"] = draw_all(calls, processes)


def draw_all(calls: List[PlotCall], processes: Optional[int] = None) -> int:
    """Draw every call; returns the number of processes that drew them (1: here, one after another)."""
    n = min(processes or usable_cores(), len(calls))
    if n < 2 or not hasattr(os, "fork") or threading.active_count() > 1:
        for fn, args in calls:
            fn(*args)
        return 1
    shares = [calls[i::n] for i in range(n)]
    sys.stdout.flush()
    sys.stderr.flush()
    children: List[Tuple[int, List[PlotCall]]] = []
    mine = list(shares[0])
    try:
        for share in shares[1:]:
            try:
                pid = os.fork()
            except OSError:  # no process to be had: this share is drawn here
                mine += share
                continue
            if pid == 0:  # the child: draw its share, leave without running the parent's exit handlers
                code = 0
                try:
                    for fn, args in share:
                        fn(*args)
                except BaseException:  # noqa: B902 — any failure: the parent draws this share again
                    code = 1
                finally:
                    os._exit(code)
            children.append((pid, share))
        for fn, args in mine:
            fn(*args)
    finally:
        again: List[PlotCall] = []
        for pid, share in children:
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                again += share
    for fn, args in again:  # a child failed or was killed: draw here, so its error (if any) is raised here
        fn(*args)
    return len(children) + 1
