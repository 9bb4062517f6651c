"""Room 4, analysis: what stored measurements mean — statistics, each job's validity verdict, the ceilings a job is
held to and its roofline placement, energy, operators, scenarios, accuracy, and the comparison of two runs.

  stats.py        latency statistics in bounded memory, CIs, Mann-Whitney (numpy only)
  validity.py     can this number be trusted? a verdict per job from its samples and conditions
  rows.py         one row per job: the figures a reader compares, with its verdict
  ceilings.py     the ceilings cache judged (stale, trusted, spread across measurements), datasheet peaks
  peaks.py        the ceiling a job is held to
  roofline.py     a job placed against its device's roofline
  energy.py       a job's energy figures
  operators.py    per-operator placement from ONNX Runtime's profile
  scenarios.py    sustained runs: steady state, the step and its cause; sweeps
  accuracy.py     a job's accuracy scored, its delta against FP32, the sweet spot
  compare.py      roofline and energy points, the framework comparison (what the report plots)
  run_compare.py  ``bench compare``: is run B faster than run A, per job, with a CI
  reference/      datasheet peaks of known devices, with their sources

May import: base, plan, results. Never run, report or the commands: a verdict does not depend on how it is shown."""
