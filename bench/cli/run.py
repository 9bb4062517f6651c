"""``python -m bench run``: plan from the flags (or resume a run), check the devices answer, run the jobs with the
terminal's progress, then the tables and the report; the exit code says what happened (0 measured, 1 jobs without a
measurement, 2 bad input, 3 results disk full, 4 --strict and a job not valid, 130 interrupted)."""

from __future__ import annotations

import argparse
import errno
import sys
from typing import Any, Dict, List

from ..plan.inventory import load_inventory, resolve_devices
from ..report.finish import finish_run
from ..results.store import RunStore
from ..run.powerlog import attach_and_print
from .plan_args import UsageError, _split, plan_from_args, refuse_unrunnable, wanted_variants


def preflight(devices: List[Any]) -> None:
    """Before models are built or a run folder exists: every remote device answers and can move files
    (SSH with SFTP, ADB). UsageError with one line per device that does not, naming the fix."""
    from ..transports import TransportError, transport_session

    problems = []
    for dev in devices:
        if dev.transport == "local":
            continue
        try:
            with transport_session(dev, warn=lambda line: print(line, file=sys.stderr)) as transport:
                transport.pull(transport.join(".edgebench-preflight-absent"))
        except FileNotFoundError:
            pass  # the device answered: the file is not there, as expected
        except (TransportError, OSError) as exc:
            problems.append("device %r is not ready: %s" % (dev.name, str(exc).strip().splitlines()[0][:1000]))
    if problems:
        raise UsageError("\n".join(problems) + "\n(nothing was run; check with: python -m bench devices, or leave "
                         "the device out of --device)")


#: Failures that say nothing about the job itself: the same job may pass when run again.
RETRYABLE = {"transport", "timeout", "interrupted", "agent_crash", "host", "device_busy", "model_corrupt",
             "model_missing", "harness", "bad_result", "worker_lost", "lost"}


def resume_advice(store: RunStore, remaining: List[str]) -> str:
    """What to do about the jobs without a measurement: ``--resume`` for those a retry could fix (a link, a
    timeout, a busy device); for the rest (the model does not load, its inputs cannot be made, a bad
    option) the cause must be fixed first — each is named with its error type."""
    by_id = {r.get("job_id"): r for r in store.results()}
    retry = [j for j in remaining if (by_id.get(j) or {}).get("error_type") in RETRYABLE or j not in by_id]
    fixed = sorted({"%s (%s)" % (j, (by_id.get(j) or {}).get("error_type")) for j in remaining if j not in retry})
    lines = ["%d job(s) without a measurement (see the report)." % len(remaining)]
    if retry:
        lines.append("%d could pass on retry (link, timeout, busy device, crash): python -m bench run --resume %s"
                     % (len(retry), store.run_id))
    if fixed:
        lines.append("%d will fail the same way until their cause is fixed (the report says why): %s"
                     % (len(fixed), ", ".join(fixed[:5]) + (" …" if len(fixed) > 5 else "")))
    return "\n".join(lines)


def _save_config(args: argparse.Namespace, store: RunStore) -> None:
    """results/<run>/run.yaml: the run's effective settings and the command that reproduces it."""
    from ..plan.runconfig import dump, effective
    from ..results.store import atomic_write

    parser = args.run_parser
    text = dump(effective(args, parser), store.run_id)
    atomic_write(store.root / "run.yaml", lambda fh: fh.write(text))


#: Run-level settings a resume takes from the run's own run.yaml unless given again on the command line (the
#: jobs' own settings — measure spec, options, timeouts — are in its manifest already).
RESUMED_SETTINGS = ("ceilings", "strict")


def _resume_settings(args: argparse.Namespace, store: RunStore) -> None:
    """A resume continues with the run's own settings: ``--ceilings skip`` stays skip."""
    from ..plan.runconfig import ConfigError, load

    saved_path = store.root / "run.yaml"
    if not saved_path.is_file():
        return
    given = {a.split("=")[0] for a in sys.argv[1:] if a.startswith("--")}
    try:
        saved = load(saved_path, args.run_parser)
    except ConfigError as exc:
        print("note: %s; resuming with the command line's settings" % exc, file=sys.stderr)
        return
    for key in RESUMED_SETTINGS:
        if key in saved and saved[key] is not None and "--" + key.replace("_", "-") not in given:
            setattr(args, key, saved[key])


def cmd_run(args: argparse.Namespace) -> int:
    if args.power_log:
        from ..run.powerlog import check_kind

        check_kind(args.power_log_kind or "")
    from device_agents.phases import Phases

    phases = Phases()
    inventory = load_inventory()
    if args.resume is not None and not args.resume.strip():
        raise UsageError("--resume needs a run id (e.g. --resume 20261207-041614-38c7); the runs are the folders "
                         "under results/, and python -m bench history lists them")
    if args.resume:
        store = RunStore.open(args.resume).lock()  # before reading what is finished: one harness per run
        _resume_settings(args, store)
        jobs = store.planned_jobs()
        done = set(store.finished_ids())
        todo = [j for j in jobs if j.job_id not in done]
        devices = {d.name: d for d in resolve_devices(sorted({j.device for j in jobs}), inventory)}
        print("resuming %s: %d of %d job(s) finished, %d to run" % (store.run_id, len(done), len(jobs), len(todo)))
    else:
        device_names = _split(args.device) or ["local"]
        devices = {d.name: d for d in resolve_devices(device_names, inventory)}
        refuse_unrunnable(wanted_variants(args), {n: d.device_class for n, d in devices.items()})
        if not args.no_preflight:
            with phases.phase("preflight"):
                preflight(list(devices.values()))
        with phases.phase("plan"):  # models built or found in the cache, options checked
            todo = plan_from_args(args, device_names, {n: d.device_class for n, d in devices.items()})
        for job in todo:  # a device's own job timeout (devices.yaml options.job_timeout_s) wins
            own = devices[job.device].options.get("job_timeout_s") if job.device in devices else None
            if own:
                job.timeout_s = float(own)
        store = RunStore.create(todo, sys.argv).lock()
        _save_config(args, store)
        print("run %s: %d job(s) on %s → %s" % (store.run_id, len(todo), ", ".join(device_names), store.root))
    try:
        return _run_locked(args, store, todo, devices, phases)
    finally:
        store.unlock()


def _run_locked(args: argparse.Namespace, store: RunStore, todo: List[Any], devices: Dict[str, Any],
                phases: Any = None) -> int:
    from ..run.runner import Interrupted, run_plan
    from ..results.store import ResultsDiskFull

    from ..run.progress import ProgressPrinter

    from device_agents.phases import Phases

    phases = phases if phases is not None else Phases()
    progress = ProgressPrinter(len(todo))
    try:
        try:
            with phases.phase("jobs"):
                counts = run_plan(store, todo, devices, events=progress.handle, ceilings=args.ceilings)
        finally:
            progress.close()
    except Interrupted:
        finished = len(store.finished_ids())
        store.set_state("interrupted")
        print("\ninterrupted: %d job(s) finished and kept in %s\nresume with: python -m bench run --resume %s"
              "   (or: make bench RESUME=%s)" % (finished, store.root, store.run_id, store.run_id))
        return 130
    except ResultsDiskFull as exc:
        try:
            store.set_state("interrupted", reason="results disk full")
        except (ResultsDiskFull, OSError):
            pass  # the manifest from the start stays ('running'): --resume still works
        print("\n%s" % exc, file=sys.stderr)
        return 3
    finished_ids = set(store.finished_ids())  # once: each call reads every job file
    remaining = [j.job_id for j in store.planned_jobs() if j.job_id not in finished_ids]
    if args.power_log:
        attach_and_print(store, args.power_log, args.power_log_kind)
    try:
        try:
            store.set_state(store.manifest().get("state", "running"), phases_s=phases.to_json())
            with phases.phase("report"):  # tables, plots, the history catalogue, report.md and .html
                finish_run(store)
        except OSError as exc:  # the report's plots (matplotlib) hit a full disk as a plain OSError
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise ResultsDiskFull("results disk full while writing the report (%s)" % exc.strerror)
        # 'complete' only once the tables and the report are on disk
        store.set_state("complete" if not remaining else "complete_with_errors", counts=counts,
                        phases_s=phases.to_json())
    except ResultsDiskFull as exc:
        print("\n%s: every job result is kept in %s; free space, then re-render with: python -m bench report %s"
              % (exc, store.root / "jobs", store.run_id), file=sys.stderr)
        return 3
    for skipped in store.skipped:
        print("skipped unreadable job file %s" % skipped, file=sys.stderr)
    if args.strict:
        from ..analysis.validity import invalid_jobs

        bad = invalid_jobs(store.results())
        if bad:
            print("--strict: %d measured job(s) are not valid: %s" % (len(bad), ", ".join(bad)), file=sys.stderr)
            return 4
    if remaining:
        print(resume_advice(store, remaining))
        return 1
    results = store.results()
    if results and not any(r.get("status") == "ok" for r in results):
        kinds = sorted({str(r.get("status")) for r in results})
        print("no job measured anything (%s): see the report for what each device lacks and how to install it"
              % ", ".join(kinds), file=sys.stderr)
        return 1
    return 0
