"""``python -m bench run | devices | probe | report | compare | history | lab``: the parser and ``main``; each command
lives in its own module beside this one."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional

from ..paths import UnsafePath
from ..plan.inventory import InventoryError
from ..results.store import StoreError
from ..run.powerlog import PowerLogError
from .plan_args import UsageError, _power_log_args, add_plan_flags


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


def _command(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """``name`` from the command module ``bench.cli.<module>``, imported when the command runs (``--help`` and one
    command load nothing the others need: ``history`` pulls pandas and DuckDB, ``run`` does not)."""
    def call(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module("bench.cli." + module), name)(args)

    call.__name__ = name
    return call


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

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
    run.set_defaults(func=_command("run", "cmd_run"))
    dev = sub.add_parser("devices", help="each device: reachable? python? runtimes?")
    dev.set_defaults(func=_command("devices", "cmd_devices"))
    probe = sub.add_parser("probe", help="device facts as JSON")
    probe.add_argument("device", nargs="?", default="local")
    probe.set_defaults(func=_command("devices", "cmd_probe"))
    rep = sub.add_parser("report", help="re-render the report of one or more runs (merged)")
    rep.add_argument("runs", nargs="+", help="run ids or run directories")
    rep.add_argument("--out", help="output folder (default: the run's folder, or results/report-<ids>)")
    _power_log_args(rep)
    rep.set_defaults(func=_command("report", "cmd_report"))
    cmp = sub.add_parser("compare", help="is run B faster, slower or the same as run A? (per job, with a CI)")
    cmp.add_argument("run_a", help="the baseline run (id or directory)")
    cmp.add_argument("run_b", help="the run compared with it")
    cmp.add_argument("--by", action="append", help="pair jobs by these fields (default: device,model,variant,"
                     "runtime,options); e.g. --by device,model to compare an fp32 run with an int8 run")
    cmp.add_argument("--threshold", type=float, default=10.0, metavar="PCT", help="smallest change called faster/"
                     "slower (default 10 %%; raised to the runs' between-round spread)")
    cmp.add_argument("--json", action="store_true", help="machine-readable output")
    cmp.set_defaults(func=_command("compare", "cmd_compare"))
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
    hist.set_defaults(func=_command("history", "cmd_history"))
    from .lab import add_lab_parser

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
        from ..plan.runconfig import ConfigError, load

        run_parser = _subparser(parser, "run")
        try:
            run_parser.set_defaults(**load(Path(args.config), run_parser))
        except ConfigError as exc:
            print("error: %s" % exc, file=sys.stderr)
            return 2
        args = parser.parse_args(argv)
    args.run_parser = _subparser(parser, "run")  # a run saves (and a resume reads) its settings by the run flags
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
