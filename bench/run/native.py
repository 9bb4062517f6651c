"""Native mode on a phone without Python: one job = the user's vendor benchmark binary (``runners:`` in
devices.yaml) run by a POSIX-sh wrapper beside the sh telemetry sampler, pinned with ``taskset``; its
output and the sampler's log are pulled and turned into the same result schema as the Python agent's
(device_agents/native/ parses; this module moves files and runs commands).

The timed window's energy: the window is placed by the tool's own timed duration (runs x mean, or
onnxruntime_perf_test's run time) ending when the binary exited, on the phone's /proc/uptime clock;
the tool's later summary printing (milliseconds) is inside that approximation, which the result says.
"""

from __future__ import annotations

import hashlib
import posixpath
import shlex
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from device_agents.hashing import sha256_file
from device_agents.native import litert_log, ort_perf_log
from device_agents.native.commands import BadNativeJob, core_mask, litert_argv, ort_argv
from device_agents.native.sampler import (RUN_SH, SAMPLER_SH, ReplayTelemetry, charging_reason, parse_log,
                                          parse_marks)

from .deploy import PushStats, deploy_artifact, push_file
from ..transports import Transport, TransportError

#: What edgebench reads from the phone before a native job (one shell round trip).
PROBE_SH = ('for c in /sys/devices/system/cpu/cpu[0-9]*; do f=$c/cpufreq/cpuinfo_max_freq; [ -r $f ] && '
            'echo "cpu ${c##*/cpu} $(cat $f)"; done; for p in ro.product.model ro.soc.model ro.board.platform '
            'ro.build.version.release ro.build.version.sdk ro.product.cpu.abi; do echo "prop $p $(getprop $p)"; done; '
            'dumpsys battery 2>/dev/null | sed "s/^/battery /"; '
            'sed -n "s/^MemTotal: *\\([0-9]*\\) kB/mem \\1/p" /proc/meminfo 2>/dev/null; '
            'dumpsys thermalservice 2>/dev/null | sed -n "s/^Current Thermal Status: */thermal /p"; exit 0')
NO_SAMPLES = ("%s prints only its own summary statistics over its runs, no per-run latencies: latencies_ms is "
              "null, and the statistics are the tool's")
#: Exit statuses and messages of a binary the phone cannot execute (built for another ABI).
EXEC_FORMAT = ("exec format error", "not executable", "syntax error: unexpected", "cannot execute binary")


def runner_of(device: Any, runtime: str) -> Optional[str]:
    return (device.runners or {}).get(runtime)


def _push_text(transport: Transport, text: str, name: str, stats: PushStats) -> str:
    """A script on the phone by content (sent once, verified by hash)."""
    data = text.encode()
    sha = hashlib.sha256(data).hexdigest()
    remote = transport.join("native", sha[:16], name)
    with tempfile.TemporaryDirectory(prefix="edgebench-native-") as tmp:
        local = Path(tmp) / name
        local.write_bytes(data)
        push_file(transport, local, remote, sha, stats)
    return remote


def _probe(transport: Transport, timeout_s: float) -> Dict[str, Any]:
    res = transport.exec(["sh", "-c", PROBE_SH], timeout_s=timeout_s)
    cpus: Dict[int, int] = {}
    props: Dict[str, str] = {}
    battery: List[str] = []
    for line in res.stdout.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "cpu":
            num, _, khz = rest.partition(" ")
            if num.isdigit() and khz.strip().isdigit():
                cpus[int(num)] = int(khz)
        elif kind == "prop":
            key, _, value = rest.partition(" ")
            props[key] = value.strip()
        elif kind == "battery":
            battery.append(rest)
        elif kind == "mem" and rest.strip().isdigit():
            props["mem_total_kib"] = rest.strip()
        elif kind == "thermal":
            props["thermal_status"] = rest.strip()
    return {"cpu_max_khz": cpus, "getprop": props, "dumpsys_battery": "\n".join(battery)}


def phone_facts(device: Any, transport: Transport, timeout_s: float = 30.0) -> Dict[str, Any]:
    """``bench probe`` / ``bench devices`` for a phone without Python (native mode): what getprop, sysfs and
    dumpsys say — model, SoC, Android release and SDK, ABI, cores and clusters, memory, battery, thermal
    status — and which runners the inventory gives (runtime "available" = a runner binary is configured)."""
    from device_agents.native.commands import clusters

    raw = _probe(transport, timeout_s)
    props = raw["getprop"]
    battery = {}
    for line in raw["dumpsys_battery"].splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            battery[key.strip()] = value.strip()
    mem = props.get("mem_total_kib")
    return {"mode": "native (no Python on the phone)", "python_version": None,
            "model": props.get("ro.product.model"), "board_model": props.get("ro.product.model"),
            "cpu_model": props.get("ro.soc.model") or props.get("ro.board.platform"),
            "os": "Android %s (SDK %s)" % (props.get("ro.build.version.release"), props.get("ro.build.version.sdk")),
            "arch": props.get("ro.product.cpu.abi"), "cpu_cores_logical": len(raw["cpu_max_khz"]) or None,
            "clusters": [{"max_khz": khz, "cores": cores} for khz, cores in clusters(raw["cpu_max_khz"])],
            "memory_total_bytes": int(mem) * 1024 if mem else None,
            "battery": {k: battery.get(k) for k in ("level", "temperature", "status", "AC powered", "USB powered")
                        if k in battery} or None,
            "thermal_status": props.get("thermal_status"),
            "runtimes": {name: {"available": True, "version": "native runner %s" % path}
                         for name, path in sorted((device.runners or {}).items())},
            "sensors": {"battery": {"available": bool(battery)}}}


def _error(job: Any, error_type: str, message: str, **extra: Any) -> Dict[str, Any]:
    out = {"job_id": job.job_id, "status": "error", "error_type": error_type, "error": message}
    out.update(extra)
    return out


def run_native_job(device: Any, transport: Transport, job: Any, run_id: str, push: PushStats
                   ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(result, host facts) of one native-mode job. Transport failures raise TransportError (the caller
    records them like any other transport failure)."""
    host: Dict[str, Any] = {"mode": "native"}
    runner = runner_of(device, job.runtime)
    if runner is None:
        return ({"job_id": job.job_id, "status": "unavailable", "reason": (
            "device %r runs in native mode (no 'python' in devices.yaml) and has no runner for runtime %s; "
            "runners given: %s. Add runners: {%s: <host path of the binary built for the phone>}"
            % (device.name, job.runtime, ", ".join(sorted(device.runners)) or "none", job.runtime))}, host)
    if not Path(runner).is_file():
        return _error(job, "runner_missing", "device %r: runner %s for %s does not exist on this host; fix "
                      "runners.%s in devices.yaml" % (device.name, runner, job.runtime, job.runtime)), host
    measure = dict(job.measure or {})
    options = dict(job.runtime_options or {})
    info = _probe(transport, min(60.0, job.timeout_s))
    try:
        mask = core_mask(info["cpu_max_khz"], measure.get("pin_cores") or options.get("cores"))
    except BadNativeJob as exc:
        return _error(job, "bad_job", "device %r: %s" % (device.name, exc)), host
    t_push = time.perf_counter()
    runner_remote = transport.join("runners", sha256_file(runner)[:16], posixpath.basename(runner))
    push_file(transport, Path(runner), runner_remote, sha256_file(runner), push)
    model = deploy_artifact(transport, Path(job.artifact.path), job.artifact.sha256 or "", push)
    sampler = _push_text(transport, SAMPLER_SH, "sampler.sh", push)
    wrapper = _push_text(transport, RUN_SH, "run.sh", push)
    host["push_s"] = round(time.perf_counter() - t_push, 4)
    warnings: List[str] = []
    try:
        if job.runtime == "litert":
            argv = litert_argv(runner_remote, model, measure, options)
        else:
            argv, warnings = ort_argv(runner_remote, model, measure, options)
    except BadNativeJob as exc:
        return _error(job, "bad_job", "device %r: %s" % (device.name, exc)), host
    rate_hz = min(float(measure.get("sample_rate_hz", 10.0) or 10.0), 10.0)
    idle_s = float(measure.get("idle_s", 2.0))
    jobdir = transport.join("jobs", run_id, job.job_id)
    transport.remove_tree(jobdir)
    transport.write_text(jobdir + "/job.txt", " ".join(shlex.quote(a) for a in argv) + "\n")
    transport.exec(["chmod", "755", runner_remote], timeout_s=30)
    command = ["sh", wrapper, sampler, "samples.txt", "%g" % (1.0 / rate_hz), "%g" % idle_s,
               "%x" % mask if mask else "", "marks.txt"] + argv
    res = transport.exec(command, timeout_s=job.timeout_s, cwd=jobdir)
    host.update(command=" ".join(shlex.quote(a) for a in command), workdir=jobdir, exec_s=round(res.duration_s, 4),
                pinning_mask="%x" % mask if mask else None)
    name = posixpath.basename(runner)
    if res.timed_out:
        from ..transports import kill_outcome

        parts = ["%s on device %r did not finish within %.0f s" % (name, device.name, job.timeout_s),
                 kill_outcome(res.kill_confirmed), "raise --job-timeout or lower --max-seconds"]
        return _error(job, "timeout", "; ".join(p for p in parts if p), kill_confirmed=res.kill_confirmed), host
    files = {}
    for leaf in ("runner.out", "runner.err", "samples.txt", "marks.txt"):
        try:
            files[leaf] = transport.pull(jobdir + "/" + leaf).decode("utf-8", "replace")
        except FileNotFoundError:
            files[leaf] = ""
    output = files["runner.out"] + "\n" + files["runner.err"]
    failed = _runner_failure(device, name, job.runtime, res, files["runner.err"], info)
    if failed:
        return _error(job, failed[0], failed[1], stderr_tail=files["runner.err"][-2000:]), host
    try:
        parsed = (litert_log.parse_output(output) if job.runtime == "litert" else ort_perf_log.parse_output(output))
    except (litert_log.LiteRtLogError, ort_perf_log.OrtPerfLogError) as exc:
        return _error(job, "bad_result", "device %r: %s" % (device.name, exc), stderr_tail=output[-2000:]), host
    result = _result(job, name, argv, parsed, files, info, rate_hz, warnings)
    result["pinning"] = {"taskset_mask": "%x" % mask if mask else None,
                         "cores": [c for c in range(64) if mask and mask >> c & 1] or None}
    try:
        transport.remove_tree(jobdir)
    except TransportError as exc:
        result.setdefault("warnings", []).append("job folder %s left on the device: %s" % (jobdir, exc))
    return result, host


def _runner_failure(device: Any, name: str, runtime: str, res: Any, err: str, info: Dict[str, Any]
                    ) -> Optional[Tuple[str, str]]:
    """(error type, one line) when the binary did not run to the end; None when it exited 0."""
    rc = res.returncode
    low = err.lower()
    if any(s in low for s in EXEC_FORMAT) or rc == 126:
        abi = info["getprop"].get("ro.product.cpu.abi") or "the phone's ABI"
        return ("runner_abi", "device %r: %s cannot run there (%s): it was built for another CPU/ABI; build it for "
                "%s (getprop ro.product.cpu.abi) and set runners.%s" % (device.name, name,
                                                                        _last(err) or "exec format error", abi, runtime))
    if rc is not None and rc > 128 or res.signal:
        sig = res.signal or "signal %d" % (rc - 128)
        return ("runner_crash", "device %r: %s died of %s: %s" % (device.name, name, sig, _last(err)))
    if rc != 0:
        return ("runner_failed", "device %r: %s exited with status %s: %s" % (device.name, name, rc, _last(err)))
    return None


def _last(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "(nothing on stderr)"


def _result(job: Any, tool: str, argv: List[str], parsed: Dict[str, Any], files: Dict[str, str],
            info: Dict[str, Any], rate_hz: float, warnings: List[str]) -> Dict[str, Any]:
    summary = dict(parsed["summary_ms"])
    n = int(summary["n"])
    window_s = parsed.get("window_s") or (n * summary["mean_ms"] / 1000.0)
    marks = parse_marks(files["marks.txt"])
    battery, thermal, header = parse_log(files["samples.txt"])
    t1 = marks.get("run_end")
    t0 = t1 - window_s if t1 is not None else None
    idle = ((marks["idle_start"], marks["idle_end"]) if "idle_start" in marks and "idle_end" in marks else None)
    telemetry = ReplayTelemetry(battery, thermal, rate_hz, idle)
    if t0 is not None and t1 is not None:
        power = telemetry.power_report(t0, t1, n, (getattr(job.artifact, "stats", None) or {}).get("flops"))
        power.setdefault("warnings", []).append(
            "window placed from %s's own timed duration (%.3f s) ending when it exited" % (tool, window_s))
        thermal_out, throttle = telemetry.thermal_report(t0, t1)
    else:
        power = {"reason": "the wrapper left no run marks: the timed window cannot be placed on the phone's clock"}
        thermal_out, throttle = {"reason": power["reason"]}, {"throttled": None, "reason": power["reason"]}
    charging = charging_reason(battery, info.get("dumpsys_battery", ""))
    if charging:
        for key in ("avg_power_mw", "idle_power_mw", "energy_per_inference_mj",
                    "energy_per_inference_idle_subtracted_mj", "inferences_per_j", "gops_per_w", "energy_window_mj"):
            power[key] = None
        power["reason"] = charging
    memory: Dict[str, Any] = {"peak_over_baseline_bytes": None, "tool_peak_bytes": parsed.get("peak_memory_bytes"),
                              "method": parsed.get("memory_method") or "%s's peak working set (whole process)" % tool}
    if parsed.get("memory_method", "") and "delta" in parsed["memory_method"]:
        memory["peak_over_baseline_bytes"] = parsed["peak_memory_bytes"]
    else:
        memory["peak_over_baseline_reason"] = "%s reports the whole process's peak, not over a baseline" % tool
    return {
        "job_id": job.job_id, "status": "ok", "method": "native: %s's own timing and summary statistics" % tool,
        "latencies_ms": None, "latencies_ms_reason": NO_SAMPLES % tool, "summary_ms": summary,
        "timing": {"load_ms": parsed.get("load_ms"), "first_inference_ms": parsed.get("first_inference_ms"),
                   "warmup_mean_ms": parsed.get("warmup_mean_ms"), "runs": n, "window_s": window_s,
                   "window_start_s": t0, "window_end_s": t1, "clock": "phone /proc/uptime"},
        "memory": memory, "power": power, "thermal": thermal_out, "throttle": throttle,
        "runtime": {"name": job.runtime, "tool": tool, "argv": argv, "mode": "native",
                    "num_threads": parsed.get("num_threads"), "op_profile": parsed.get("op_profile")},
        "device": {"mode": "native", "getprop": info["getprop"], "cpu_max_khz": info["cpu_max_khz"],
                   "thermal_zones": header["zones"]},
        "warnings": warnings,
    }


def tool_stats(result: Dict[str, Any]) -> Dict[str, Any]:
    """The host's ``stats`` for a result without per-run samples: the tool's own figures, in the keys
    ``bench.analysis.stats.summarize`` uses; what the tool did not print is None (never computed from nothing)."""
    s = result.get("summary_ms") or {}
    out: Dict[str, Any] = {"n": int(s.get("n") or 0), "source": "the tool's own summary (no per-run samples)"}
    for key in ("min_ms", "mean_ms", "max_ms", "std_ms", "p5_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms"):
        out[key] = s.get(key)
    out["cv"] = (s["std_ms"] / s["mean_ms"]) if s.get("std_ms") is not None and s.get("mean_ms") else None
    out["p50_ci95_ms"] = None
    out["p50_ci95_method"] = None
    return out
