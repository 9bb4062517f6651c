"""edgebench host side: plan → deploy → run on device → collect → validate → store → analyse → report, one folder
(room) per stage, each importing only the rooms before it (tests/import_graph.py holds the order):

  paths, fmt, atomic   the base: where things are kept, numbers with units, whole-file writes
  plan/        devices, jobs, run configuration, datasets
  transports/  local, SSH, ADB
  results/     the result schema, a run on disk (JSON, CSV, Parquet)
  analysis/    statistics, validity, ceilings, roofline, energy, scenarios, accuracy, comparisons
  history/     every run as data: the pandas API (``bench.data``), the DuckDB catalogue, regressions
  run/         deploy, one agent per job, collect, judge, store; events and progress
  report/      tables, plots, report.md and report.html
  cli/, lab/, perf/   the commands: ``python -m bench``, the device lab, ``make perf``"""

HARNESS_VERSION = "0.1.0"
__version__ = HARNESS_VERSION
