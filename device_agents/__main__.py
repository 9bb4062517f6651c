"""``python -m device_agents probe | run JOB.json [--out RESULT.json] | serve``: JSON in, JSON out."""

from __future__ import annotations

import time

#: When the agent's own code began (after the interpreter started): the origin of its phase clock.
_T0 = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

# Nothing the agent creates (its byte-code cache, job files) is writable by group or others, whatever the
# device's umask: the host refuses a work dir that another user could change.
os.umask(os.umask(0) | 0o022)
from typing import List, Optional

from .jsonio import read_json, write_json  # noqa: E402
from .phases import Phases  # noqa: E402


def main(argv: Optional[List[str]] = None, t0: Optional[float] = None) -> int:
    """The command line. ``t0``: a child forked by ``serve`` passes the moment of its fork (its phase clock's start)."""
    parser = argparse.ArgumentParser(prog="python -m device_agents",
                                     description="edgebench device agent: JSON in, JSON out.")
    sub = parser.add_subparsers(dest="command")
    p_probe = sub.add_parser("probe", help="print the device facts as JSON")
    p_probe.add_argument("--out", help="write to this file instead of standard output")
    p_run = sub.add_parser("run", help="run one measurement job and write one result JSON")
    p_run.add_argument("job", help="job JSON file ('-' for standard input)")
    p_run.add_argument("--out", help="result file (default: standard output)")
    p_mb = sub.add_parser("microbench", help="measure the device's compute and memory-bandwidth ceilings")
    p_mb.add_argument("job", help="microbenchmark job JSON ('-' for standard input)")
    p_mb.add_argument("--out", help="result file (default: standard output)")
    for p in (p_run, p_mb):
        p.add_argument("--deadline-s", type=float, help="end the agent (and its helpers) after this many seconds")
        p.add_argument("--watch-stdin", action="store_true", help="end when standard input closes (host gone)")
        p.add_argument("--watch-parent", action="store_true", help="end when the parent process (host) dies")
        p.add_argument("--lock", help="device lock: 'user' (per-user lock) or the path of a shared lab lock")
        p.add_argument("--lock-wait-s", type=float, help="give up waiting for the device lock after this many "
                       "seconds (default: half the deadline) and report device_busy")
    srv = sub.add_parser("serve", help="a warm agent: read job requests as JSON lines on standard input, fork a "
                         "fresh process per job (see device_agents/serve.py)")
    srv.add_argument("--idle-exit-s", type=float, help="end after this many seconds without a request (a host whose "
                     "link died unnoticed leaves nothing running for long)")
    args = parser.parse_args(argv)

    if args.command == "probe":
        from .probe import probe

        write_json(probe(), args.out)
        return 0
    if args.command in ("run", "microbench"):
        return _guarded(args, t0)
    if args.command == "serve":
        from .serve import serve

        return serve(main, args.idle_exit_s)
    parser.print_help(sys.stderr)
    return 2


def _guarded(args: argparse.Namespace, t0: Optional[float] = None) -> int:
    """``run`` and ``microbench``: under the deadline, the host watches and the device lock; always one
    JSON result written (``device_busy`` / ``lock_unsafe`` when the lock cannot be had). ``t0``: the fork of a
    child of ``serve`` (its clock starts there, with a ``fork`` phase instead of the interpreter's start)."""
    from .guard import DeviceBusy, LockUnsafe, device_lock, start_deadline, start_parent_watch, start_stdin_watch

    start_deadline(args.deadline_s)
    if args.watch_stdin:
        start_stdin_watch()
    if args.watch_parent:
        start_parent_watch()
    try:
        data = read_json(args.job)
    except (OSError, ValueError) as exc:
        write_json({"status": "error", "error_type": "bad_job", "job_id": None,
                    "error": "cannot read job %s: %s" % (args.job, exc)}, args.out)
        return 2
    job_id = data.get("job_id") if isinstance(data, dict) else None
    wait_s = args.lock_wait_s if args.lock_wait_s is not None else (args.deadline_s or 7200.0) / 2.0
    if t0 is not None:
        phases = Phases(start=t0)
        phases.add("fork", time.perf_counter() - t0)
    else:
        started = interpreter_start_s()  # before _T0: the clock starts that much earlier, so 'total' covers it
        phases = Phases(start=_T0 - (started or 0.0))
        if started is not None:
            phases.add("interpreter_start", started)
    try:
        with device_lock(args.lock, timeout_s=wait_s, on_wait=_say_waiting) as lock:
            phases.add("lock_wait", lock.waited_s or 0.0)
            if args.command == "run":
                with phases.phase("imports"):
                    from .run import run_job

                result = run_job(data, phases)
                result["phases_s"] = phases.to_json()
            else:
                from .microbench import run_microbench

                result = run_microbench(data)
            result["device_lock"] = {"path": lock.path, "waited_s": lock.waited_s, "held_by": lock.holder}
    except DeviceBusy as exc:
        result = {"status": "error", "error_type": "device_busy", "job_id": job_id, "error": str(exc),
                  "lock_holder": exc.holder}
    except (LockUnsafe, OSError) as exc:
        result = {"status": "error", "error_type": "lock_unsafe", "job_id": job_id,
                  "error": "device lock %s: %s" % (args.lock, exc)}
    write_json(result, args.out)
    return 0


#: Written into the job's folder while the agent waits for the device lock: the host shows it on the job's line.
WAITING_FILE = "waiting.json"


def _say_waiting(holder: str) -> None:
    """Tell the host (a file in the job folder, which it polls) what this job waits for, since when."""
    import json
    import os

    try:
        tmp = WAITING_FILE + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"waiting_for": "the device lock", "held_by": holder, "since_unix_s": time.time()}, fh)
        os.replace(tmp, WAITING_FILE)
    except OSError:
        pass


def interpreter_start_s() -> "float | None":
    """Seconds from this process's start to the agent's first line (interpreter start-up, site imports), from
    ``/proc/self/stat`` on Linux (10 ms resolution); None elsewhere."""
    try:
        import os

        with open("/proc/self/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time after boot, clock ticks
        now_boot = time.clock_gettime(time.CLOCK_BOOTTIME)
        return max(0.0, (now_boot - (time.perf_counter() - _T0)) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


if __name__ == "__main__":
    sys.exit(main())
