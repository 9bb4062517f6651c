"""``python -m bench history``: the catalogue brought up to date, the points (or the regressions, or the changes
between two dates) as a table or JSON, and the plot."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..history.catalogue import CatalogError, Filters, open_catalog
from ..history.regressions import method_text
from ..report.history_view import CHANGE_COLUMNS, COLUMNS, _records, changes, judged_points, text_table


class HistoryUsage(ValueError):
    pass


def parse_date(text: Optional[str], flag: str) -> Optional[datetime.datetime]:
    """``YYYY-MM-DD`` or an ISO date-time as naive UTC (a time without a zone is UTC)."""
    if not text:
        return None
    try:
        dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HistoryUsage("%s %r: give a date as YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)" % (flag, text))
    if dt.tzinfo is not None:
        dt = dt.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return dt


def filters_from(args: Any) -> Filters:
    def split(values: Optional[List[str]]) -> List[str]:
        return [x.strip() for v in values or [] for x in v.split(",") if x.strip()]

    f = Filters(device=split(args.device), model=split(args.model), variant=split(args.variant),
                runtime=split(args.runtime), since=parse_date(args.since, "--since"),
                until=parse_date(args.until, "--until"))
    if f.since and f.until and f.until < f.since:
        raise HistoryUsage("--until %s is before --since %s" % (args.until, args.since))
    return f


def cmd_history(args: Any) -> int:
    """``python -m bench history``: update the catalogue, print the points (or regressions, or changes),
    write the plot. Exit 0; 2 on bad arguments or a catalogue held by another process."""
    from ..report.history_plot import history_plot

    try:
        filters = filters_from(args)
        threshold = args.threshold / 100.0
        if not threshold > 0:
            raise HistoryUsage("--threshold %s: give a positive percentage, e.g. 10" % args.threshold)
        with open_catalog(rebuild=args.rebuild, log=lambda line: None) as cat:
            for line in cat.skipped():
                print(line, file=sys.stderr)
            judged = judged_points(cat, filters, threshold)
            changed = changes(cat, filters) if args.changes else None
            base = cat.base
    except (HistoryUsage, CatalogError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    shown = judged[judged["verdict"] == "slower"] if args.regressions else judged
    if args.json:
        payload: Dict[str, Any] = {"method": method_text(threshold), "points": _records(shown)}
        if changed is not None:
            payload["changes"] = _records(changed)
        print(json.dumps(payload, indent=1, default=str))
    else:
        if changed is not None:
            print("changes between %s and %s:" % (args.since or "the first run", args.until or "the last run"))
            print(text_table(_records(changed), CHANGE_COLUMNS) if len(changed) else "  no configuration has two "
                  "usable runs in that span")
            print("")
        if args.regressions:
            print("regressions (%s):" % method_text(threshold))
        if len(shown):
            print(text_table(_records(shown), COLUMNS))
        else:
            print("no regressions" if args.regressions and len(judged) else "no measured runs match")
        invalid = judged[judged["verdict"] == "invalid"]
        if len(invalid):
            print("%d run point(s) not valid: shown, not judged, not used as baseline (verdict 'invalid')"
                  % len(invalid))
    if len(judged):
        out = Path(args.out) if args.out else base / "history.png"
        history_plot(judged, out, "edgebench history — p50 latency per run")
        print("plot: %s" % out.resolve(), file=sys.stderr if args.json else sys.stdout)
    return 0
