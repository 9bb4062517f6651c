"""``python -m bench run | devices | probe | report | compare | history`` — the host's command line."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from .inventory import InventoryError, load_inventory, resolve_devices
from .paths import UnsafePath
from .powerlog import PowerLogError
from .store import RunStore, StoreError
from .report.finish import finish_run
from .plan_args import (FORMAT_RUNTIME, OutOfRange, UsageError, _file_artifact, _power_log_args, _split,  # noqa: F401
                        add_plan_flags, at_least, check_model_file, check_option, measure_spec, parse_shapes,
                        plan_from_args, refuse_unrunnable, runtime_options, scenario_spec, sweep_of, wanted_variants,
                        zoo_artifacts)


def _attach_log(store: RunStore, log: str, kind: str) -> None:
    from .powerlog import attach

    for job, mj, reason in attach(store, Path(log), kind):
        print("power log %s: %s" % (job, "%.3f mJ/inference" % mj if mj is not None else "no energy: %s" % reason))


def preflight(devices: List[Any]) -> None:
    """Before models are built or a run folder exists: every remote device answers and can move files
    (SSH with SFTP, ADB). UsageError with one line per device that does not, naming the fix."""
    from .transports import TransportError, transport_session

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
            problems.append("device %r is not ready: %s" % (dev.name, str(exc).strip().splitlines()[0][:300]))
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
    from .runconfig import dump, effective
    from .store import atomic_write

    parser = getattr(args, "run_parser", None) or _subparser(build_parser(), "run")
    text = dump(effective(args, parser), store.run_id)
    atomic_write(store.root / "run.yaml", lambda fh: fh.write(text))


#: Run-level settings a resume takes from the run's own run.yaml unless given again on the command line (the
#: jobs' own settings — measure spec, options, timeouts — are in its manifest already).
RESUMED_SETTINGS = ("ceilings", "strict")


def _resume_settings(args: argparse.Namespace, store: RunStore) -> None:
    """A resume continues with the run's own settings: ``--ceilings skip`` stays skip."""
    from .runconfig import ConfigError, load

    saved_path = store.root / "run.yaml"
    if not saved_path.is_file():
        return
    given = {a.split("=")[0] for a in sys.argv[1:] if a.startswith("--")}
    try:
        saved = load(saved_path, getattr(args, "run_parser", None) or _subparser(build_parser(), "run"))
    except ConfigError as exc:
        print("note: %s; resuming with the command line's settings" % exc, file=sys.stderr)
        return
    for key in RESUMED_SETTINGS:
        if key in saved and saved[key] is not None and "--" + key.replace("_", "-") not in given:
            setattr(args, key, saved[key])


def cmd_run(args: argparse.Namespace) -> int:
    if args.power_log:
        from .powerlog import check_kind

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
    from .runner import Interrupted, run_plan
    from .store import ResultsDiskFull

    from .progress import ProgressPrinter

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
    remaining = [j.job_id for j in store.planned_jobs() if j.job_id not in set(store.finished_ids())]
    if args.power_log:
        _attach_log(store, args.power_log, args.power_log_kind)
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
        from .validity import invalid_jobs

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


def _probe(device: Any, timeout_s: float = 60.0) -> Dict[str, Any]:
    from .deploy import PushStats, agent_env, check_workdir, deploy_agent
    from .transports import transport_session

    with transport_session(device) as transport:
        if device.transport == "adb" and not device.python:
            from .native import phone_facts

            return phone_facts(device, transport, timeout_s=min(timeout_s, 30.0))
        check_workdir(transport, device.python, device.name, timeout_s=timeout_s)
        agent = deploy_agent(transport, PushStats())
        res = transport.exec([device.python, "-m", "device_agents", "probe"], timeout_s=timeout_s,
                             cwd=transport.root, env=agent_env(agent, transport.root))
    if res.timed_out or res.returncode != 0:
        raise RuntimeError("probe on %s failed (%s): %s" % (device.name, "timeout" if res.timed_out else
                                                           "exit %s" % res.returncode, res.stderr.strip()[-300:]))
    return json.loads(res.stdout)


def cmd_devices(args: argparse.Namespace) -> int:
    inventory = load_inventory()
    rows = []
    for name, dev in sorted(inventory.items()):
        row = {"device": name, "class": dev.device_class, "transport": dev.transport,
               "address": dev.host or getattr(dev, "serial", None) or "-", "reachable": "no", "python": "-", "runtimes": "-", "sensors": "-",
               "note": ""}
        try:
            facts = _probe(dev)
            row["reachable"] = "yes"
            row["python"] = facts.get("python_version") or "- (native mode)"
            row["runtimes"] = ", ".join("%s %s" % (k, v.get("version")) if v.get("available") else "%s: missing" % k
                                        for k, v in sorted(facts["runtimes"].items()))
            row["sensors"] = ", ".join(k for k, v in sorted((facts.get("sensors") or {}).items())
                                       if v.get("available")) or "none"
            row["note"] = "%s %s, %s cores" % (facts.get("arch"), facts.get("cpu_model") or "", facts.get("cpu_cores_logical"))
        except Exception as exc:
            row["note"] = str(exc)[:200]
        rows.append(row)
    from .paths import inventory_path

    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("inventory: %s%s" % (inventory_path().resolve(), "" if inventory_path().is_file() else
                               " (not there: only 'local'; copy devices.example.yaml to add devices)"))
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))
    down = [r["device"] for r in rows if r["reachable"] != "yes"]
    if down:
        print("%d device(s) not reachable: %s (the note column says why)" % (len(down), ", ".join(down)),
              file=sys.stderr)
        return 1
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    device = resolve_devices([args.device], load_inventory())[0]
    print(json.dumps(_probe(device), indent=1, sort_keys=True))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .paths import results_root
    from .report import render_report
    from .report.tables import rows_for

    stores = [RunStore.open(r) for r in args.runs]
    if args.power_log:
        for s in stores:
            _attach_log(s, args.power_log, args.power_log_kind or "")
    if len(stores) == 1 and not args.out:
        out = stores[0].root
        stores[0].write_tables(rows_for(stores[0].results(), stores[0].run_id))
    else:
        out = Path(args.out) if args.out else results_root() / ("report-" + "+".join(s.run_id for s in stores))
    paths = render_report(stores, out)
    print("report: %s" % paths["html"].resolve())
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import CompareError, main_compare

    try:
        print(main_compare(RunStore.open(args.run_a), RunStore.open(args.run_b), _split(args.by) or None,
                           args.threshold / 100.0, args.json))
    except CompareError as exc:
        raise UsageError(str(exc))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from .history_view import cmd_history as history

    return history(args)


EXAMPLES = """examples:
  python -m bench run                                  the default models on this machine
  python -m bench run -m tinybert-4,mobilevit-xs --runtimes torch,executorch,onnxruntime,litert
  python -m bench run -d board --variants onnx-fp32,onnx-int8-dynamic --threads 2
  python -m bench run --model-file my.onnx --seq-len 64 --batch 4
  python -m bench run --resume RUN_ID                  finish an interrupted run
  python -m bench devices                              is every device reachable, which runtimes has it
  python -m bench compare RUN_A RUN_B                  is B faster than A, with confidence
  python -m models list                                models, sets and variant names
"""


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="python -m bench", description="edgebench: benchmark lightweight "
                                     "transformers on edge devices (host side).", epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version="edgebench %s" % __version__)
    parser.add_argument("--inventory", metavar="YAML", help="the device inventory (default: $EDGEBENCH_INVENTORY, "
                        "else ./devices.yaml, else the repository's devices.yaml)")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="plan, deploy, run and report")
    run.add_argument("--config", metavar="YAML", help="settings from a file (the flags' names: models, variants, "
                     "runs, option, shapes, …); flags on the command line win. Each run saves its own as run.yaml")
    add_plan_flags(run)
    run.add_argument("--resume", metavar="RUN_ID", help="finish an interrupted run: skip its finished jobs")
    run.add_argument("--no-preflight", action="store_true", help="start even if a device does not answer now "
                     "(its jobs then fail on the link, and after 3 in a row the rest are recorded not tried)")
    run.add_argument("--strict", action="store_true", help="exit non-zero (4) when any measured job is not valid "
                     "(noisy, contended, throttled, multi-modal, a level shift, a clock jump)")
    _power_log_args(run)
    run.set_defaults(func=cmd_run)
    dev = sub.add_parser("devices", help="each device: reachable? python? runtimes?")
    dev.set_defaults(func=cmd_devices)
    probe = sub.add_parser("probe", help="device facts as JSON")
    probe.add_argument("device", nargs="?", default="local")
    probe.set_defaults(func=cmd_probe)
    rep = sub.add_parser("report", help="re-render the report of one or more runs (merged)")
    rep.add_argument("runs", nargs="+", help="run ids or run directories")
    rep.add_argument("--out", help="output folder (default: the run's folder, or results/report-<ids>)")
    _power_log_args(rep)
    rep.set_defaults(func=cmd_report)
    cmp = sub.add_parser("compare", help="is run B faster, slower or the same as run A? (per job, with a CI)")
    cmp.add_argument("run_a", help="the baseline run (id or directory)")
    cmp.add_argument("run_b", help="the run compared with it")
    cmp.add_argument("--by", action="append", help="pair jobs by these fields (default: device,model,variant,"
                     "runtime,options); e.g. --by device,model to compare an fp32 run with an int8 run")
    cmp.add_argument("--threshold", type=float, default=10.0, metavar="PCT", help="smallest change called faster/"
                     "slower (default 10 %%; raised to the runs' between-round spread)")
    cmp.add_argument("--json", action="store_true", help="machine-readable output")
    cmp.set_defaults(func=cmd_compare)
    hist = sub.add_parser("history", help="p50 over time across runs (DuckDB catalogue of results/), regressions, "
                          "a plot")
    for name in ("model", "variant", "device", "runtime"):
        hist.add_argument("--%s" % name, action="append", help="only these %ss (comma separated)" % name)
    hist.add_argument("--since", metavar="DATE", help="only points from this date (YYYY-MM-DD or ISO time, UTC); "
                      "earlier runs still serve as baseline")
    hist.add_argument("--until", metavar="DATE", help="only points up to this date (UTC)")
    hist.add_argument("--regressions", action="store_true", help="list only runs judged slower than their "
                      "configuration's recent history (method and threshold are printed)")
    hist.add_argument("--changes", action="store_true", help="per configuration: p50 at --since vs at --until")
    hist.add_argument("--threshold", type=float, default=10.0, metavar="PCT", help="smallest change called a "
                      "regression (default 10 %%; widened to 3x the configuration's own run-to-run spread)")
    hist.add_argument("--out", metavar="PNG", help="where to write the plot (default: results/history.png)")
    hist.add_argument("--rebuild", action="store_true", help="delete the catalogue and build it again from the "
                      "run folders")
    hist.add_argument("--json", action="store_true", help="machine-readable output")
    hist.set_defaults(func=cmd_history)
    from .lab.cli import add_lab_parser

    add_lab_parser(sub)
    _no_abbreviations(parser)
    return parser


def _no_abbreviations(parser: argparse.ArgumentParser) -> None:
    """``--thread 2`` is an error, not ``--threads 2``: a prefix of a flag is never taken for the flag, in every
    (sub)command (argparse's allow_abbrev, set after the parsers are built so the lab's are covered too)."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _no_abbreviations(sub)


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt()


def main(argv: Optional[List[str]] = None) -> int:
    import signal

    signal.signal(signal.SIGTERM, _terminate)  # a killed run keeps its results and says how to resume, like Ctrl-C
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", None):
        from .runconfig import ConfigError, load

        run_parser = _subparser(parser, "run")
        try:
            run_parser.set_defaults(**load(Path(args.config), run_parser))
        except ConfigError as exc:
            print("error: %s" % exc, file=sys.stderr)
            return 2
        args = parser.parse_args(argv)
        args.run_parser = run_parser
    if args.inventory:
        os.environ["EDGEBENCH_INVENTORY"] = args.inventory
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:  # outside a run's own handling: model conversion, planning, a probe
        print("\ninterrupted before any measurement: nothing was lost — models built so far stay in the cache; "
              "run the same command again to go on", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)  # now: libraries' exit handlers (torch, onnx) can re-raise the interrupt at shutdown
    except (InventoryError, StoreError, UsageError, PowerLogError, UnsafePath) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    except KeyError as exc:  # unknown model/variant names from the zoo
        print("error: %s" % (exc.args[0] if exc.args else exc), file=sys.stderr)
        return 2
