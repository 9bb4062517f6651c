"""Room 5, history: every run under ``results/`` as data — the pandas API, the DuckDB catalogue and regressions
against a configuration's recent history. Public names: ``bench.data`` (the pandas API) and ``bench.history``
(the catalogue: ``open_catalog``, ``Catalog``, ``Filters`` …) stay importable.

  data.py         results as pandas DataFrames (one run, several, every run)
  catalogue.py    ``results/catalog.duckdb``, derived from the run folders, updated one run at a time
  regressions.py  is a run's p50 outside its configuration's recent band?

May import: base, plan, results, analysis (a job's row carries its verdict)."""

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    """``bench.history.Catalog`` and the catalogue's other names, loaded on first use (PEP 562): importing
    ``bench.history.regressions`` must not load DuckDB."""
    if name.startswith("__") or name in ("catalogue", "data", "regressions"):
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    catalogue = importlib.import_module(__name__ + ".catalogue")
    try:
        return getattr(catalogue, name)
    except AttributeError:
        raise AttributeError("module %r has no attribute %r" % (__name__, name)) from None
