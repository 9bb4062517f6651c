"""Room 8, lab: devices on several hosts, matrices from several users, on Celery with a Redis broker.

  app.py        the Celery app and its configuration (JSON only, at-most-once, one job at a time per worker)
  keys.py       names: queues (``dev.<device>``, one sub-queue per user) and the lab's Redis keys
  records.py    the lab's own bookkeeping in Redis: worker heartbeats, running jobs, run progress
  artifacts.py  the shared, content-addressed artifact store every lab host reads
  tasks.py      the one task: run one planned job on this worker's device, store its result
  worker.py     the worker bootstep (health, quarantine, heartbeat, lost jobs) and ``lab worker``
  lost.py       jobs whose worker died: resubmitted once, then recorded as lost
  health.py     the device probe a worker runs before consuming and periodically
  submit.py     ``lab submit``: plan as ``bench run`` does, publish artifacts, queue the jobs
  status.py     ``lab status`` and ``lab wait``
  finish.py     the end of a lab run: tables and report, as ``bench run`` writes them
  gate.py       the one gate every job message passes (signature, ids, the run, the artifact by hash)

Its command line is bench/cli/lab.py and ``make perf-lab`` is bench/perf/lab.py. May import every room below it
(plan, results, analysis, run, report) and bench.cli.plan_args (the plan flags ``lab submit`` shares with ``run``).
"""
