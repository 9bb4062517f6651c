"""Room 7, report: tables and plots from stored runs, written as report.md and a self-contained report.html, and
the terminal's summary table. May import: base, plan, results, analysis, history; never the runner, the lab or
the commands.

``render_report`` is loaded on first use (PEP 562): importing ``bench.report.tables`` for a table must not pull
matplotlib, pandas and DuckDB in with the renderer."""

from typing import Any

__all__ = ["render_report"]


def __getattr__(name: str) -> Any:
    if name == "render_report":
        from .render import render_report

        return render_report
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
