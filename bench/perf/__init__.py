"""Room 8, perf: the harness's own cost measured, not asserted in tests.

  harness.py     ``make perf`` (``python -m bench.perf [section]``): overhead per job, phases, sampler, STREAM
  history.py     ``make perf-history``: the catalogue on a synthetic history of 10,000 jobs
  lab.py         ``make perf-lab``: worker start-up, dispatch per job (single host and lab), a scale run with kills
  stream_ref.py  McCalpin's STREAM compiled here, the reference for the agent's bandwidth kernels

May import every room."""
