"""Plots drawn side by side (bench/report/drawing.py): queued inside the block, drawn by forked processes when it
ends, every file there afterwards, a failed child's share drawn again here, and serial wherever forking is unsafe.

The forking cases run in a fresh single-threaded Python (``_fresh``): a pytest-xdist worker holds an execnet thread,
and the module draws in one process whenever another thread is alive — which the last test checks here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bench.report import drawing

PARENT = os.getpid()


def _plot(label: str, out: Path) -> Path:
    """A stand-in plot function: writes who drew it."""
    out.write_text("%s drawn by %d" % (label, os.getpid()))
    return out


def _fails_in_a_child(label: str, out: Path) -> Path:
    if os.getpid() != PARENT:
        os._exit(3)  # a child dying mid-plot (as if killed)
    return _plot(label, out)


def _always_fails(label: str, out: Path) -> Path:
    raise ValueError("cannot draw %s" % label)


def _drawers(paths: list) -> set:
    return {int(p.read_text().rsplit(" ", 1)[1]) for p in paths}


def _fresh(scenario: str, tmp_path: Path) -> None:
    """Run ``scenario`` (a function of this module taking a folder) in a new Python process with one thread."""
    code = ("import sys; from pathlib import Path; from tests.bench.report import test_drawing as t; "
            "t.%s(Path(sys.argv[1]))" % scenario)
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=root, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]


def queued_then_two_processes(tmp_path: Path) -> None:
    outs = [tmp_path / ("p%d.png" % i) for i in range(5)]
    with drawing.side_by_side(processes=2) as info:
        returned = [drawing.draw(_plot, "plot %d" % i, out) for i, out in enumerate(outs)]
        assert returned == outs and not any(o.exists() for o in outs)  # queued, not drawn yet
    assert all(o.is_file() for o in outs)
    assert info == {"plots": 5, "processes": 2}
    drawers = _drawers(outs)
    assert len(drawers) == 2 and PARENT in drawers


def test_outside_the_block_a_plot_is_drawn_at_once(tmp_path: Path) -> None:
    out = drawing.draw(_plot, "now", tmp_path / "now.png")
    assert out.read_text().endswith(str(PARENT))


def child_failure_drawn_again(tmp_path: Path) -> None:
    outs = [tmp_path / ("p%d.png" % i) for i in range(4)]
    with drawing.side_by_side(processes=2) as info:
        for i, out in enumerate(outs):
            drawing.draw(_fails_in_a_child, "plot %d" % i, out)
    assert info["processes"] == 2
    assert all(o.is_file() for o in outs) and _drawers(outs) == {PARENT}


def failure_raised_in_the_parent(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot draw b"):
        with drawing.side_by_side(processes=2):
            drawing.draw(_plot, "a", tmp_path / "a.png")
            drawing.draw(_always_fails, "b", tmp_path / "b.png")
    # the queue is gone with the block: a later plot is drawn at once
    assert drawing.draw(_plot, "after", tmp_path / "after.png").is_file()


FORKING = pytest.mark.skipif(not hasattr(os, "fork") or drawing.usable_cores() < 2,
                             reason="needs POSIX fork and two usable cores")


@FORKING
def test_queued_plots_are_drawn_by_two_processes_when_the_block_ends(tmp_path: Path) -> None:
    _fresh("queued_then_two_processes", tmp_path)


@FORKING
def test_a_childs_failure_is_drawn_again_here(tmp_path: Path) -> None:
    _fresh("child_failure_drawn_again", tmp_path)


@FORKING
def test_a_plot_that_fails_raises_here_as_it_would_without_children(tmp_path: Path) -> None:
    _fresh("failure_raised_in_the_parent", tmp_path)


def test_an_error_inside_the_block_draws_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with drawing.side_by_side(processes=2):
            drawing.draw(_plot, "x", tmp_path / "x.png")
            raise RuntimeError("the report failed before its plots")
    assert not (tmp_path / "x.png").exists()
    assert drawing.draw(_plot, "after", tmp_path / "after.png").is_file()


def test_with_another_thread_alive_the_plots_are_drawn_here_one_after_another(tmp_path: Path) -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        outs = [tmp_path / ("p%d.png" % i) for i in range(3)]
        with drawing.side_by_side(processes=2) as info:
            for i, out in enumerate(outs):
                drawing.draw(_plot, "plot %d" % i, out)
    finally:
        stop.set()
        other.join()
    assert info["processes"] == 1 and _drawers(outs) == {PARENT}
