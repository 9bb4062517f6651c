"""Names the lab agrees on: Celery queues and the lab's own Redis keys (one place, read by every module)."""

from __future__ import annotations

from typing import List

from ..paths import slug_name

#: Every lab key in Redis starts with this (Celery's own keys do not).
PREFIX = "edgebench:lab:"
#: kombu's Redis transport keeps one list per priority step: ``<queue><SEP><step>`` (step 0 is the queue itself).
PRIORITY_SEP = "\x06\x16"
#: kombu's Redis priority steps: all ten, so each of our priorities has its own list.
PRIORITY_STEPS = list(range(10))


def device_queue(device: str) -> str:
    """The device's queue; its worker consumes it and every per-user sub-queue of it."""
    return "dev.%s" % device


def user_queue(device: str, user: str) -> str:
    """One user's sub-queue of a device: kombu's round-robin over a worker's queues interleaves users."""
    return "%s.u.%s" % (device_queue(device), slug_name(user))


def kombu_priority(priority: int) -> int:
    """Our priority (9 runs first) as kombu's Redis priority (0 is served first)."""
    return 9 - max(0, min(9, int(priority)))


def priority_lists(queue: str) -> List[str]:
    """The Redis lists that hold ``queue``'s messages, one per priority step."""
    return [queue if p == 0 else "%s%s%d" % (queue, PRIORITY_SEP, p) for p in PRIORITY_STEPS]


def queues_of(device: str) -> str:
    """Set: the sub-queues ever used for ``device`` (a worker that starts consumes them all)."""
    return PREFIX + "queues:" + device


def device_record(device: str) -> str:
    """String with a TTL: the device's worker, its health and what it runs (gone = no live worker)."""
    return PREFIX + "device:" + device


def worker_alive(worker_id: str) -> str:
    """String with a TTL: a worker process's heartbeat."""
    return PREFIX + "alive:" + worker_id


#: Hash ``<run_id>/<job_id>`` → JSON of the attempt running now (device, worker, attempt, start time).
RUNNING = PREFIX + "running"
#: Sorted set of run ids by submission time (seconds since the epoch).
RUNS = PREFIX + "runs"


def run_meta(run_id: str) -> str:
    """Hash: user, priority, total, done, submitted_at, state."""
    return PREFIX + "run:" + run_id


def run_jobs(run_id: str) -> str:
    """Hash job_id → JSON: state (queued | running | done | lost), attempt, device, queue."""
    return PREFIX + "run:" + run_id + ":jobs"


def lost_lock(run_id: str, job_id: str, attempt: int) -> str:
    """SET NX: the one reaper that handles a dead attempt (no double resubmission)."""
    return "%sreap:%s/%s/%d" % (PREFIX, run_id, job_id, attempt)


def finalize_lock(run_id: str) -> str:
    return PREFIX + "finalize:" + run_id


def lease(device: str) -> str:
    """String with a TTL: the device's lease, JSON {worker_id, gen}; only its holder may run the device's jobs."""
    return PREFIX + "lease:" + device


def lease_gen(device: str) -> str:
    """Counter: the device's lease generation (fencing token), incremented by each worker that takes the lease."""
    return PREFIX + "leasegen:" + device


def recover_lock(run_id: str) -> str:
    """SET NX: the one worker that rebuilds a run the broker forgot (from the results store's plan)."""
    return PREFIX + "recover:" + run_id
