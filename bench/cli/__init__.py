"""Room 8, commands: ``python -m bench <command>`` — the parser and one module per command.

  main.py       the parser, ``main`` and the run/devices/probe/report/compare/history commands
  plan_args.py  the plan flags ``bench run`` and ``lab submit`` share, every value checked before any work
  lab.py        the ``lab`` subcommands (Celery is imported only when one runs)

May import every room."""

from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m bench``: parse ``argv`` and run the command; its exit code."""
    from .main import main as _main

    return _main(argv)
