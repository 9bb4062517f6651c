"""``python -m bench lab worker | submit | status | wait`` — the lab's command line (Celery is imported only
when a lab command runs, so ``bench run`` works without the ``lab`` extra)."""

from __future__ import annotations

import argparse
from typing import Any


def _broker_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", metavar="URL", help="the lab's Redis, e.g. redis://127.0.0.1:6379/0 or "
                   "rediss://:PASSWORD@lab:6380/0 (default: $EDGEBENCH_BROKER)")


def _cmd(name: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        from importlib import import_module

        module, func = {"worker": ("worker", "cmd_worker"), "submit": ("submit", "cmd_submit"),
                        "status": ("status", "cmd_status"), "wait": ("status", "cmd_wait")}[name]
        return getattr(import_module("bench.lab." + module), func)(args)

    return run


def add_lab_parser(sub: Any) -> None:
    """Add ``lab`` and its subcommands to the ``python -m bench`` parser."""
    from ..cli import add_plan_flags

    lab = sub.add_parser("lab", help="the device lab (Celery + Redis): worker, submit, status, wait")
    lsub = lab.add_subparsers(dest="lab_command")
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
    _broker_flag(wt)
    wt.set_defaults(func=_cmd("wait"))

    def no_sub(args: argparse.Namespace) -> int:
        lab.print_help()
        return 2

    lab.set_defaults(func=no_sub)
