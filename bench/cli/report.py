"""``python -m bench report RUN [RUN …]``: render the report of one run again, or of several merged."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..results.store import RunStore
from ..run.powerlog import attach_and_print


def cmd_report(args: argparse.Namespace) -> int:
    from ..paths import results_root
    from ..report import render_report
    from ..analysis.rows import rows_for

    stores = [RunStore.open(r) for r in args.runs]
    if args.power_log:
        for s in stores:
            attach_and_print(s, args.power_log, args.power_log_kind or "")
    if len(stores) == 1 and not args.out:
        out = stores[0].root
        stores[0].write_tables(rows_for(stores[0].results(), stores[0].run_id))
    else:
        out = Path(args.out) if args.out else results_root() / ("report-" + "+".join(s.run_id for s in stores))
    paths = render_report(stores, out)
    print("report: %s" % paths["html"].resolve())
    return 0
