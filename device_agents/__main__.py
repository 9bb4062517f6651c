"""``python -m device_agents probe | run JOB.json [--out RESULT.json]``: JSON in, JSON out."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .jsonio import read_json, write_json


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m device_agents",
                                     description="edgebench device agent: JSON in, JSON out.")
    sub = parser.add_subparsers(dest="command")
    p_probe = sub.add_parser("probe", help="print the device facts as JSON")
    p_probe.add_argument("--out", help="write to this file instead of standard output")
    p_run = sub.add_parser("run", help="run one measurement job and write one result JSON")
    p_run.add_argument("job", help="job JSON file ('-' for standard input)")
    p_run.add_argument("--out", help="result file (default: standard output)")
    p_run.add_argument("--deadline-s", type=float, help="end the agent (and its helpers) after this many seconds")
    p_run.add_argument("--watch-stdin", action="store_true", help="end when standard input closes (host gone)")
    p_run.add_argument("--lock", help="device-wide lock file: one measurement at a time on this device")
    p_mb = sub.add_parser("microbench", help="measure the device's compute and memory-bandwidth ceilings")
    p_mb.add_argument("job", help="microbenchmark job JSON ('-' for standard input)")
    p_mb.add_argument("--out", help="result file (default: standard output)")
    args = parser.parse_args(argv)

    if args.command == "probe":
        from .probe import probe

        write_json(probe(), args.out)
        return 0
    if args.command == "run":
        from .guard import device_lock, start_deadline, start_stdin_watch
        from .run import run_job

        start_deadline(args.deadline_s)
        if args.watch_stdin:
            start_stdin_watch()

        try:
            data = read_json(args.job)
        except (OSError, ValueError) as exc:
            data = {"job_id": None, "_unreadable": "%s: %s" % (args.job, exc)}
            result = {"status": "error", "error_type": "bad_job", "job_id": None,
                      "error": "cannot read job %s: %s" % (args.job, exc)}
            write_json(result, args.out)
            return 2
        try:
            with device_lock(args.lock, timeout_s=args.deadline_s or 3600.0) as lock:
                result = run_job(data)
                result["device_lock"] = {"path": args.lock, "waited_s": lock.waited_s}
        except TimeoutError as exc:
            result = {"status": "error", "error_type": "device_busy", "job_id": data.get("job_id")
                      if isinstance(data, dict) else None, "error": str(exc)}
        write_json(result, args.out)
        return 0
    if args.command == "microbench":
        from .microbench import run_microbench

        write_json(run_microbench(read_json(args.job)), args.out)
        return 0
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
