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

from device_agents.phases import Phases

from .events import (Bus, CeilingsMeasured, JobFinished, JobNotSaved, JobStarted, JobWaiting, Note, RunFinished,
                     RunStarted, line_printer)
from .deploy import (PushStats, UnsafeWorkdir, agent_argv, agent_env, artifact_on_device, check_workdir, deploy_agent,
                     deploy_artifact)
from ..plan.inventory import Device
from ..plan.jobs import PlannedJob
from ..analysis.stats import summarize
from ..results.schema import ResultInvalid, check_agent_result, parse_device_json
from ..results.store import ResultsDiskFull, RunStore
from ..transports import Transport, TransportError, kill_outcome, open_transport

Printer = Callable[[str], None]
Emit = Callable[[Any], None]


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


def _exit_cause(res: Any, wrote: str) -> str:
    """How the agent ended: the signal the transport saw (SSH's exit-signal, a local negative code) or its
    exit code, and what it left behind."""
    sig = res.signal or (_signal_name(res.returncode) if (res.returncode or 0) < 0 else None)
    if sig:
        hint = {"SIGKILL": " (killed: out of memory on the device, or by another process)",
                "SIGSEGV": " (the runtime crashed)"}.get(sig, "")
        return "agent died of %s%s and wrote %s" % (sig, hint, wrote)
    return "agent exited with code %s and wrote %s" % (res.returncode, wrote)


def _last_line(text: str) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1][:300] if lines else "(nothing on stderr)"


#: After this many consecutive transport failures a device's remaining jobs are recorded as skipped
#: (each would cost a connect timeout and fail the same way); --resume retries them.
MAX_LINK_FAILURES = 3


class _SkipJob(PlannedJob):
    """A job not tried because its device's link failed MAX_LINK_FAILURES times in a row."""

    def __init__(self, job: PlannedJob, device: str, failures: int) -> None:
        self.__dict__.update(job.__dict__)
        self._why = ("not tried: device %r failed %d jobs in a row over its link; check it, then --resume"
                     % (device, failures))

    def skipped(self) -> Dict[str, Any]:
        return _error(self, "transport", self._why)


class WaitWatch:
    """While an agent runs, what it waits for (the device lock held by another measurement: the agent writes
    ``waiting.json`` in its job folder) is said once on the job's line, with the holder and the time. Only on
    transports that can read a file while the agent runs (``polls_during_exec``); elsewhere the finished line says
    how long the job waited (``device_lock.waited_s``)."""

    def __init__(self, transport: Transport, jobdir: str, say: Callable[[str], None], poll_s: float = 1.0) -> None:
        self.transport, self.path, self.say, self.poll_s = transport, jobdir + "/waiting.json", say, poll_s
        self.done = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def __enter__(self) -> "WaitWatch":
        if getattr(self.transport, "polls_during_exec", False):
            self.thread = threading.Thread(target=self._watch, name="edgebench-wait-watch", daemon=True)
            self.thread.start()
        return self

    def _watch(self) -> None:
        while not self.done.wait(self.poll_s):
            try:
                info = json.loads(self.transport.pull(self.path))
            except (OSError, ValueError, TransportError):
                continue
            if isinstance(info, dict):  # from the device: shown as text only, never used as a path or a number
                self.say("waiting for %s, held by %s" % (str(info.get("waiting_for"))[:40],
                                                         str(info.get("held_by"))[:120]))
            return

    def __exit__(self, *exc: Any) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join(timeout=2)


class DeviceWorker:
    """Runs one device's jobs in order over one transport."""

    def __init__(self, device: Device, store: RunStore, emit: Emit, counter: "Counter",
                 ceilings: str = "measure") -> None:
        self.ceilings = ceilings  # measure (cached) | remeasure | skip
        self.device = device
        self.store = store
        #: Where this worker's events go (bench.run.events: the run's bus).
        self.emit = emit
        self.counter = counter
        self.transport: Optional[Transport] = None
        self.agent_dir: Optional[str] = None
        #: Runtime availability on the device (the agent's probe, once per run): a job whose runtime is
        #: missing is answered 'unavailable' before its model is pushed.
        self.runtimes: Optional[Dict[str, Any]] = None
        self.stop = threading.Event()
        #: Set when the results disk is full: every worker stops; ``unsaved`` lists the lost jobs.
        self.store_full = threading.Event()
        self.unsaved: List[str] = []
        #: Consecutive jobs lost to the link; past MAX_LINK_FAILURES the device's other jobs are not tried.
        self.link_failures = 0
        #: GPU providers this device's jobs ask for: their ceilings are measured through each.
        self.gpu_providers: List[str] = []

    def printer(self, text: str) -> None:
        """A line about this device that is not a job's (ceilings, roof checks): a Note event."""
        self.emit(Note(text, topic="device %s" % self.device.name))

    def _job_event(self, cls: Any, n: int, job: PlannedJob, **extra: Any) -> Any:
        return cls(n=n, total=self.counter.total, device=job.device, model=job.model, variant=job.variant,
                   runtime=job.runtime, **extra)

    def measure_ceilings(self, reason: str = "") -> None:
        """Device ceilings for the roofline, stored with the run; a failure is recorded, not fatal.
        ``reason``: measure again now (a job ran above its roof), whatever the run already has."""
        from ..analysis.ceilings import CeilingsError, write_atomic
        from .ceilings import measure

        target = self.store.root / "ceilings" / ("%s.json" % self.device.name)
        if self.ceilings == "skip" or (target.exists() and not reason):
            return
        mode = "remeasure" if reason else {"remeasure": "remeasure", "keep": "keep"}.get(self.ceilings, "measure")
        try:
            data = measure(self.device, self.connect(), mode=mode, log=self.printer, reason=reason,
                           gpu_providers=self.gpu_providers)
        except (CeilingsError, TransportError) as exc:
            data = {"device_name": self.device.name, "error": str(exc)}
            self.printer("ceilings: %s" % exc)
        self.emit(CeilingsMeasured(self.device.name, cached=bool(data.get("cached")),
                                   trusted=(data.get("trust") or {}).get("trusted"), error=data.get("error") or ""))
        data["datasheet_name"] = self.device.options.get("datasheet")
        if reason:
            data["remeasured_after_suspect"] = reason
        write_atomic(target, data)

    def run(self, jobs: List[PlannedJob]) -> None:
        self.gpu_providers = gpu_providers_of(jobs)
        try:
            try:
                self.measure_ceilings()
            except ResultsDiskFull as exc:
                self.printer(str(exc))
            except Exception as exc:  # ceilings are an extra: their failure must not cost the jobs
                self.printer("ceilings on %s failed: %s: %s" % (self.device.name, type(exc).__name__, exc))
            for job in jobs:
                if self.stop.is_set() or self.store_full.is_set():
                    return
                if self.link_failures >= MAX_LINK_FAILURES:
                    job = _SkipJob(job, self.device.name, self.link_failures)
                if not self.run_one(job):
                    return
        finally:
            if self.transport is not None:
                self.transport.close()

    def run_one(self, job: PlannedJob) -> bool:
        """Run, summarise, save and describe one job inside its own error boundary; False when the run
        must stop (interrupted, or the results disk is full)."""
        n = self.counter.next()
        self.current = n
        self.emit(self._job_event(JobStarted, n, job))
        start = time.perf_counter()
        started_unix_s = time.time()
        try:
            result = job.skipped() if isinstance(job, _SkipJob) else self.run_job(job)
        except OSError as exc:  # the host's own disk or files, not the device
            result = _error(job, "host", "host-side %s: %s" % (type(exc).__name__, exc))
        except Exception as exc:  # a harness bug must not lose the other jobs or their results
            result = _error(job, "harness", "%s: %s (harness error; please report it)" % (
                type(exc).__name__, exc), traceback=traceback.format_exc()[-3000:])
        if self.stop.is_set() and result.get("error_type") == "interrupted":
            return False
        if not isinstance(job, _SkipJob):
            self.link_failures = self.link_failures + 1 if result.get("error_type") == "transport" else 0
        if isinstance(result.get("host"), dict):  # the host's clock around the whole job (deploy, run, pull)
            result["host"].update(job_started_unix_s=started_unix_s, job_finished_unix_s=time.time())
        try:
            t_summary = time.perf_counter()
            result = self.finish(job, result, time.perf_counter() - start)
            if isinstance((result.get("host") or {}).get("phases_s"), dict):
                result["host"]["phases_s"]["summarize"] = round(time.perf_counter() - t_summary, 4)
        except Exception as exc:  # summarising a hostile or huge result must not lose the measurement
            result.setdefault("warnings", []).append("summary failed: %s: %s" % (type(exc).__name__, exc))
            result.update(status="error", error_type="harness",
                          error="summarising the result failed: %s: %s (harness error; please report it); the raw "
                                "result is kept in this file" % (type(exc).__name__, exc))
        try:
            self.store.save_result(result)
        except ResultsDiskFull as exc:
            self.unsaved.append(job.job_id)
            self.store_full.set()
            self.emit(self._job_event(JobNotSaved, n, job, job_id=job.job_id, reason=str(exc)))
            return False
        except Exception as exc:  # a result the store cannot write (it should not happen: say so, keep going)
            try:
                self.store.save_result(_error(job, "harness", "the result could not be saved (%s: %s); the "
                                              "measurement is lost, please report it" % (type(exc).__name__, exc)))
            except Exception:
                self.unsaved.append(job.job_id)
            self.emit(self._job_event(JobNotSaved, n, job, job_id=job.job_id,
                                      reason="%s: %s" % (type(exc).__name__, exc)))
            return True
        try:
            line = describe_outcome(job, result)
        except Exception as exc:
            line = "%s  %s (cannot describe: %s)" % (job.job_id, result.get("status"), exc)
        self.emit(self._job_event(JobFinished, n, job, status=str(result.get("status")), outcome=line,
                                  valid=(result.get("validity") or {}).get("valid")
                                  if isinstance(result.get("validity"), dict) else None))
        return True

    def abort(self) -> None:
        self.stop.set()
        if self.transport is not None:
            self.transport.abort()

    def connect(self) -> Transport:
        if self.transport is None:
            self.transport = open_transport(self.device, warn=self.printer)
        return self.transport

    def run_job(self, job: PlannedJob) -> Dict[str, Any]:
        art = job.artifact
        if art.status != "built" or not art.path:
            return _error(job, "model_unavailable", art.error or "model %s/%s was not built" % (job.model, job.variant))
        if not Path(art.path).is_file():
            return _error(job, "model_missing", "model file %s does not exist on the host; rebuild it with "
                          "`python -m models build --models %s`" % (art.path, job.model))
        if self.device.transport == "adb" and not self.device.python:
            return self.run_native(job)
        push = PushStats()
        ph = Phases()
        try:
            with ph.phase("connect"):
                transport = self.connect()
            t0 = time.perf_counter()
            if self.agent_dir is None:  # once per run and after a reconnect: the work dir, then every agent file
                with ph.phase("workdir_check"):
                    check_workdir(transport, self.device.python, self.device.name,
                                  timeout_s=min(60.0, job.timeout_s))
                with ph.phase("deploy_agent"):
                    self.agent_dir = deploy_agent(transport, push)
            with ph.phase("deploy_model"):
                on_device = artifact_on_device(transport, Path(art.path), art.sha256 or "")
            missing = None
            if not on_device:  # before a push the probe can save: a missing runtime is said without sending the model
                with ph.phase("runtime_probe"):
                    missing = self._runtime_missing(transport, job)
            if missing is not None:
                return {"job_id": job.job_id, "status": "unavailable", "error_type": "runtime_missing",
                        "reason": missing, "runtime": {"name": job.runtime, "availability": self.runtimes[job.runtime]},
                        "host": {"bytes_pushed": push.bytes_sent, "files_pushed": push.files_sent,
                                 "model_pushed": False, "phases_s": ph.to_json()}}
            with ph.phase("deploy_model"):
                model_remote = deploy_artifact(transport, Path(art.path), art.sha256 or "", push)
            ph_write = time.perf_counter()
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
            if getattr(job, "accuracy", None):
                from .deploy import deploy_dataset

                with ph.phase("deploy_dataset"):
                    agent_job["accuracy"] = deploy_dataset(transport, job, push)
            transport.write_text(jobdir + "/job.json", json.dumps(agent_job, indent=1))
            ph.add("write_job", time.perf_counter() - ph_write)
            push_s = time.perf_counter() - t0
            argv = agent_argv(self.device, transport, "run", "job.json", "result.json", job.timeout_s + 5)
            with ph.phase("exec"), WaitWatch(transport, jobdir, lambda text: self.emit(
                    self._job_event(JobWaiting, self.current, job, what=text))):
                res = transport.exec(argv, timeout_s=job.timeout_s, cwd=jobdir,
                                     env=agent_env(self.agent_dir, jobdir))
        except UnsafeWorkdir as exc:
            self.agent_dir = None
            return _error(job, "unsafe_workdir", str(exc))
        except TransportError as exc:
            self.agent_dir = None  # re-checked (permissions and hashes) after a reconnect
            return _error(job, "transport", str(exc))
        host = {"push_s": round(push_s, 4), "bytes_pushed": push.bytes_sent, "files_pushed": push.files_sent,
                "files_already_on_device": push.files_skipped, "exec_s": round(res.duration_s, 4),
                "command": " ".join(shlex.quote(a) for a in argv), "workdir": jobdir, "phases_s": ph.seconds}
        if self.stop.is_set():
            return _error(job, "interrupted", "interrupted by the user", host=host)
        if res.timed_out:
            parts = ["agent did not finish within %.0f s" % job.timeout_s, kill_outcome(res.kill_confirmed),
                     "raise --job-timeout or lower --max-seconds"]
            return _error(job, "timeout", "; ".join(p for p in parts if p), host=host,
                          stderr_tail=res.stderr[-2000:], kill_confirmed=res.kill_confirmed)
        try:
            with ph.phase("pull"):
                raw = transport.pull(jobdir + "/result.json")
        except FileNotFoundError:
            raw = None
        except TransportError as exc:
            return _error(job, "transport", "the agent finished but its result could not be fetched: %s" % exc,
                          host=host)
        if raw is None or not raw.strip():
            return _error(job, "agent_crash", "%s: %s" % (_exit_cause(res, "an empty result.json" if raw is not None
                                                                     else "no result"), _last_line(res.stderr)),
                          host=host, stderr_tail=res.stderr[-4000:])
        ph_validate = time.perf_counter()
        try:
            parsed = parse_device_json(raw)
        except ResultInvalid as exc:
            return _error(job, "bad_result", "the device returned a malformed result: %s" % exc, host=host,
                          raw_result=raw[:4000].decode("utf-8", "replace"))
        except ValueError as exc:
            return _error(job, "bad_result", "%s: result.json is not valid JSON (%d bytes, %s): truncated or "
                          "corrupt" % (_exit_cause(res, "an unreadable result"), len(raw), exc), host=host,
                          stderr_tail=res.stderr[-4000:])
        try:
            result = check_agent_result(parsed, job.job_id)
        except ResultInvalid as exc:
            return _error(job, "bad_result", "the device returned a malformed result: %s" % exc, host=host,
                          raw_result=raw[:4000].decode("utf-8", "replace"))
        ph.add("validate", time.perf_counter() - ph_validate)
        result["host"] = host
        if res.stderr.strip():
            result["stderr_tail"] = res.stderr[-2000:]
        try:
            with ph.phase("cleanup"):
                transport.remove_tree(jobdir)
        except TransportError as exc:
            result.setdefault("warnings", []).append("job folder %s left on the device: %s" % (jobdir, exc))
        host["phases_s"] = ph.to_json()
        agent_total = (result.get("phases_s") or {}).get("total") if isinstance(result.get("phases_s"), dict) else None
        if isinstance(agent_total, (int, float)):
            # process spawn, transport, the agent writing its result: exec time the agent's clock did not see
            host["phases_s"]["agent_outside"] = round(max(0.0, res.duration_s - float(agent_total)), 4)
        return result

    def _runtime_missing(self, transport: Transport, job: PlannedJob) -> Optional[str]:
        """Why ``job``'s runtime cannot run on this device (the agent's own probe, asked once per run), or
        None when it can — or when the probe cannot say (the job itself will then tell)."""
        if self.runtimes is None:
            try:
                res = transport.exec([self.device.python, "-m", "device_agents", "probe"],
                                     timeout_s=min(60.0, job.timeout_s),  # a hung python costs one job timeout
                                     cwd=transport.root, env=agent_env(self.agent_dir or "", transport.root))
                facts = json.loads(res.stdout) if res.returncode == 0 and not res.timed_out else {}
                self.runtimes = facts.get("runtimes") if isinstance(facts.get("runtimes"), dict) else {}
            except (ValueError, TransportError):
                self.runtimes = {}
        entry = self.runtimes.get(job.runtime)
        if isinstance(entry, dict) and entry.get("available") is False:
            return str(entry.get("reason") or "runtime %s is not installed on %s" % (job.runtime, self.device.name))
        return None

    def run_native(self, job: PlannedJob) -> Dict[str, Any]:
        """A phone without Python: the job through the user's vendor benchmark binary (bench/run/native.py)."""
        from .native import run_native_job

        scenario = (job.measure or {}).get("scenario") or "single"
        if scenario != "single":  # the vendor tools print no per-run samples: no intervals, no frame clock
            return {"job_id": job.job_id, "status": "unavailable", "error_type": "scenario_unsupported",
                    "reason": "scenario %s needs every latency with its time; a vendor benchmark tool (native mode) "
                              "prints only its own summary: run it with a Python agent on the device (devices.yaml "
                              "python:), or use --scenario single" % scenario}
        push = PushStats()
        try:
            result, host = run_native_job(self.device, self.connect(), job, self.store.run_id, push)
        except TransportError as exc:
            return _error(job, "transport", str(exc))
        host.update(bytes_pushed=push.bytes_sent, files_pushed=push.files_sent,
                    files_already_on_device=push.files_skipped)
        result["host"] = host
        if result.get("status") == "ok":
            try:
                check_agent_result(json.loads(json.dumps(result)), job.job_id)
            except ResultInvalid as exc:
                return _error(job, "bad_result", "the native result does not fit the schema: %s" % exc, host=host)
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
        if result.get("status") == "error" and result.get("error_type") == "inference":
            hint = shape_hint(job, result)
            if hint:
                result["hint"] = hint
                result["error"] = "%s — %s" % (result.get("error"), hint)
        if result.get("status") == "ok":
            from ..analysis.validity import verdict

            if result.get("latencies_ms") is None and result.get("summary_ms"):
                from .native import tool_stats

                result["stats"] = tool_stats(result)  # native mode: the tool's own figures, no samples
            else:
                result["stats"] = summarize(result.get("latencies_ms") or [])
            result["validity"] = verdict(result, result["stats"])
            sweep_not_applied(job, result)
            scenario = result.get("scenario")
            if isinstance(scenario, dict) and scenario.get("name") == "sustained":
                from ..analysis.scenarios import analyse_sustained

                scenario["sustained"] = analyse_sustained(scenario)
            if getattr(job, "accuracy", None):
                from ..analysis.accuracy import score_job

                result["accuracy"] = score_job(job.accuracy, result, self.store.results)
            if self.ceilings != "skip":
                try:
                    self.check_roof(result)
                except Exception as exc:  # the ceilings are an extra: never at the cost of the measured job
                    self.printer("ceilings on %s: the roof check failed (%s: %s); the job's result is kept"
                                 % (self.device.name, type(exc).__name__, exc))
        return result

    def check_roof(self, result: Dict[str, Any]) -> None:
        """A job above its roof beyond noise marks the ceiling suspect and re-measures it once per run."""
        from ..analysis.ceilings import note_roof

        suspect = note_roof(result, self.store.root / "ceilings" / ("%s.json" % self.device.name))
        if suspect and self.ceilings != "keep" and not getattr(self, "ceilings_remeasured", False):
            self.ceilings_remeasured = True  # once per run: a second surprise stays flagged
            self.printer("ceilings: suspect — %s; measuring them again once (--ceilings keep: never)"
                         % suspect["reason"])
            self.measure_ceilings(reason=suspect["reason"])


def sweep_not_applied(job: PlannedJob, result: Dict[str, Any]) -> None:
    """A swept sequence length or batch that the model's fixed inputs did not take: the job ran another shape, so it
    is not valid as that sweep point (and the real-time boundary leaves it out); the warning says which shape ran."""
    sweep = job.sweep or {}
    if sweep.get("name") not in ("seq-len", "batch") or not isinstance(result.get("validity"), dict):
        return
    axis = 1 if sweep["name"] == "seq-len" else 0
    shapes = [r.get("shape") or [] for r in result.get("inputs") or [] if isinstance(r, dict)]
    if shapes and not any(len(s) > axis and s[axis] == sweep["value"] for s in shapes):
        result["validity"]["valid"] = False
        result["validity"].setdefault("warnings", []).insert(0, {
            "code": "sweep_not_applied", "severity": "invalid",
            "message": "swept %s %s did not apply: the model's inputs are fixed (%s ran)" % (
                sweep["name"], sweep["value"], ", ".join("x".join(str(d) for d in s) for s in shapes))})


def shape_hint(job: PlannedJob, result: Dict[str, Any]) -> Optional[str]:
    """For a job that failed at inference: the shapes its inputs were made at and how to change them, with the
    sequence length the ONNX graph seems exported for when it tells (models.shape_hint)."""
    recipe = result.get("inputs") if isinstance(result.get("inputs"), list) else []
    shapes = ", ".join("%s %s" % (r.get("name"), "x".join(str(d) for d in r.get("shape") or []))
                       for r in recipe if isinstance(r, dict))
    if not shapes:
        return None
    seq = (job.measure or {}).get("seq_len") or getattr(job.artifact, "seq_len", None)
    exported = None
    if job.artifact.format == "onnx" and job.artifact.path:
        from models.shape_hint import exported_seq_len

        exported = exported_seq_len(Path(job.artifact.path), seq)
    text = "the inputs were made at %s" % shapes
    if exported:
        return text + "; the graph's shapes say it was exported at sequence length %d: try --seq-len %d (or --shapes " \
                      "NAME:DIMS)" % (exported, exported)
    return text + "; if the model was exported for other shapes, give them with --seq-len N, --batch N or --shapes " \
                  "NAME:DIMS"


def gpu_providers_of(jobs: List[PlannedJob]) -> List[str]:
    """The accelerator providers (GPU units) the jobs request, in first-seen order."""
    from device_agents.units import GPU, unit_of_provider

    out: List[str] = []
    for job in jobs:
        providers = (job.runtime_options or {}).get("providers") or []
        for name in [providers] if isinstance(providers, str) else providers if isinstance(providers, list) else []:
            if isinstance(name, str) and unit_of_provider(name) == GPU and name not in out:
                out.append(name)
    return out


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
        from ..analysis.validity import short_line

        placement = result.get("placement") or {}
        unit = " on %s" % placement["compute_unit"].upper() if placement.get("compute_unit") not in (None, "cpu") else ""
        dropped = ("  WARNING: requested %s dropped, ran on %s" % (", ".join(placement["dropped"]),
                                                                ", ".join(placement.get("used") or []))
                   if placement.get("dropped") else "")
        lock = result.get("device_lock") if isinstance(result.get("device_lock"), dict) else {}
        waited = lock.get("waited_s") if isinstance(lock.get("waited_s"), (int, float)) else 0.0
        return "%s  ok%s  p50 %s  p90 %s  n=%d  mem %s  %s%s%s%s" % (
            head, unit, _ms(st.get("p50_ms")), _ms(st.get("p90_ms")), st["n"],
            "%.0f MB" % (mem / 1e6) if mem is not None else "n/a",
            short_line(result.get("validity")), dropped, scenario_summary(result),
            "  (waited %.0f s for the device lock)" % waited if waited >= 1.0 else "")
    if status == "unavailable":
        return "%s  UNAVAILABLE: %s" % (head, result.get("reason"))
    return "%s  ERROR (%s): %s" % (head, result.get("error_type"), result.get("error"))


def scenario_summary(result: Dict[str, Any]) -> str:
    """The scenario's verdict for a job's terminal line ('' for a single window)."""
    sc = result.get("scenario") if isinstance(result.get("scenario"), dict) else {}
    if sc.get("name") == "sustained" and isinstance(sc.get("sustained"), dict):
        a = sc["sustained"]
        if a.get("first_p50_ms") is None:
            return "  sustained: %s" % a.get("reason", "no interval")
        step = (" step %+.0f %% at %.0f s (%s)" % (100 * a["step_rel"], a["onset_s"], a.get("cause"))
                if a.get("onset_s") is not None else " no step" + (" (%s)" % a["cause"] if a.get("cause") not in
                                                                      (None, "none") else ""))
        return "  sustained: p50 %s → %s (x%.2f),%s" % (_ms(a["first_p50_ms"]), _ms(a["steady_p50_ms"]),
                                                        a["slowdown"], step)
    if sc.get("name") == "stream" and isinstance(sc.get("stream"), dict):
        s = sc["stream"]
        return "  stream %g fps: missed %.1f %%, dropped %d, %s" % (
            s["fps"], 100 * (s.get("miss_rate") or 0), s.get("dropped") or 0,
            "sustainable" if s.get("sustainable") else "NOT sustainable")
    if sc.get("name") == "offline" and isinstance(sc.get("offline"), dict):
        o = sc["offline"]
        return "  offline: best %s inf/s at batch %s" % (o.get("max_inferences_per_s"), o.get("best_batch"))
    return ""


def _ms(value: Optional[float]) -> str:
    """A latency for a progress line (43.1 µs, 13.4 ms, 2.05 s); "n/a" where the tool printed none."""
    from ..fmt import fmt_duration_ms

    return fmt_duration_ms(value) if value is not None else "n/a"


def run_plan(store: RunStore, jobs: List[PlannedJob], devices: Dict[str, Device],
             printer: Printer = print, ceilings: str = "skip", events: Optional[Emit] = None) -> Dict[str, int]:
    """Run ``jobs`` (already filtered for resume) and store each result as it finishes. What happens is emitted as
    typed events (bench.run.events) to ``events`` when given (e.g. the terminal's ProgressPrinter.handle), else written
    as plain lines through ``printer``."""
    by_device: Dict[str, List[PlannedJob]] = {}
    for job in jobs:
        by_device.setdefault(job.device, []).append(job)
    def say(line: str) -> None:
        printer(line)
        sys.stdout.flush()

    bus = Bus().subscribe(events if events is not None else line_printer(say))
    bus.emit(RunStarted(store.run_id, len(jobs), tuple(sorted(by_device))))
    t0 = time.perf_counter()
    counter = Counter(len(jobs))
    workers = {name: DeviceWorker(devices[name], store, bus.emit, counter, ceilings) for name in by_device}
    full = threading.Event()  # one flag for the whole run: a full results disk stops every device
    for w in workers.values():
        w.store_full = full
    pool = ThreadPoolExecutor(max_workers=max(1, len(workers)))
    futures: List[Future] = [pool.submit(workers[name].run, js) for name, js in by_device.items()]
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in done:
                try:
                    fut.result()
                except Exception:  # a worker died: stop the others before the run lock is released
                    for w in workers.values():
                        w.abort()
                    wait(futures, timeout=30)
                    raise
    except KeyboardInterrupt:
        for w in workers.values():
            w.abort()
        wait(futures, timeout=30)
        pool.shutdown(wait=False)
        bus.emit(RunFinished(store.run_id, {}, round(time.perf_counter() - t0, 3), stopped="interrupted"))
        raise Interrupted()
    pool.shutdown()
    if full.is_set():
        bus.emit(RunFinished(store.run_id, {}, round(time.perf_counter() - t0, 3), stopped="results disk full"))
        unsaved = sum(len(w.unsaved) for w in workers.values())
        kept = len(store.results())
        raise ResultsDiskFull("results disk full: %d job result(s) kept in %s, %d measured but unsaved, %d not run. "
                              "Free space on that disk, then: python -m bench run --resume %s"
                              % (kept, store.root, unsaved, len(jobs) - counter._n, store.run_id))
    counts: Dict[str, int] = {}
    for r in store.results():
        counts[r.get("status", "error")] = counts.get(r.get("status", "error"), 0) + 1
    bus.emit(RunFinished(store.run_id, counts, round(time.perf_counter() - t0, 3)))
    return counts
