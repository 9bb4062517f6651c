"""``make perf-lab``: what the lab costs, measured on this machine with a private Redis on loopback.

1. A device worker: start-up time (spawn → its device record in Redis, i.e. probed and consuming) and memory
   (RSS of the worker's main process and of its one pool child).
2. Dispatch overhead per job, lab vs single host: ONE measurement (``timed_batch``) for both — wall time from
   planning to the last stored result minus the agents' own run time, per job, on the same tiny jobs — in
   rounds of four batches interleaved ABBA/BAAB. Each round is judged: spoiled when one side's two batches
   differ by more than 30 % (load moved under it) or a job failed; the lab/single ratio comes only from the
   rounds that were not spoiled, and is refused (null, with why) with fewer than two.
3. A scale run with real lab workers: ``lab worker`` host processes each serving several local devices (a
   Celery device worker and its prefork pool child per device), one run through the real submit, task, gate,
   lease and claim path, STAND-IN jobs that sleep (``tasks.StandinWorker``: stored as ``unavailable`` /
   ``standin``, nothing measured); a pool child and a device worker are SIGKILLed mid-job along the way. Lost
   and duplicated jobs are counted (both must be 0), queue latency p50/p95 (queued → started) and pick-up
   latency (ready → started) reported.
Every section says whether its figures are valid and why not; numbers that cannot be measured are null."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

#: The scale run: ``lab worker`` host processes, devices per host, stand-in jobs per device, their length (s).
SCALE_HOSTS = 5
SCALE_DEVICES_PER_HOST = 4
SCALE_JOBS_PER_DEVICE = 8
SCALE_JOB_S = 0.5
#: A dispatch round whose two batches of one side differ by more than this (relative to their mean) is spoiled.
SPOILED_SPREAD = 0.30


def _pct(values: List[float], q: float) -> Optional[float]:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100.0 * (len(s) - 1))))]


def _rss_bytes(pid: int) -> Optional[int]:
    try:
        for line in Path("/proc/%d/status" % pid).read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _children(pid: int) -> List[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def tiny_model(path: Path) -> Path:
    """y = relu(x @ W + b), x: [batch, 64] float32 — the same tiny model the tests use."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((64, 32)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal(32).astype(np.float32), "B")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Add", ["h", "B"], ["a"]),
         helper.make_node("Relu", ["a"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 32])], initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def worker_startup(client: Any, env: Dict[str, str], device: str) -> Dict[str, Any]:
    from ..lab import records

    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bench", "lab", "worker", "--devices", device], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while records.device_info(client, device) is None:
        if proc.poll() is not None or time.perf_counter() - t0 > 60:
            raise RuntimeError("the lab worker did not come up (exit %s)" % proc.poll())
        time.sleep(0.02)
    startup_s = time.perf_counter() - t0
    info = records.device_info(client, device)
    main_pid = int(info["pid"])
    kids = _children(main_pid)
    out = {"startup_s": round(startup_s, 2), "rss_main_bytes": _rss_bytes(main_pid),
           "rss_pool_child_bytes": _rss_bytes(kids[0]) if kids else None,
           "rss_supervisor_bytes": _rss_bytes(proc.pid), "proc": proc}
    if not kids:
        out["rss_pool_child_note"] = "no pool child found under pid %d" % main_pid
    return out


def _plan_args(device: str, models: List[Path], extra: List[str]) -> argparse.Namespace:
    from ..cli.main import build_parser

    argv = ["lab", "submit", "--device", device, "--runs", "3", "--min-seconds", "0", "--warmup", "0",
            "--ceilings", "skip"] + extra
    for m in models:
        argv += ["--model-file", str(m)]
    return build_parser().parse_args(argv)


def _run_single(args: argparse.Namespace, device: str) -> Any:
    """Single host: plan and run in this process (``bench run``'s code); returns the run's store."""
    from ..cli.plan_args import plan_from_args
    from ..plan.inventory import load_inventory, resolve_devices
    from ..run.runner import run_plan
    from ..results.store import RunStore

    jobs = plan_from_args(args, [device])
    store = RunStore.create(jobs, ["perf-lab", "single"])
    run_plan(store, jobs, {d.name: d for d in resolve_devices([device], load_inventory())}, printer=lambda s: None,
             ceilings="skip")
    return store


def _run_lab(args: argparse.Namespace, device: str) -> Any:
    """Lab: ``lab submit`` (the same planning code) to the running device worker; returns the run's store."""
    import contextlib
    import io

    from ..results.store import RunStore
    from ..lab.submit import cmd_submit

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cmd_submit(args)
    return RunStore.open(out.getvalue().split("submitted run ", 1)[1].split(":", 1)[0])


DISPATCH = {"single_host": _run_single, "lab": _run_lab}


def timed_batch(side: str, device: str, models: List[Path], timeout_s: float = 120.0) -> Dict[str, Any]:
    """ONE measurement for both sides: wall seconds from planning to the last stored result, minus the agents'
    own run time (each result's ``host.exec_s``), per job, in ms. Only how the jobs travel differs (``DISPATCH``)."""
    args = _plan_args(device, models, ["--user", "perf"])
    t0 = time.perf_counter()
    store = DISPATCH[side](args, device)
    while len(list((store.root / "jobs").glob("*.json"))) < len(models):
        if time.perf_counter() - t0 > timeout_s:
            raise RuntimeError("%s batch: results missing after %.0f s" % (side, timeout_s))
        time.sleep(0.005)
    wall = time.perf_counter() - t0
    results = store.results()
    execs = [float((r.get("host") or {}).get("exec_s") or 0.0) for r in results]
    errors = [r["job_id"] for r in results if r.get("status") != "ok"]
    # the lab's finishing worker renders the report after the last result (untimed, as bench run's report is):
    # wait for it so that it does not load the next batch
    while side == "lab" and store.manifest().get("state") not in ("complete", "complete_with_errors"):
        if time.perf_counter() - t0 > timeout_s:
            break
        time.sleep(0.05)
    return {"wall_s": wall, "exec_s": sum(execs), "jobs": len(results), "errors": errors,
            "overhead_ms_per_job": (wall - sum(execs)) / max(1, len(results)) * 1000.0}


def _spread(a: float, b: float) -> float:
    """|a - b| relative to their mean (0.3: the two differ by 30 % of their mean)."""
    m = (a + b) / 2.0
    return abs(a - b) / m if m > 0 else 0.0


def dispatch_overhead(device: str, models: List[Path], rounds: int,
                      max_spread: float = SPOILED_SPREAD) -> Dict[str, Any]:
    """Rounds of four batches, interleaved ABBA / BAAB (single host, lab): each side measured twice per round
    by ``timed_batch``. A round is spoiled when either side's two batches differ by more than ``max_spread``
    (the machine's load moved under it) or a batch had an error; the lab/single ratio comes only from rounds
    that were not, and is refused (null, with why) with fewer than two."""
    timed_batch("single_host", device, models)  # warm-up (first imports, first deploy): not counted
    timed_batch("lab", device, models)
    out_rounds: List[Dict[str, Any]] = []
    for k in range(rounds):
        order = ["single_host", "lab", "lab", "single_host"] if k % 2 == 0 else ["lab", "single_host", "single_host", "lab"]
        load = os.getloadavg()[0]
        got: Dict[str, List[float]] = {"single_host": [], "lab": []}
        errors: List[str] = []
        for side in order:
            b = timed_batch(side, device, models)
            got[side].append(b["overhead_ms_per_job"])
            errors += b["errors"]
        spreads = {side: _spread(*v) for side, v in got.items()}
        why = []
        for side, sp in spreads.items():
            if sp > max_spread:
                why.append("%s's two batches differ by %.0f %% (> %.0f %%): load moved" % (side, 100 * sp,
                                                                                          100 * max_spread))
        if errors:
            why.append("job errors: %s" % ", ".join(errors))
        out_rounds.append({"round": k + 1, "order": order, "load_1min": round(load, 2),
                           "single_host_ms_per_job": [round(v, 1) for v in got["single_host"]],
                           "lab_ms_per_job": [round(v, 1) for v in got["lab"]],
                           "spread_pct": {s: round(100 * v, 1) for s, v in spreads.items()},
                           "lab_minus_single_ms": round(statistics.mean(got["lab"]) - statistics.mean(got["single_host"]), 1),
                           "lab_over_single": round(statistics.mean(got["lab"]) / statistics.mean(got["single_host"]), 3)
                           if statistics.mean(got["single_host"]) > 0 else None,
                           "valid": not why, "spoiled_because": "; ".join(why) or None})
    valid = [r for r in out_rounds if r["valid"]]
    out: Dict[str, Any] = {"method": "one code path (timed_batch) for both sides: wall from planning to the last "
                                     "stored result minus the agents' exec_s, per job; rounds ABBA/BAAB; a round is "
                                     "spoiled when a side's two batches differ by > %.0f %%" % (100 * max_spread),
                           "jobs_per_batch": len(models), "rounds": out_rounds, "valid_rounds": len(valid)}
    if len(valid) >= 2:
        out["lab_minus_single_ms_per_job_median"] = round(statistics.median(r["lab_minus_single_ms"] for r in valid), 1)
        out["lab_over_single_median"] = round(statistics.median(r["lab_over_single"] for r in valid), 3)
        out["single_host_ms_per_job_median"] = round(statistics.median(
            v for r in valid for v in r["single_host_ms_per_job"]), 1)
        out["lab_ms_per_job_median"] = round(statistics.median(v for r in valid for v in r["lab_ms_per_job"]), 1)
        out["valid"] = True
    else:
        out["lab_over_single_median"] = None
        out["lab_minus_single_ms_per_job_median"] = None
        out["valid"] = False
        out["refused_because"] = ("only %d of %d rounds were not spoiled by load (need 2): no ratio from spoiled "
                                  "rounds; rerun on a quieter machine" % (len(valid), rounds))
    return out


# -- the scale run: real lab workers, stand-in jobs, injected kills ----------------------------------------------
def _running(client: Any, run_id: str) -> List[Dict[str, Any]]:
    from ..lab import keys

    out = []
    for field, raw in client.hgetall(keys.RUNNING).items():
        if field.startswith(run_id + "/"):
            info = json.loads(raw)
            info["job_id"] = field.split("/", 1)[1]
            out.append(info)
    return out


def _kill(client: Any, run_id: str, what: str, avoid: List[str]) -> Optional[Dict[str, Any]]:
    """SIGKILL, mid-job, a pool child (``what`` = "pool_child") or a device worker's main process
    ("worker") of a running attempt on a device not in ``avoid``; what was killed, or None if nothing ran."""
    import signal

    for info in sorted(_running(client, run_id), key=lambda i: i["device"]):
        if info["device"] in avoid:
            continue
        pid = int(info["child_pid"]) if what == "pool_child" else int(str(info["worker_id"]).rsplit("/", 1)[1])
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        return {"what": what, "device": info["device"], "job_id": info["job_id"], "attempt": info["attempt"],
                "pid": pid, "at_unix_s": round(time.time(), 3)}
    return None


def scale_run(client: Any, env: Dict[str, str], tmp: Path, hosts: int = SCALE_HOSTS,
              per_host: int = SCALE_DEVICES_PER_HOST, jobs_per_device: int = SCALE_JOBS_PER_DEVICE,
              job_s: float = SCALE_JOB_S, timeout_s: float = 150.0) -> Dict[str, Any]:
    """``hosts`` real ``lab worker`` host processes, each serving ``per_host`` local devices (one Celery device
    worker with its prefork pool child per device); one lab run of ``jobs_per_device`` jobs per device through
    the real submit, task, gate, lease and claim path, each job a STAND-IN that sleeps ``job_s`` seconds
    (tasks.StandinWorker); pool children and device workers SIGKILLed mid-job along the way. Counts lost and
    duplicated jobs (both must be 0) and reports queue latency."""
    from ..results.store import RunStore
    from ..lab import keys
    from ..lab.tasks import STANDIN_ENV, STANDIN_LOG

    devices = ["sc%02d" % i for i in range(hosts * per_host)]
    inv = (tmp / "devices.yaml").read_text()
    inv += "".join("  %s:\n    class: linux\n    transport: local\n    workdir: %s\n    options: {lock_file: %s}\n"
                   % (d, tmp / ("wd-" + d), tmp / ("lock-" + d)) for d in devices)
    (tmp / "devices.yaml").write_text(inv)
    wenv = dict(env, **{STANDIN_ENV: str(job_s), "EDGEBENCH_LAB_HEARTBEAT_S": "0.5", "EDGEBENCH_LAB_HEALTH_S": "120"})
    client.delete(STANDIN_LOG)
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "bench", "lab", "worker", "--devices",
                               ",".join(devices[h * per_host:(h + 1) * per_host])], env=wenv,
                              stdout=open(tmp / ("scale-host%d.log" % h), "ab"), stderr=subprocess.STDOUT,
                              start_new_session=True) for h in range(hosts)]
    out: Dict[str, Any] = {"label": "real lab workers (one Celery device worker + prefork pool child per device, "
                                    "under `lab worker` host processes), real submit/task/gate/lease/claim path; "
                                    "STAND-IN jobs that sleep %.2f s instead of benchmarking" % job_s,
                           "hosts": hosts, "devices": len(devices)}
    try:
        while not all(client.exists(keys.device_record(d)) for d in devices):
            if any(p.poll() is not None for p in procs) or time.perf_counter() - t0 > timeout_s:
                raise RuntimeError("scale run: device workers did not come up (see %s/scale-host*.log)" % tmp)
            time.sleep(0.1)
        out["workers_up_s"] = round(time.perf_counter() - t0, 1)
        models = [tiny_model(tmp / "scale-models" / ("s%d.onnx" % i)) for i in range(jobs_per_device)]
        argv = [sys.executable, "-m", "bench", "lab", "submit", "--device", ",".join(devices), "--user", "perf",
                "--runs", "3", "--min-seconds", "0", "--warmup", "0", "--ceilings", "skip"]
        for m in models:
            argv += ["--model-file", str(m)]
        t1 = time.perf_counter()
        sub = subprocess.run(argv, env=wenv, capture_output=True, text=True, timeout=120)
        if sub.returncode != 0:
            raise RuntimeError("scale run: lab submit failed: %s" % (sub.stdout + sub.stderr)[-400:])
        out["submit_s"] = round(time.perf_counter() - t1, 2)
        run_id = sub.stdout.split("submitted run ", 1)[1].split(":", 1)[0]
        store = RunStore.open(run_id)
        total = len(store.manifest()["jobs"])
        out["jobs"] = total
        kills: List[Dict[str, Any]] = []
        plan = [(0.10, "pool_child"), (0.25, "worker"), (0.40, "pool_child")]
        t_sub = time.perf_counter()
        while True:
            stored = len(list((store.root / "jobs").glob("*.json")))
            if stored >= total or time.perf_counter() - t_sub > timeout_s:
                break
            if plan and stored >= plan[0][0] * total:
                k = _kill(client, run_id, plan[0][1], [x["device"] for x in kills])
                if k is not None:
                    kills.append(k)
                    plan.pop(0)
            time.sleep(0.02)
        out["makespan_s"] = round(time.perf_counter() - t_sub, 2)
        out["ideal_makespan_s"] = jobs_per_device * job_s
        out["kills_injected"] = kills
        while store.manifest().get("state") not in ("complete", "complete_with_errors"):
            if time.perf_counter() - t_sub > timeout_s + 30:
                break
            time.sleep(0.1)
        out["run_state"] = store.manifest().get("state")
        results = {r["job_id"]: r for r in store.results()}
        planned = [j["job_id"] for j in store.manifest()["jobs"]]
        lost = [j for j in planned if (results.get(j) or {}).get("error_type") != "standin"]
        execs: Dict[str, int] = {}
        for raw in client.lrange(STANDIN_LOG, 0, -1):
            e = json.loads(raw)
            if e["run_id"] == run_id:
                execs[e["job_id"]] = execs.get(e["job_id"], 0) + 1
        dup = sorted(j for j, n in execs.items() if n > 1)
        not_stored = len(list((store.root / "attempts").glob("*.json"))) if (store.root / "attempts").is_dir() else 0
        out["jobs_stored"] = len(results)
        out["lost_jobs"] = len(lost)
        out["lost_job_ids"] = lost[:10]
        out["duplicated_jobs"] = len(dup) + not_stored
        out["duplicated_job_ids"] = dup[:10]
        out["resubmitted_jobs"] = sum(1 for r in results.values() if int((r.get("lab") or {}).get("attempt", 1)) > 1)
        queue_ms = [1000 * float(r["lab"]["queue_wait_s"]) for r in results.values() if "queue_wait_s" in (r.get("lab") or {})]
        by_dev: Dict[str, List[Dict[str, Any]]] = {}
        for r in results.values():
            if r.get("lab", {}).get("started_at_unix_s") is not None:
                by_dev.setdefault(r["device_name"], []).append(r["lab"])
        pickup_ms: List[float] = []
        overlaps = 0
        for labs in by_dev.values():
            labs.sort(key=lambda x: x["started_at_unix_s"])
            prev_end = 0.0
            for x in labs:
                overlaps += x["started_at_unix_s"] < prev_end - 1e-3
                pickup_ms.append(1000 * (x["started_at_unix_s"] - max(x["queued_at_unix_s"], prev_end)))
                prev_end = float(x.get("finished_at_unix_s") or x["started_at_unix_s"])
        out["queue_latency_ms_p50"] = round(_pct(queue_ms, 50) or 0, 1) if queue_ms else None
        out["queue_latency_ms_p95"] = round(_pct(queue_ms, 95) or 0, 1) if queue_ms else None
        out["queue_latency_note"] = ("queued → started, including waiting behind the device's earlier jobs (%d per "
                                     "device of %.2f s); a resubmitted job's clock restarts at its resubmission"
                                     % (jobs_per_device, job_s))
        out["pickup_latency_ms_p50"] = round(_pct(pickup_ms, 50) or 0, 1) if pickup_ms else None
        out["pickup_latency_ms_p95"] = round(_pct(pickup_ms, 95) or 0, 1) if pickup_ms else None
        out["jobs_overlapping_on_a_device"] = overlaps
        rss = [_rss_bytes(p.pid) for p in procs]
        out["rss_per_host_supervisor_bytes_median"] = int(statistics.median([r for r in rss if r])) if any(rss) else None
        why = []
        if len(kills) < 3:
            why.append("only %d of 3 kills could be injected (nothing was running at the time)" % len(kills))
        if lost:
            why.append("%d job(s) lost" % len(lost))
        if out["duplicated_jobs"]:
            why.append("%d job(s) ran to completion more than once" % out["duplicated_jobs"])
        if overlaps:
            why.append("%d job(s) overlapped on a device" % overlaps)
        out["valid"] = not why
        out["invalid_because"] = "; ".join(why) or None
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
    return out


def gate_cost(n: int = 300) -> Dict[str, Any]:
    """What the trust boundary costs per job message: signing (submitter) and the whole gate (worker: HMAC,
    schema, the run's manifest read from the results store, the plan compared), on a real lab run's job."""
    from ..paths import results_root
    from ..lab.auth import sign
    from ..lab.gate import admit
    from ..lab.recovery import job_payload_from_plan

    run_root = sorted(p for p in results_root().iterdir() if (p / "manifest.json").is_file()
                      and "lab" in json.loads((p / "manifest.json").read_text()))[-1]
    manifest = json.loads((run_root / "manifest.json").read_text())
    payload = job_payload_from_plan(run_root.name, manifest["jobs"][0], manifest["lab"], 1)
    manifest["state"] = "running"  # a finished run is refused by the gate: time one that is not
    (run_root / "manifest.json").write_text(json.dumps(manifest))
    t0 = time.perf_counter()
    for _ in range(n):
        sig = sign(payload)
    sign_ms = (time.perf_counter() - t0) * 1000 / n
    times = []
    for _ in range(n):
        t = time.perf_counter()
        admit({"payload": payload, "sig": sig})
        times.append((time.perf_counter() - t) * 1000)
    return {"sign_ms_mean": round(sign_ms, 4), "gate_ms_p50": round(_pct(times, 50) or 0, 3),
            "gate_ms_p95": round(_pct(times, 95) or 0, 3), "manifest_jobs": len(manifest["jobs"])}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perf.lab", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved batches per side (default 3)")
    parser.add_argument("--jobs", type=int, default=4, help="jobs per batch (default 4)")
    parser.add_argument("--hosts", type=int, default=SCALE_HOSTS, help="scale run: lab worker host processes")
    parser.add_argument("--devices-per-host", type=int, default=SCALE_DEVICES_PER_HOST)
    parser.add_argument("--jobs-per-device", type=int, default=SCALE_JOBS_PER_DEVICE)
    parser.add_argument("--job-s", type=float, default=SCALE_JOB_S, help="seconds each stand-in job sleeps")
    args = parser.parse_args(argv)
    from ..lab.localredis import RedisServer, have_redis

    if not have_redis():
        print("perf-lab needs redis-server (apt-get install redis-server)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="edgebench-perf-lab-"))
    redis = RedisServer(tmp / "redis").start()
    (tmp / "devices.yaml").write_text("devices:\n  perf1:\n    class: linux\n    transport: local\n    workdir: %s\n"
                                      "    options: {lock_file: %s}\n" % (tmp / "wd", tmp / "lock"))
    env = dict(os.environ, EDGEBENCH_BROKER=redis.url, EDGEBENCH_RESULTS=str(tmp / "results"),
               EDGEBENCH_DEVICES=str(tmp / "devices.yaml"), EDGEBENCH_LAB_SECRETS=str(tmp / "secrets"))
    os.environ.update(env)
    from ..lab.auth import keygen

    keygen(tmp / "secrets")
    from ..lab import records
    from ..lab.app import app

    app.conf.broker_url = redis.url
    client = records.connect(redis.url)
    report: Dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                              "broker": "redis-server on loopback, no persistence"}
    worker = None
    t_all = time.perf_counter()
    try:
        w = worker_startup(client, env, "perf1")
        worker = w.pop("proc")
        report["worker"] = w
        models = [tiny_model(tmp / "models" / ("p%d.onnx" % i)) for i in range(args.jobs)]
        report["dispatch"] = dispatch_overhead("perf1", models, args.rounds)
        report["gate"] = gate_cost()
        report["scale"] = scale_run(client, env, tmp, args.hosts, args.devices_per_host, args.jobs_per_device,
                                    args.job_s)
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, 9)
        redis.stop()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    report["total_s"] = round(time.perf_counter() - t_all, 1)
    print(json.dumps(report, indent=1))
    print(summary(report))
    return 0


def summary(report: Dict[str, Any]) -> str:
    """The headline figures, each with its validity, one line each."""
    lines = ["perf-lab on %s CPUs (%.0f s):" % (report["machine"]["cpus"], report.get("total_s", 0))]
    w = report.get("worker") or {}
    lines.append("  device worker ready %.2f s after start, RSS main %.0f MB + pool child %.0f MB" % (
        w.get("startup_s") or 0, (w.get("rss_main_bytes") or 0) / 1e6, (w.get("rss_pool_child_bytes") or 0) / 1e6))
    d = report.get("dispatch") or {}
    for r in d.get("rounds", []):
        lines.append("  dispatch round %d (load %.2f): single %s ms/job, lab %s ms/job, spread %s → %s" % (
            r["round"], r["load_1min"], r["single_host_ms_per_job"], r["lab_ms_per_job"], r["spread_pct"],
            "valid" if r["valid"] else "SPOILED: " + r["spoiled_because"]))
    if d.get("valid"):
        lines.append("  dispatch overhead per job (valid rounds: %d): single %.1f ms, lab %.1f ms; lab − single %.1f ms,"
                     " lab/single %.2f" % (d["valid_rounds"], d["single_host_ms_per_job_median"],
                                           d["lab_ms_per_job_median"], d["lab_minus_single_ms_per_job_median"],
                                           d["lab_over_single_median"]))
    elif d:
        lines.append("  dispatch ratio REFUSED: %s" % d.get("refused_because"))
    sc = report.get("scale") or {}
    if sc:
        lines.append("  scale: %d devices on %d hosts, %s stand-in jobs, workers up in %s s, makespan %s s (ideal %s s); "
                     "kills %d; lost %s, duplicated %s, resubmitted %s; queue latency p50 %s ms / p95 %s ms; pick-up "
                     "p50 %s ms / p95 %s ms → %s" % (
                         sc.get("devices"), sc.get("hosts"), sc.get("jobs"), sc.get("workers_up_s"),
                         sc.get("makespan_s"), sc.get("ideal_makespan_s"), len(sc.get("kills_injected") or []),
                         sc.get("lost_jobs"), sc.get("duplicated_jobs"), sc.get("resubmitted_jobs"),
                         sc.get("queue_latency_ms_p50"), sc.get("queue_latency_ms_p95"),
                         sc.get("pickup_latency_ms_p50"), sc.get("pickup_latency_ms_p95"),
                         "valid" if sc.get("valid") else "INVALID: %s" % sc.get("invalid_because")))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
