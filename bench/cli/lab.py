"""``python -m bench lab keygen | worker | submit | status | wait`` — the lab's command line (Celery is imported only
when a lab command runs, so ``bench run`` works without the ``lab`` extra)."""

from __future__ import annotations

import argparse
from typing import Any


def _broker_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", metavar="URL", help="the lab's Redis, e.g. redis://127.0.0.1:6379/0 or "
                   "rediss://:PASSWORD@lab:6380/0 (default: $EDGEBENCH_BROKER)")
    p.add_argument("--insecure-broker", action="store_true", help="accept a broker on a network address without a "
                   "password (anyone who reaches it can read and delete the lab's queues; messages stay signed)")


def cmd_keygen(args: argparse.Namespace) -> int:
    """``lab keygen``: write the lab's secret (HMAC key) to $EDGEBENCH_LAB_SECRETS."""
    from pathlib import Path

    from ..lab.auth import keygen, secrets_dir

    path = keygen(Path(args.dir) if args.dir else secrets_dir(), rotate=args.rotate)
    print("lab secret written to %s (mode 0600). Copy this file to the same place on every lab host and every "
          "submitter (scp, a secrets manager; never through the broker)%s." % (
              path, "; messages are now signed with the new key, the old ones still verify" if args.rotate else ""))
    return 0


def _cmd(name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        from importlib import import_module

        module, func = {"worker": ("worker", "cmd_worker"), "submit": ("submit", "cmd_submit"),
                        "status": ("status", "cmd_status"), "wait": ("status", "cmd_wait")}[name]
        return getattr(import_module("bench.lab." + module), func)(args)

    return run


def add_lab_parser(sub: Any) -> None:
    """Add ``lab`` and its subcommands to the ``python -m bench`` parser."""
    from .plan_args import add_plan_flags

    lab = sub.add_parser("lab", help="the device lab (Celery + Redis): keygen, worker, submit, status, wait")
    lsub = lab.add_subparsers(dest="lab_command")
    k = lsub.add_parser("keygen", help="create the lab's secret that signs every job message ($EDGEBENCH_LAB_SECRETS)")
    k.add_argument("--rotate", action="store_true", help="add a new key to an existing secret (the old keys still "
                   "verify until removed from the file)")
    k.add_argument("--dir", help="where to write it (default: $EDGEBENCH_LAB_SECRETS or ~/.config/edgebench/lab)")
    k.set_defaults(func=cmd_keygen)
    w = lsub.add_parser("worker", help="one Celery worker per device this host owns (queue dev.<device>)")
    w.add_argument("--devices", required=True, help="device names from this host's devices.yaml, comma separated")
    w.add_argument("--health-interval-s", type=float, default=None, help="probe each device this often "
                   "(default 30 s; $EDGEBENCH_LAB_HEALTH_S)")
    w.add_argument("--no-restart", action="store_true", help="do not restart a device worker that died "
                   "(by default one that dies is restarted, like systemd's Restart=on-failure)")
    _broker_flag(w)
    w.set_defaults(func=_cmd("worker"))
    s = lsub.add_parser("submit", help="queue a benchmark matrix (the flags of `bench run`)")
    add_plan_flags(s)
    s.add_argument("--priority", type=int, default=5, choices=range(10), metavar="0-9",
                   help="this submission's priority: 9 runs first, 0 last (default 5)")
    s.add_argument("--user", help="whose matrix this is, for fairness between users (default: the login name)")
    s.add_argument("--offline-ok", action="store_true", help="queue jobs for devices that have no lab worker now "
                   "(they wait until one starts)")
    s.add_argument("--wait", action="store_true", help="then follow the run as `lab wait` does")
    _broker_flag(s)
    s.set_defaults(func=_cmd("submit"))
    st = lsub.add_parser("status", help="devices (healthy / quarantined / busy), queues, running jobs, per user")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    _broker_flag(st)
    st.set_defaults(func=_cmd("status"))
    wt = lsub.add_parser("wait", help="progress of a run until it is done, then its report")
    wt.add_argument("run_id", metavar="RUN_ID")
    wt.add_argument("--timeout-s", type=float, default=None, help="give up waiting after this long (exit 5)")
    wt.add_argument("--interval-s", type=float, default=1.0, help="progress poll interval (default 1 s)")
    wt.add_argument("--unaccounted-s", type=float, default=None, help="end (exit 4, naming them) once jobs have "
                    "been unaccounted for this long: no result, not queued, not running on a live worker "
                    "(default 120 s; $EDGEBENCH_LAB_UNACCOUNTED_S)")
    _broker_flag(wt)
    wt.set_defaults(func=_cmd("wait"))

    def no_sub(args: argparse.Namespace) -> int:
        lab.print_help()
        return 2

    lab.set_defaults(func=no_sub)
