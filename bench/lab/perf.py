"""``make perf-lab``: what the lab costs, measured on this machine with a private Redis on loopback.

1. A device worker: start-up time (spawn → its device record in Redis, i.e. probed and consuming) and memory
   (RSS of the worker's main process and of its one pool child).
2. Dispatch overhead per job, lab vs single host, on the same tiny jobs, batches interleaved (after one warm-up
   batch each): wall time from planning to the last stored result, minus the agents' own run time, per job.
3. A simulated scale run (STAND-INS): 200 device queues on 20 "host" processes, each device consumed by one
   kombu consumer (prefetch 1, acknowledged before the job, as the lab's workers) on the lab's queue layout (a
   sub-queue per user, priorities), stand-in jobs that sleep. Queue latency p50/p95 (queued → started) and
   pick-up latency (ready → started: when the device was idle, or from its previous job's end).
Numbers that cannot be measured are printed as null with the reason."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

#: Stand-in job length (seconds) and queue layout of the scale run.
SIM_HOSTS = 20
SIM_DEVICES_PER_HOST = 10
SIM_USERS = 4
SIM_JOBS_PER_DEVICE = 5
SIM_JOB_S = 1.0
DONE_KEY = "edgebench:lab:perf:done"
STOP_KEY = "edgebench:lab:perf:stop"


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
    from . import records

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
    from ..cli import build_parser

    argv = ["lab", "submit", "--device", device, "--runs", "3", "--min-seconds", "0", "--warmup", "0",
            "--ceilings", "skip"] + extra
    for m in models:
        argv += ["--model-file", str(m)]
    return build_parser().parse_args(argv)


def single_batch(device: str, models: List[Path]) -> Dict[str, float]:
    from ..cli import plan_from_args
    from ..inventory import load_inventory, resolve_devices
    from ..runner import run_plan
    from ..store import RunStore

    t0 = time.perf_counter()
    jobs = plan_from_args(_plan_args(device, models, []), [device])
    store = RunStore.create(jobs, ["perf-lab", "single"])
    run_plan(store, jobs, {d.name: d for d in resolve_devices([device], load_inventory())}, printer=lambda s: None,
             ceilings="skip")
    wall = time.perf_counter() - t0
    execs = [r["host"]["exec_s"] for r in store.results()]
    return {"wall_s": wall, "exec_s": sum(execs), "jobs": len(execs)}


def lab_batch(device: str, models: List[Path]) -> Dict[str, float]:
    import contextlib
    import io

    from ..store import RunStore
    from .submit import cmd_submit

    t0 = time.perf_counter()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cmd_submit(_plan_args(device, models, ["--user", "perf"]))
    run_id = out.getvalue().split("submitted run ", 1)[1].split(":", 1)[0]
    store = RunStore.open(run_id)
    while len(list((store.root / "jobs").glob("*.json"))) < len(models):
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    execs = [r["host"]["exec_s"] for r in store.results()]
    while store.manifest().get("state") not in ("complete", "complete_with_errors"):  # report rendering: untimed
        time.sleep(0.1)
    return {"wall_s": wall, "exec_s": sum(execs), "jobs": len(execs)}


def dispatch_overhead(device: str, models: List[Path], rounds: int) -> Dict[str, Any]:
    per_job: Dict[str, List[float]] = {"single_host": [], "lab": []}
    warmup: Dict[str, float] = {}
    for k in range(rounds + 1):  # round 0 warms both sides up (first imports, first deploy) and is not counted
        for name, fn in (("single_host", single_batch), ("lab", lab_batch)):
            b = fn(device, models)
            ms = (b["wall_s"] - b["exec_s"]) / b["jobs"] * 1000.0
            if k == 0:
                warmup["%s_ms_per_job" % name] = round(ms, 1)
            else:
                per_job[name].append(ms)
    out: Dict[str, Any] = {"jobs_per_batch": len(models), "rounds": rounds, "warmup_round_not_counted": warmup}
    for name, vals in per_job.items():
        out["%s_overhead_ms_per_job" % name] = [round(v, 1) for v in vals]
        out["%s_overhead_ms_per_job_median" % name] = round(statistics.median(vals), 1)
    out["lab_extra_ms_per_job_median"] = round(out["lab_overhead_ms_per_job_median"]
                                               - out["single_host_overhead_ms_per_job_median"], 1)
    return out


# -- the simulated scale run (stand-ins) ------------------------------------------------------------------------
def standin_host(host: int, devices: List[str]) -> None:
    """One stand-in lab host: a kombu consumer per device (prefetch 1, ack before the job), jobs that sleep."""
    from kombu import Consumer, Exchange, Queue

    from . import keys, records
    from .app import app

    client = records.connect(app.conf.broker_url)

    def device_loop(device: str) -> None:
        with app.connection_for_read() as conn:
            channel = conn.channel()
            channel.basic_qos(0, 1, False)
            names = [keys.user_queue(device, "user%d" % u) for u in range(SIM_USERS)]

            def on_message(body: Any, message: Any) -> None:
                message.ack()  # at most once, as the lab's workers (acks_late off)
                payload = body[1]["payload"] if isinstance(body, list) else body["payload"]
                started = records.now_s()
                time.sleep(payload["sleep_s"])
                client.rpush(DONE_KEY, json.dumps({"device": device, "user": payload["user"], "queued": payload[
                    "queued_at_unix_s"], "started": started, "finished": records.now_s()}))

            queues = [Queue(n, Exchange(n, type="direct"), routing_key=n) for n in names]
            with Consumer(channel, queues, callbacks=[on_message], accept=["json"]):
                while not client.exists(STOP_KEY):
                    try:
                        conn.drain_events(timeout=0.5)
                    except TimeoutError:
                        pass
                    except OSError:
                        time.sleep(0.1)

    threads = [threading.Thread(target=device_loop, args=(d,), daemon=True) for d in devices]
    for t in threads:
        t.start()
    client.rpush(DONE_KEY + ":ready", str(host))
    for t in threads:
        t.join()


def scale_sim(client: Any, env: Dict[str, str]) -> Dict[str, Any]:
    from . import keys, records
    from .app import app
    from .lost import send_job
    from .submit import declare

    devices = ["sim%03d" % i for i in range(SIM_HOSTS * SIM_DEVICES_PER_HOST)]
    declare([keys.user_queue(d, "user%d" % u) for d in devices for u in range(SIM_USERS)])
    client.delete(DONE_KEY, DONE_KEY + ":ready", STOP_KEY)
    t0 = time.perf_counter()
    hosts = [subprocess.Popen([sys.executable, "-m", "bench.lab.perf", "--standin-host", str(h),
                               ",".join(devices[h * SIM_DEVICES_PER_HOST:(h + 1) * SIM_DEVICES_PER_HOST])], env=env)
             for h in range(SIM_HOSTS)]
    while client.llen(DONE_KEY + ":ready") < SIM_HOSTS:
        if any(p.poll() is not None for p in hosts) or time.perf_counter() - t0 > 120:
            raise RuntimeError("stand-in hosts did not start")
        time.sleep(0.05)
    hosts_up_s = time.perf_counter() - t0
    time.sleep(1.0)  # every consumer has issued its first BRPOP
    total = len(devices) * SIM_JOBS_PER_DEVICE
    t1 = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for k in range(SIM_JOBS_PER_DEVICE):
            for i, d in enumerate(devices):
                user = "user%d" % ((k + i) % SIM_USERS)
                send_job(app, {"queue": keys.user_queue(d, user), "priority": 5, "user": user, "sleep_s": SIM_JOB_S,
                               "queued_at_unix_s": records.now_s(), "standin": True}, producer)
    send_s = time.perf_counter() - t1
    while client.llen(DONE_KEY) < total and time.perf_counter() - t1 < 120:
        time.sleep(0.05)
    makespan_s = time.perf_counter() - t1
    client.set(STOP_KEY, "1")
    rss = [_rss_bytes(p.pid) or 0 for p in hosts]
    for p in hosts:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    done = [json.loads(x) for x in client.lrange(DONE_KEY, 0, -1)]
    queue_ms = [(d["started"] - d["queued"]) * 1000 for d in done]
    pickup_ms: List[float] = []
    by_dev: Dict[str, List[Dict[str, float]]] = {}
    for d in done:
        by_dev.setdefault(d["device"], []).append(d)
    overlaps = 0
    for jobs in by_dev.values():
        jobs.sort(key=lambda d: d["started"])
        prev_end = 0.0
        for d in jobs:
            overlaps += d["started"] < prev_end - 1e-4
            pickup_ms.append((d["started"] - max(d["queued"], prev_end)) * 1000)
            prev_end = d["finished"]
    return {"label": "STAND-INS: kombu consumers on the lab's queue layout, jobs that sleep %.1f s; not Celery worker "
                     "processes and not benchmarks" % SIM_JOB_S,
            "hosts": SIM_HOSTS, "device_queues": len(devices), "users": SIM_USERS, "jobs": total,
            "jobs_done": len(done), "jobs_overlapping_on_a_device": overlaps,
            "hosts_up_s": round(hosts_up_s, 2), "submit_s": round(send_s, 2),
            "submit_jobs_per_s": round(total / send_s, 0) if send_s > 0 else None,
            "makespan_s": round(makespan_s, 2), "ideal_makespan_s": SIM_JOBS_PER_DEVICE * SIM_JOB_S,
            "queue_latency_ms_p50": round(_pct(queue_ms, 50) or 0, 1), "queue_latency_ms_p95": round(_pct(queue_ms, 95) or 0, 1),
            "pickup_latency_ms_p50": round(_pct(pickup_ms, 50) or 0, 1),
            "pickup_latency_ms_p95": round(_pct(pickup_ms, 95) or 0, 1),
            "rss_per_standin_host_bytes_median": int(statistics.median(rss)) if any(rss) else None}


def gate_cost(n: int = 300) -> Dict[str, Any]:
    """What the trust boundary costs per job message: signing (submitter) and the whole gate (worker: HMAC,
    schema, the run's manifest read from the results store, the plan compared), on a real lab run's job."""
    from ..paths import results_root
    from .auth import sign
    from .gate import admit
    from .recovery import job_payload_from_plan

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
    parser = argparse.ArgumentParser(prog="python -m bench.lab.perf", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved batches per side (default 3)")
    parser.add_argument("--jobs", type=int, default=4, help="jobs per batch (default 4)")
    parser.add_argument("--standin-host", nargs=2, metavar=("HOST", "DEVICES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.standin_host:
        standin_host(int(args.standin_host[0]), args.standin_host[1].split(","))
        return 0
    from .localredis import RedisServer, have_redis

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
    from .auth import keygen

    keygen(tmp / "secrets")
    from . import records
    from .app import app

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
        report["scale_simulation"] = scale_sim(client, env)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
