"""The end of a run, as ``bench run`` and the lab both finish one: the tables (CSV, Parquet), the report, and the
terminal's summary (the table, the rounds' agreement, the report's path)."""

from __future__ import annotations

from typing import Any

from ..results.store import RunStore


def finish_run(store: RunStore, printer: Any = print) -> None:
    from . import render_report
    from ..analysis.rows import rows_for
    from .tables import text_table

    rows = rows_for(store.results(), store.run_id)
    store.write_tables(rows)
    paths = render_report([store], store.root)
    printer("")
    printer(text_table(rows))
    from .trust import rounds_rows

    for g in rounds_rows([dict(r, run_id=store.run_id) for r in store.results()]):
        printer("rounds  %s: p50 %s ms — between-round spread %s vs within-run CI95 ±%s: %s" % (
            g["group"], g["round_p50s"], "%.1f %%" % g["between_pct"] if g["between_pct"] is not None else "—",
            "%.2f %%" % g["within_pct"] if g["within_pct"] is not None else "—",
            {"yes": "rounds agree", "NO": "rounds DISAGREE (the number does not reproduce)"}.get(g["agree"], "—")))
    printer("")
    printer("report: %s" % paths["html"].resolve())
