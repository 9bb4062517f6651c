"""Room 6, run: a plan carried out — the agent and artifacts deployed by hash, one fresh agent process per job,
its answer collected through the schema, judged and stored; devices in parallel, jobs on a device in sequence.

  runner.py    run_plan: deploy, run, collect, validate, store; interruption and resume
  deploy.py    the agent package, models and datasets pushed by content hash and verified
  ceilings.py  a device's ceilings measured by the agent's microbenchmarks, cached
  native.py    native mode: the user's vendor benchmark binary on a phone without Python
  powerlog.py  energy from a power log captured on the device, aligned to each job
  events.py    what a run tells as it goes (typed events) and its subscribers
  progress.py  the terminal's progress printer (an events subscriber)

May import: base, plan, transports, results, analysis (each job is judged as it lands), device_agents (pure
helpers) and models. Never report, lab or cli."""
