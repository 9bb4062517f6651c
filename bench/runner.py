"""Running a plan: deploy, one fresh agent process per job, collect, store — jobs on one device in
sequence, devices in parallel. A failing job becomes an error result with one clear line; the run
goes on. Ctrl-C stops in-flight agents, keeps finished results and says how to resume."""

from __future__ import annotations

import json
import shlex
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from .deploy import PushStats, deploy_agent, deploy_artifact
from .inventory import Device
from .plan import PlannedJob
from .stats import summarize
from .store import RunStore
from .transports import Transport, TransportError, open_transport

Printer = Callable[[str], None]


class Interrupted(Exception):
    pass


def _error(job: PlannedJob, error_type: str, message: str, **extra: Any) -> Dict[str, Any]:
    out = {"job_id": job.job_id, "status": "error", "error_type": error_type, "error": message}
    out.update(extra)
    return out


def _signal_name(rc: int) -> str:
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return "signal %d" % -rc


class DeviceWorker:
    """Runs one device's jobs in order over one transport."""

    def __init__(self, device: Device, store: RunStore, printer: Printer, counter: "Counter",
                 ceilings: str = "measure") -> None:
        self.ceilings = ceilings  # measure (cached) | remeasure | skip
        self.device = device
        self.store = store
        self.printer = printer
        self.counter = counter
        self.transport: Optional[Transport] = None
        self.agent_dir: Optional[str] = None
        self.stop = threading.Event()

    def measure_ceilings(self) -> None:
        """Device ceilings for the roofline, stored with the run; a failure is recorded, not fatal."""
        from .ceilings import CeilingsError, measure

        target = self.store.root / "ceilings" / ("%s.json" % self.device.name)
        if self.ceilings == "skip" or target.exists():
            return
        try:
            data = measure(self.device, self.connect(), remeasure=self.ceilings == "remeasure", log=self.printer)
        except (CeilingsError, TransportError) as exc:
            data = {"device_name": self.device.name, "error": str(exc)}
            self.printer("ceilings: %s" % exc)
        data["datasheet_name"] = self.device.options.get("datasheet")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(data, indent=1, sort_keys=True))

    def run(self, jobs: List[PlannedJob]) -> None:
        try:
            self.measure_ceilings()
            for job in jobs:
                if self.stop.is_set():
                    return
                n = self.counter.next()
                self.printer("[%d/%d] %s  %s  %s  %s …" % (n, self.counter.total, job.device, job.model,
                                                            job.variant, job.runtime))
                start = time.perf_counter()
                try:
                    result = self.run_job(job)
                except Exception as exc:  # a harness bug must not lose the other jobs or their results
                    result = _error(job, "harness", "%s: %s (harness error; please report it)" % (
                        type(exc).__name__, exc), traceback=traceback.format_exc()[-3000:])
                if self.stop.is_set() and result.get("error_type") == "interrupted":
                    return
                result = self.finish(job, result, time.perf_counter() - start)
                self.store.save_result(result)
                self.printer("[%d/%d] %s" % (n, self.counter.total, describe_outcome(job, result)))
        finally:
            if self.transport is not None:
                self.transport.close()

    def abort(self) -> None:
        self.stop.set()
        if self.transport is not None:
            self.transport.abort()

    def connect(self) -> Transport:
        if self.transport is None:
            self.transport = open_transport(self.device)
        return self.transport

    def run_job(self, job: PlannedJob) -> Dict[str, Any]:
        art = job.artifact
        if art.status != "built" or not art.path:
            return _error(job, "model_unavailable", art.error or "model %s/%s was not built" % (job.model, job.variant))
        if not Path(art.path).is_file():
            return _error(job, "model_missing", "model file %s does not exist on the host; rebuild it with "
                          "`python -m models build --models %s`" % (art.path, job.model))
        push = PushStats()
        try:
            transport = self.connect()
            t0 = time.perf_counter()
            if self.agent_dir is None:
                self.agent_dir = deploy_agent(transport, push)
            model_remote = deploy_artifact(transport, Path(art.path), art.sha256 or "", push)
            jobdir = transport.join("jobs", self.store.run_id, job.job_id)
            transport.remove_tree(jobdir)
            agent_job = {
                "job_id": job.job_id,
                "model": {"path": model_remote, "format": art.format, "sha256": art.sha256, "name": job.model,
                          "variant": job.variant, "input_hints": art.input_hints,
                          "flops": (art.stats or {}).get("flops")},
                "runtime": {"name": job.runtime, "options": job.runtime_options},
                "measure": job.measure,
            }
            transport.write_text(jobdir + "/job.json", json.dumps(agent_job, indent=1))
            push_s = time.perf_counter() - t0
            argv = [self.device.python, "-m", "device_agents", "run", "job.json", "--out", "result.json",
                    "--deadline-s", "%.0f" % (job.timeout_s + 5), "--lock", transport.lock_file]
            if transport.holds_stdin:
                argv.append("--watch-stdin")
            res = transport.exec(argv, timeout_s=job.timeout_s, cwd=jobdir, env={"PYTHONPATH": self.agent_dir})
        except TransportError as exc:
            return _error(job, "transport", str(exc))
        host = {"push_s": round(push_s, 4), "bytes_pushed": push.bytes_sent, "files_pushed": push.files_sent,
                "files_already_on_device": push.files_skipped, "exec_s": round(res.duration_s, 4),
                "command": " ".join(shlex.quote(a) for a in argv), "workdir": jobdir}
        if self.stop.is_set():
            return _error(job, "interrupted", "interrupted by the user", host=host)
        if res.timed_out:
            return _error(job, "timeout", "agent did not finish within %.0f s and was killed; raise --job-timeout "
                          "or lower --max-seconds" % job.timeout_s, host=host, stderr_tail=res.stderr[-2000:])
        try:
            result = json.loads(transport.pull(jobdir + "/result.json"))
        except (FileNotFoundError, OSError, ValueError):
            if res.returncode is not None and res.returncode < 0:
                cause = "agent crashed with %s" % _signal_name(res.returncode)
            else:
                cause = "agent exited with code %s and wrote no result" % res.returncode
            tail = res.stderr.strip().splitlines()[-1:] or [""]
            return _error(job, "agent_crash", "%s: %s" % (cause, tail[0][:300]), host=host,
                          stderr_tail=res.stderr[-4000:])
        result["host"] = host
        if res.stderr.strip():
            result["stderr_tail"] = res.stderr[-2000:]
        transport.remove_tree(jobdir)
        return result

    def finish(self, job: PlannedJob, result: Dict[str, Any], wall_s: float) -> Dict[str, Any]:
        """Add the host's view: names, plan, statistics."""
        result["job_id"] = job.job_id
        result["device_name"] = job.device
        result["device_class"] = self.device.device_class
        result["model_name"] = job.model
        result["variant"] = job.variant
        result["runtime_name"] = job.runtime
        result["plan"] = job.to_json()
        result["host_wall_s"] = round(wall_s, 3)
        if result.get("status") == "ok":
            result["stats"] = summarize(result.get("latencies_ms") or [])
        return result


class Counter:
    def __init__(self, total: int) -> None:
        self.total = total
        self._n = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._n += 1
            return self._n


def describe_outcome(job: PlannedJob, result: Dict[str, Any]) -> str:
    head = "%s  %s  %s  %s" % (job.device, job.model, job.variant, job.runtime)
    status = result.get("status")
    if status == "ok":
        st = result["stats"]
        mem = (result.get("memory") or {}).get("peak_over_baseline_bytes")
        return "%s  ok  p50 %.2f ms  p90 %.2f ms  n=%d  peak mem %s" % (
            head, st["p50_ms"], st["p90_ms"], st["n"], "%.1f MB" % (mem / 1e6) if mem is not None else "n/a")
    if status == "unavailable":
        return "%s  UNAVAILABLE: %s" % (head, result.get("reason"))
    return "%s  ERROR (%s): %s" % (head, result.get("error_type"), result.get("error"))


def run_plan(store: RunStore, jobs: List[PlannedJob], devices: Dict[str, Device],
             printer: Printer = print, ceilings: str = "skip") -> Dict[str, int]:
    """Run ``jobs`` (already filtered for resume) and store each result as it finishes."""
    by_device: Dict[str, List[PlannedJob]] = {}
    for job in jobs:
        by_device.setdefault(job.device, []).append(job)
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            printer(line)
            sys.stdout.flush()

    counter = Counter(len(jobs))
    workers = {name: DeviceWorker(devices[name], store, say, counter, ceilings) for name in by_device}
    pool = ThreadPoolExecutor(max_workers=max(1, len(workers)))
    futures: List[Future] = [pool.submit(workers[name].run, js) for name, js in by_device.items()]
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in done:
                fut.result()
    except KeyboardInterrupt:
        for w in workers.values():
            w.abort()
        wait(futures, timeout=30)
        pool.shutdown(wait=False)
        raise Interrupted()
    pool.shutdown()
    counts: Dict[str, int] = {}
    for r in store.results():
        counts[r.get("status", "error")] = counts.get(r.get("status", "error"), 0) + 1
    return counts
