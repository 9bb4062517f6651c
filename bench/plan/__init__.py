"""Room 1, plan: what to run, before anything runs — the device inventory (devices.yaml), the matrix of
models x variants x runtimes x devices expanded into jobs with stable ids, run configuration files, and the user's
dataset checked before a run folder exists.

  inventory.py  devices described, not coded (``local`` always exists)
  jobs.py       PlannedJob, ArtifactRef, job ids (stable across --resume), plan_jobs
  runconfig.py  ``--config run.yaml``: the run flags as a file
  dataset.py    ``--dataset FILE``: loaded, checked against each model, attached to the jobs

May import: the base modules (bench.paths, bench.fmt, bench.atomic), device_agents (pure helpers) and models."""
