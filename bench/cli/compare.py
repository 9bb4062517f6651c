"""``python -m bench compare RUN_A RUN_B``: is B faster, slower or not distinguishable from A, per job."""

from __future__ import annotations

import argparse

from ..results.store import RunStore
from .plan_args import UsageError, _split


def cmd_compare(args: argparse.Namespace) -> int:
    from ..analysis.run_compare import CompareError, main_compare

    try:
        print(main_compare(RunStore.open(args.run_a), RunStore.open(args.run_b), _split(args.by) or None,
                           args.threshold / 100.0, args.json))
    except CompareError as exc:
        raise UsageError(str(exc))
    return 0
