"""A lab worker: one Celery worker process per device (concurrency 1, no prefetch), consuming ``dev.<device>``
and every user's sub-queue of it, plus the lab's bootstep in each:

- before consuming: take the device's lease (a fencing token: generation n), probe the device and check that
  the lab's results store is there; unhealthy → its queues are not consumed (quarantine), jobs wait;
- every heartbeat: keep the lease — a worker whose lease was taken while it stalled stops before its next job
  (the task checks the lease too), and check the results store;
- every ``heartbeat_s``: refresh the worker's heartbeat and the device record ``lab status`` reads, pick up
  users' new sub-queues, sweep for jobs whose worker died (lost.py);
- every ``health_s`` while idle: probe again; a change quarantines (``cancel_consumer``) or restores
  (``add_consumer``) the device's queues through Celery's remote control, addressed to this worker only;
- on ``lab_quarantine`` (a control command its own job-running process sends when a job failed and the device
  no longer answers, tasks.py): stop consuming at once, before the next job; the health loop restores it.

``python -m bench lab worker --devices a,b`` starts one such process per device and restarts one that dies
(a systemd unit per host runs this command, see bench/lab/edgebench-lab-worker.service)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from typing import Any, Dict, List, Optional, Set

from celery import bootsteps
from celery.worker.control import control_command

from . import auth, forkguard, keys, records
from .app import LabError, app, broker_url, redacted
from .health import Health, probe, store_problem
from .lost import Reaper, pid_alive
from .recovery import Recovery

log = logging.getLogger("edgebench.lab")

#: Exit code of a device worker that must not be restarted (bad configuration, device owned elsewhere).
EXIT_CONFIG = 2
#: Set when this worker found its lease taken (it stalled past it): it stops and is not restarted.
STALE: Dict[str, str] = {}


def owner_elsewhere(client: Any, device: str) -> Optional[str]:
    """Who else runs a live worker for ``device`` (one line), or None. A record left by a dead worker of this
    host (its pid is gone) does not count."""
    info = records.device_info(client, device)
    if not info:
        return None
    if info.get("lab_host") == socket.gethostname() and not pid_alive(int(info.get("pid", 0))):
        return None
    if info.get("pid") == os.getpid() and info.get("lab_host") == socket.gethostname():
        return None
    return "%s (pid %s on %s)" % (info.get("node"), info.get("pid"), info.get("lab_host"))


#: Seconds the lab thread waits for a health probe (its own deadline is 15 s after connecting) before it
#: quarantines the device and says where the probe hangs.
PROBE_GIVE_UP_S = 60.0


def _stack_of(thread: threading.Thread) -> str:
    """The last frames of ``thread``'s stack, for a log line."""
    frame = sys._current_frames().get(thread.ident or -1)
    return "".join(traceback.format_stack(frame)[-4:]).rstrip() if frame is not None else "(no frame)"


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
        self.recovery: Optional[Recovery] = None
        self.lease: Optional[Dict[str, Any]] = None
        self.started_mono = time.monotonic()
        #: Monotonic time the lab thread's current tick began (None between ticks), for ``watch``.
        self.tick_since: Optional[float] = None
        #: Monotonic time of the last heartbeat written.
        self.beat_mono = time.monotonic()
        #: A health probe given up while it still ran (and when): no other starts until it ends.
        self.hung_probe: Optional[threading.Thread] = None
        self.hung_since = 0.0
        #: Held while the consumed queues change (the lab thread's health loop, the ``lab_quarantine`` command).
        self.lock = threading.RLock()

    def probe_all(self) -> Health:
        """The results store first (cheap, and without it nothing can be stored), then the device."""
        problem = store_problem()
        if problem:
            return Health(ok=False, reason=problem, probe_s=0.0)
        return probe(self.device)

    def go_stale(self, why: str) -> None:
        """Another worker holds the device's lease now: stop consuming and end this worker (not restarted)."""
        if STALE:
            return
        STALE["why"] = why
        log.error("device %s: %s; this worker stops before its next job (one worker per device)", self.device.name, why)
        self.stop.set()
        os.kill(os.getpid(), signal.SIGTERM)  # warm shutdown: a running job finishes; its result is fenced

    # -- in the consumer's start (the event loop's thread, before the first message is fetched) --------------
    def attach(self, consumer: Any) -> None:
        self.node = consumer.hostname
        self.worker_id = "%s/%d" % (self.node, os.getpid())
        self.reaper = Reaper(app, self.client, self.timings.lost_after_s, self.worker_id)
        self.recovery = Recovery(app, self.client, self.timings.lost_after_s, self.worker_id)
        ttl_ms = int(self.timings.alive_ttl_s * 1000)
        if self.lease is None:
            # a lease left by a dead worker (kill -9, then restarted at once) expires within its TTL: wait that out;
            # a live holder refreshes it and keeps it
            deadline = time.monotonic() + 1.5 * self.timings.alive_ttl_s
            self.lease = records.take_lease(self.client, self.device.name, self.worker_id, ttl_ms)
            while self.lease is None and time.monotonic() < deadline:
                time.sleep(self.timings.heartbeat_s / 2)
                self.lease = records.take_lease(self.client, self.device.name, self.worker_id, ttl_ms)
            if self.lease is None:
                holder = records.lease_holder(self.client, self.device.name) or {}
                for q in sorted({q.name for q in consumer.task_consumer.queues}):
                    consumer.cancel_task_queue(q)
                self.go_stale("its lease is held by %s (generation %s)" % (holder.get("worker_id"), holder.get("gen")))
                return
            log.info("device %s: lease generation %d taken by %s", self.device.name, self.lease["gen"], self.worker_id)
        elif not records.keep_lease(self.client, self.device.name, self.lease, ttl_ms):
            for q in sorted({q.name for q in consumer.task_consumer.queues}):
                consumer.cancel_task_queue(q)
            self.go_stale("its lease (generation %d) was taken by another worker" % self.lease["gen"])
            return
        self.set_health(self.probe_all())
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

    def quarantine_now(self, consumer: Any, reason: str) -> List[str]:
        """Stop consuming every queue of the device now (in the event loop's thread, as Celery's own
        ``cancel_consumer`` does); the health loop probes again after ``health_s`` and restores it. Returns the
        queues cancelled."""
        with self.lock:
            self.health = Health(ok=False, reason=reason, probe_s=0.0)
            self.health_since = records.now_s()
            self.last_probe_mono = time.monotonic()
            self.quarantined = True
            queues = sorted({q.name for q in consumer.task_consumer.queues} | self.consumed)
            for q in queues:
                consumer.cancel_task_queue(q)
            self.consumed = set()
        log.warning("device %s quarantined after a failed job: %s", self.device.name, reason)
        try:
            self.beat()  # lab status says so now, not at the next heartbeat
        except Exception:
            pass
        return queues

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
        if self.lease is not None and not records.keep_lease(self.client, self.device.name, self.lease, ttl_ms):
            holder = records.lease_holder(self.client, self.device.name) or {}
            self.go_stale("its lease (generation %d) expired while this worker was stalled and was taken by %s "
                          "(generation %s)" % (self.lease["gen"], holder.get("worker_id"), holder.get("gen")))
            return
        info["lease_gen"] = (self.lease or {}).get("gen")
        pipe = self.client.pipeline()
        pipe.set(keys.worker_alive(self.worker_id), "1", px=ttl_ms)
        pipe.set(keys.device_record(self.device.name), records.dumps(info), px=ttl_ms)
        pipe.execute()
        self.beat_mono = time.monotonic()

    def control(self, op: str, queue: str) -> None:
        """``add_consumer`` / ``cancel_consumer`` through Celery's remote control, to this worker only."""
        fn = getattr(app.control, op)
        replies = fn(queue, destination=[self.node], reply=True, timeout=5.0)
        if not replies:
            raise RuntimeError("no reply from %s to %s %s" % (self.node, op, queue))

    def apply_health(self) -> None:
        wanted = self.wanted_queues()
        with self.lock:
            self._apply_health(wanted)

    def _apply_health(self, wanted: Set[str]) -> None:
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
        self.beat()  # the lease first: a stale worker does nothing more
        if STALE:
            return
        problem = store_problem()
        if problem:
            self.set_health(Health(ok=False, reason=problem, probe_s=0.0))
        elif (not self.busy() and (time.monotonic() - self.last_probe_mono >= self.timings.health_s
                                   or (not self.health.ok and "results store" in (self.health.reason or "")))):
            health = self.probe_beating()
            if STALE:  # the lease was taken while it ran: this worker does nothing more
                return
            self.set_health(health)
        self.apply_health()
        if self.reaper is not None:
            self.reaper.sweep()
            self.reaper.sweep_children(self.worker_id)
        if self.recovery is not None:
            self.recovery.sweep()

    def probe_beating(self) -> Health:
        """The device's probe in a thread of its own while this one keeps the heartbeat and the lease: a probe may
        take its whole deadline (15 s; an SSH device that is down, its connect timeout), longer than the lease's TTL.
        One given up (``PROBE_GIVE_UP_S``) quarantines the device; no other starts while it still hangs."""
        hung = self.hung_probe
        if hung is not None and hung.is_alive():
            return Health(ok=False, reason="the health probe given up %.0f s ago still has not ended"
                          % (time.monotonic() - self.hung_since), probe_s=0.0)
        self.hung_probe = None
        box: Dict[str, Any] = {}

        def run() -> None:
            try:
                with forkguard.held():  # a pool child forked now would hold the probe's pipes open (forkguard.py)
                    box["health"] = probe(self.device)
            except BaseException as exc:  # said by the tick, as before
                box["error"] = exc

        thread = threading.Thread(target=run, name="edgebench-lab-probe", daemon=True)
        start = time.monotonic()
        thread.start()
        thread.join(self.timings.heartbeat_s)
        while thread.is_alive():
            waited_s = time.monotonic() - start
            if waited_s > PROBE_GIVE_UP_S:  # past every deadline of its own: say where it hangs, quarantine
                log.error("device %s: the health probe has not ended after %.0f s, waiting in:\n%s", self.device.name,
                          waited_s, _stack_of(thread))
                forkguard.abandon(thread)  # the pool's forks no longer wait for it
                self.hung_probe, self.hung_since = thread, time.monotonic()
                return Health(ok=False, reason="the health probe did not end within %.0f s" % PROBE_GIVE_UP_S,
                              probe_s=round(waited_s, 3))
            if not STALE:
                try:
                    self.beat()
                except Exception as exc:  # Redis restarting: the next beat tries again
                    log.warning("lab heartbeat on %s: %s: %s", self.device.name, type(exc).__name__, exc)
            thread.join(self.timings.heartbeat_s)
        error = box.get("error")
        if isinstance(error, Exception):
            raise error
        if error is not None:
            raise RuntimeError("the health probe ended with %s" % type(error).__name__) from error
        return box["health"]

    def loop(self) -> None:
        threading.Thread(target=self.watch, name="edgebench-lab-watch", daemon=True).start()
        while not self.stop.wait(self.timings.heartbeat_s):
            self.tick_since = time.monotonic()
            try:
                self.tick()
            except Exception as exc:  # Redis restarting, a control reply late: next tick tries again
                log.warning("lab tick on %s: %s: %s", self.device.name, type(exc).__name__, exc)
            finally:
                self.tick_since = None

    def watch(self) -> None:
        """Say once per tick, with where it waits, when the lab thread has written no heartbeat for longer than the
        lease's TTL: the lease lapses and every job is handed back until it returns."""
        said: Optional[float] = None
        while not self.stop.wait(self.timings.heartbeat_s):
            since, thread = self.tick_since, self.thread
            if since is None or since == said or thread is None or thread.ident is None:
                continue
            stuck_s = time.monotonic() - max(since, self.beat_mono)
            if stuck_s > self.timings.alive_ttl_s:
                said = since
                log.error("device %s: the lab thread has written no heartbeat for %.0f s (the lease lapses after "
                          "%.0f s; jobs are handed back meanwhile), waiting in:\n%s", self.device.name, stuck_s,
                          self.timings.alive_ttl_s, _stack_of(thread))


@control_command(args=[("reason", str)], signature="<reason>")
def lab_quarantine(state: Any, reason: str = "") -> Dict[str, Any]:
    """Remote control (to one worker): quarantine its device now — sent by its own job-running process after a
    job failed and the device did not answer a probe (tasks.py). Replies once the queues are cancelled."""
    rt = LabStep.runtime
    if rt is None:
        return {"ok": False, "error": "not a lab device worker"}
    return {"ok": True, "cancelled": rt.quarantine_now(state.consumer, str(reason)[:2000])}


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
                if STALE:  # the record and the lease are the new worker's now
                    rt.client.delete(keys.worker_alive(rt.worker_id))
                    return
                rt.client.delete(keys.device_record(rt.device.name), keys.worker_alive(rt.worker_id))
                if rt.lease is not None:
                    records.release_lease(rt.client, rt.device.name, rt.lease)
            except Exception:
                pass


def device_main(device_name: str) -> int:
    """One device's Celery worker (``python -m bench.lab.worker DEVICE``)."""
    from ..plan.inventory import InventoryError, load_inventory, resolve_devices

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
    kept = records.persistence(client)
    if kept is False:
        log.warning("Redis at %s has no persistence (appendonly no): a Redis restart forgets every queued job and "
                    "run record; the lab then rebuilds the runs from the results store and queues the jobs again, "
                    "but jobs queued by runs it cannot see are gone. Turn it on: redis-server --appendonly yes "
                    "(README, 'A device lab')", redacted(url))
    elif kept is None:
        log.warning("Redis at %s does not say whether it persists its data (CONFIG/INFO refused by its ACL): make "
                    "sure it runs with appendonly yes", redacted(url))
    os.environ["EDGEBENCH_LAB_DEVICE"] = device_name  # the pool child checks each job's device against it
    forkguard.install()  # the pool's forks wait while the lab thread starts a probe
    LabStep.runtime = LabRuntime(device, url, records.Timings.from_env())
    app.steps["consumer"].add(LabStep)
    try:
        app.worker_main(["worker", "-n", "%s@%s" % (device_name, socket.gethostname()), "-Q",
                         keys.device_queue(device_name), "-c", "1", "--prefetch-multiplier=1", "--disable-prefetch",
                         "-P", "prefork", "--without-gossip", "--without-mingle", "-l", "INFO"])
    except SystemExit:
        if not STALE:
            raise
        print("error: device %r: %s; stopped (one worker per device)" % (device_name, STALE["why"]), file=sys.stderr)
        return EXIT_CONFIG
    if STALE:
        print("error: device %r: %s; stopped (one worker per device)" % (device_name, STALE["why"]), file=sys.stderr)
        return EXIT_CONFIG
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """``lab worker``: a device worker per device; one that dies is restarted (at most 5 times a minute)."""
    from ..cli.plan_args import _split
    from ..plan.inventory import load_inventory, resolve_devices

    url = broker_url(args.broker, args.insecure_broker)
    auth.keys_cached()
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
    env = dict(os.environ, EDGEBENCH_BROKER=url, EDGEBENCH_LAB_INSECURE_BROKER="1" if args.insecure_broker else "0")
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
