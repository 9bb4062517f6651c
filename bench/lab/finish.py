"""The end of a lab run: once every job counted (a result or a recorded loss), one process renders the tables
and the report exactly as ``bench run`` does and marks the run ``complete`` (or ``complete_with_errors``)."""

from __future__ import annotations

from typing import Any, Callable, Dict

from ..results.store import RunStore
from . import keys, records


def finalize_if_done(client: Any, store: RunStore, done: int, total: int, printer: Callable[[str], None]) -> bool:
    """Finish the run when ``done`` reached ``total``; exactly one caller does it (a Redis SET NX). True if
    this call finished it."""
    if total <= 0 or done < total:
        return False
    if not client.set(keys.finalize_lock(store.run_id), "1", nx=True, ex=7 * 86400):
        return False
    from ..report.finish import finish_run

    finished = set(store.finished_ids())
    remaining = [j.job_id for j in store.planned_jobs() if j.job_id not in finished]
    counts: Dict[str, int] = {}
    for r in store.results():
        counts[r.get("status", "error")] = counts.get(r.get("status", "error"), 0) + 1
    try:
        finish_run(store, printer=printer)
    finally:  # the state says what is there even when the report failed (re-render: bench report RUN)
        state = "complete" if not remaining else "complete_with_errors"
        store.set_state(state, counts=counts)
        records.set_run_state(client, store.run_id, state)
    return True
