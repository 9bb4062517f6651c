"""The device lab: devices on several hosts, matrices from several users, on Celery with a Redis broker.

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
  cli.py        the ``lab`` subcommands
  perf.py       ``make perf-lab``: start-up, memory, dispatch overhead, a simulated scale run
"""
