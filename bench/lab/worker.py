"""A lab worker: one Celery worker process per device (concurrency 1, no prefetch), consuming ``dev.<device>``
and every user's sub-queue of it, plus the lab's bootstep in each:

- before consuming: probe the device; unhealthy → its queues are not consumed (quarantine), jobs wait;
- every ``heartbeat_s``: refresh the worker's heartbeat and the device record ``lab status`` reads, pick up
  users' new sub-queues, sweep for jobs whose worker died (lost.py);
- every ``health_s`` while idle: probe again; a change quarantines (``cancel_consumer``) or restores
  (``add_consumer``) the device's queues through Celery's remote control, addressed to this worker only.

``python -m bench lab worker --devices a,b`` starts one such process per device and restarts one that dies
(a systemd unit per host runs this command, see bench/lab/edgebench-lab-worker.service)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Set

from celery import bootsteps

from . import keys, records
from .app import LabError, app, broker_url, redacted
from .health import Health, probe
from .lost import Reaper

log = logging.getLogger("edgebench.lab")

#: Exit code of a device worker that must not be restarted (bad configuration, device owned elsewhere).
EXIT_CONFIG = 2


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_elsewhere(client: Any, device: str) -> Optional[str]:
    """Who else runs a live worker for ``device`` (one line), or None. A record left by a dead worker of this
    host (its pid is gone) does not count."""
    info = records.device_info(client, device)
    if not info:
        return None
    if info.get("lab_host") == socket.gethostname() and not _pid_alive(int(info.get("pid", 0))):
        return None
    if info.get("pid") == os.getpid() and info.get("lab_host") == socket.gethostname():
        return None
    return "%s (pid %s on %s)" % (info.get("node"), info.get("pid"), info.get("lab_host"))


class LabRuntime:
    """The lab side of one device worker process (its main process, not the pool child)."""

    def __init__(self, device: Any, url: str, timings: records.Timings) -> None:
        self.device = device
        self.url = url
        self.timings = timings
        self.client = records.connect(url)
        self.node = ""
        self.worker_id = ""
        self.health = Health(ok=False, reason="not probed yet", probe_s=0.0)
        self.health_since = records.now_s()
        self.last_probe_mono = 0.0
        self.consumed: Set[str] = set()
        self.quarantined = False
        self.thread: Optional[threading.Thread] = None
        self.stop = threading.Event()
        self.reaper: Optional[Reaper] = None
        self.started_mono = time.monotonic()

    # -- in the consumer's start (the event loop's thread, before the first message is fetched) --------------
    def attach(self, consumer: Any) -> None:
        self.node = consumer.hostname
        self.worker_id = "%s/%d" % (self.node, os.getpid())
        self.reaper = Reaper(app, self.client, self.timings.lost_after_s, self.worker_id)
        self.set_health(probe(self.device))
        wanted = self.wanted_queues()
        current = {q.name for q in consumer.task_consumer.queues}
        if self.health.ok:
            for q in sorted(wanted - current):
                consumer.add_task_queue(q)
            self.consumed = wanted | current
            self.quarantined = False
        else:
            for q in sorted(current):
                consumer.cancel_task_queue(q)
            self.consumed = set()
            self.quarantined = True
            log.warning("device %s quarantined before consuming: %s", self.device.name, self.health.reason)
        self.beat()
        if self.thread is None:  # the consumer restarts after a broker reconnect: one thread per process
            self.thread = threading.Thread(target=self.loop, name="edgebench-lab", daemon=True)
            self.thread.start()

    def wanted_queues(self) -> Set[str]:
        return {keys.device_queue(self.device.name)} | set(self.client.smembers(keys.queues_of(self.device.name)))

    def set_health(self, health: Health) -> None:
        if health.ok != self.health.ok:
            self.health_since = records.now_s()
        self.health = health
        self.last_probe_mono = time.monotonic()

    # -- the lab thread ----------------------------------------------------------------------------------------
    def busy(self) -> bool:
        from celery.worker import state

        return bool(state.active_requests)

    def beat(self) -> None:
        ttl_ms = int(self.timings.alive_ttl_s * 1000)
        info = {"device": self.device.name, "transport": self.device.transport, "node": self.node,
                "worker_id": self.worker_id, "pid": os.getpid(), "lab_host": socket.gethostname(),
                "state": "quarantined" if self.quarantined else "healthy", "reason": self.health.reason,
                "since_unix_s": round(self.health_since, 3), "probe_s": self.health.probe_s, "busy": self.busy(),
                "queues": sorted(self.consumed), "heartbeat_unix_s": round(records.now_s(), 3),
                "up_s": round(time.monotonic() - self.started_mono, 1)}
        pipe = self.client.pipeline()
        pipe.set(keys.worker_alive(self.worker_id), "1", px=ttl_ms)
        pipe.set(keys.device_record(self.device.name), records.dumps(info), px=ttl_ms)
        pipe.execute()

    def control(self, op: str, queue: str) -> None:
        """``add_consumer`` / ``cancel_consumer`` through Celery's remote control, to this worker only."""
        fn = getattr(app.control, op)
        replies = fn(queue, destination=[self.node], reply=True, timeout=5.0)
        if not replies:
            raise RuntimeError("no reply from %s to %s %s" % (self.node, op, queue))

    def apply_health(self) -> None:
        wanted = self.wanted_queues()
        if self.health.ok:
            for q in sorted(wanted - self.consumed):
                self.control("add_consumer", q)
                self.consumed.add(q)
            if self.quarantined:
                log.warning("device %s healthy again: consuming %s", self.device.name, ", ".join(sorted(wanted)))
            self.quarantined = False
        elif not self.quarantined:
            for q in sorted(self.consumed):
                self.control("cancel_consumer", q)
            self.consumed = set()
            self.quarantined = True
            log.warning("device %s quarantined: %s", self.device.name, self.health.reason)

    def tick(self) -> None:
        if not self.busy() and time.monotonic() - self.last_probe_mono >= self.timings.health_s:
            self.set_health(probe(self.device))
        self.apply_health()
        self.beat()
        if self.reaper is not None:
            self.reaper.sweep()

    def loop(self) -> None:
        while not self.stop.wait(self.timings.heartbeat_s):
            try:
                self.tick()
            except Exception as exc:  # Redis restarting, a control reply late: next tick tries again
                log.warning("lab tick on %s: %s: %s", self.device.name, type(exc).__name__, exc)


class LabStep(bootsteps.StartStopStep):
    """Consumer bootstep: starts after the task consumer is set up and before the event loop fetches."""

    requires = ("celery.worker.consumer.tasks:Tasks",)
    runtime: Optional[LabRuntime] = None

    def start(self, consumer: Any) -> None:
        assert LabStep.runtime is not None
        LabStep.runtime.attach(consumer)

    def shutdown(self, consumer: Any) -> None:
        rt = LabStep.runtime
        if rt is not None:
            rt.stop.set()
            try:  # a clean stop: the device has no worker now (status says so at once, not after the TTL)
                rt.client.delete(keys.device_record(rt.device.name), keys.worker_alive(rt.worker_id))
            except Exception:
                pass


def device_main(device_name: str) -> int:
    """One device's Celery worker (``python -m bench.lab.worker DEVICE``)."""
    from ..inventory import InventoryError, load_inventory, resolve_devices

    logging.basicConfig(level=logging.INFO, format="%(asctime)s " + device_name + " %(levelname)s %(message)s")
    url = broker_url()
    try:
        device = resolve_devices([device_name], load_inventory())[0]
        client = records.connect(url, patience_s=5)
        records.ping(client, url)
        other = owner_elsewhere(client, device_name)
    except (InventoryError, LabError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return EXIT_CONFIG
    if other:
        print("error: device %r already has a lab worker: %s; one worker per device (stop that one first)"
              % (device_name, other), file=sys.stderr)
        return EXIT_CONFIG
    os.environ["EDGEBENCH_LAB_DEVICE"] = device_name  # the pool child checks each job's device against it
    LabStep.runtime = LabRuntime(device, url, records.Timings.from_env())
    app.steps["consumer"].add(LabStep)
    app.worker_main(["worker", "-n", "%s@%s" % (device_name, socket.gethostname()), "-Q", keys.device_queue(device_name),
                     "-c", "1", "--prefetch-multiplier=1", "--disable-prefetch", "-P", "prefork",
                     "--without-gossip", "--without-mingle", "-l", "INFO"])
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """``lab worker``: a device worker per device; one that dies is restarted (at most 5 times a minute)."""
    from ..cli import _split
    from ..inventory import load_inventory, resolve_devices

    url = broker_url(args.broker)
    names = _split([args.devices])
    if not names:
        raise LabError("--devices: name at least one device of this host's devices.yaml")
    resolve_devices(names, load_inventory())  # unknown names fail here, with the known ones listed
    client = records.connect(url, patience_s=3)
    records.ping(client, url)
    for name in names:
        other = owner_elsewhere(client, name)
        if other:
            raise LabError("device %r already has a lab worker: %s; one worker per device (stop that one first)"
                           % (name, other))
    env = dict(os.environ, EDGEBENCH_BROKER=url)
    if args.health_interval_s is not None:
        env["EDGEBENCH_LAB_HEALTH_S"] = str(args.health_interval_s)

    def spawn(name: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "bench.lab.worker", name], env=env)

    procs: Dict[str, subprocess.Popen] = {n: spawn(n) for n in names}
    restarts: Dict[str, List[float]] = {n: [] for n in names}
    print("lab worker: %s on %s, broker %s (pids %s)" % (", ".join(names), socket.gethostname(), redacted(url),
                                                          ", ".join(str(p.pid) for p in procs.values())), flush=True)
    rc = 0
    try:
        while procs:
            time.sleep(0.2)
            for name, proc in list(procs.items()):
                code = proc.poll()
                if code is None:
                    continue
                recent = [t for t in restarts[name] if time.monotonic() - t < 60] + [time.monotonic()]
                restarts[name] = recent
                if code == EXIT_CONFIG or args.no_restart or len(recent) > 5:
                    print("lab worker: %s exited with %s; not restarted" % (name, code), file=sys.stderr, flush=True)
                    del procs[name]
                    rc = rc or (code or 1)
                    continue
                print("lab worker: %s died (%s); restarting it" % (name, code), file=sys.stderr, flush=True)
                procs[name] = spawn(name)
    except KeyboardInterrupt:  # SIGTERM/Ctrl-C: warm shutdown, each finishes its running job first
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait()
            except KeyboardInterrupt:
                proc.kill()
        return 0
    return rc


if __name__ == "__main__":
    from bench.lab.worker import device_main as _main

    sys.exit(_main(sys.argv[1]))
