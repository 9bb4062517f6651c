"""The lab's own bookkeeping in Redis, beside Celery's queues: worker heartbeats, the attempt running on each
device, run progress. Celery delivers the jobs; these records are what lets a dead worker's job be found
(lost.py), ``lab status`` show devices and users, and ``lab wait`` follow a run."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from . import keys
from .app import LabError, redacted


@dataclass(frozen=True)
class Timings:
    """Seconds. A worker refreshes its heartbeat every ``heartbeat_s``; the key lives ``alive_ttl_s``; a job is
    declared lost once its worker's heartbeat has been missing for ``lost_after_s`` as seen by a reaper."""

    heartbeat_s: float
    alive_ttl_s: float
    lost_after_s: float
    health_s: float

    @classmethod
    def from_env(cls, health_s: Optional[float] = None) -> "Timings":
        hb = float(os.environ.get("EDGEBENCH_LAB_HEARTBEAT_S", "2"))
        health = health_s if health_s is not None else float(os.environ.get("EDGEBENCH_LAB_HEALTH_S", "30"))
        return cls(heartbeat_s=hb, alive_ttl_s=5 * hb, lost_after_s=5 * hb, health_s=health)


def connect(url: str, patience_s: float = 60.0) -> "redis.Redis[str]":
    """A Redis client for the lab's records. Connection errors are retried with back-off for about
    ``patience_s`` (a worker waits out a Redis restart; a command gives up after a few seconds)."""
    retries = max(1, int(patience_s / 0.5))
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=10, socket_connect_timeout=2,
                                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries),
                                retry_on_error=[redis.ConnectionError, redis.TimeoutError])


def ping(client: "redis.Redis[str]", url: str) -> None:
    """LabError (one line, with the fix) when the broker cannot be reached or refuses us."""
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise LabError("broker %s refused the login (%s): put the password in the URL, "
                       "redis://:PASSWORD@host:6379/0 (or USER:PASSWORD@ for an ACL user)" % (redacted(url), exc))
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise LabError("broker %s unreachable (%s): start Redis (README, 'A device lab') or pass --broker / set "
                       "EDGEBENCH_BROKER" % (redacted(url), str(exc).splitlines()[0][:160]))
    except redis.ResponseError as exc:
        raise LabError("broker %s answered with an error (%s): check the ACL of the lab's user" % (redacted(url), exc))


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, allow_nan=False)


def device_info(client: "redis.Redis[str]", device: str) -> Optional[Dict[str, Any]]:
    """The live worker record of ``device`` (None: no worker has refreshed it within its TTL)."""
    raw = client.get(keys.device_record(device))
    return json.loads(raw) if raw else None


#: The field of a run's ``run:<id>`` hash that only ``lab submit`` and a rebuild (recovery.py) write: a run is
#: known to the broker when it is there. A worker's later writes (state, done) must never create the hash: after
#: Redis restarted empty, a job that starts or ends would leave a run record without its plan, and the run would
#: look known while the jobs Redis forgot were never queued again.
RUN_KNOWN_FIELD = "total"

#: Set field ARGV[1] of the run hash KEYS[1] to ARGV[2] only while the run is known (see RUN_KNOWN_FIELD).
_SET_IF_KNOWN = """
if redis.call('HEXISTS', KEYS[1], '%s') == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 0
""" % RUN_KNOWN_FIELD


def set_run_state(client: Any, run_id: str, state: str) -> None:
    """The run record's ``state`` (``client`` may be a pipeline); nothing when the broker forgot the run."""
    client.eval(_SET_IF_KNOWN, 1, keys.run_meta(run_id), "state", state)


def start_attempt(client: "redis.Redis[str]", run_id: str, job_id: str, info: Dict[str, Any]) -> None:
    """Record the attempt that starts now (the reaper watches its worker's heartbeat), in one transaction with the
    job's entry (merged here, not in a Lua script: a JSON round trip through Redis's cjson turns the payload's
    empty lists into objects, and the gate then refuses a resubmission as differing from the plan)."""
    update = {"state": "running", "attempt": info["attempt"], "worker": info["node"],
              "started_at_unix_s": info["started_at_unix_s"]}

    def write(pipe: Any) -> None:
        raw = pipe.hget(keys.run_jobs(run_id), job_id)
        data = json.loads(raw) if raw else {}
        data.update(update)
        pipe.multi()
        pipe.hset(keys.RUNNING, "%s/%s" % (run_id, job_id), dumps(info))
        pipe.hset(keys.run_jobs(run_id), job_id, dumps(data))
        set_run_state(pipe, run_id, "running")

    client.transaction(write, keys.run_jobs(run_id))


def attempt_state(client: "redis.Redis[str]", run_id: str, job_id: str, attempt: int) -> Tuple[bool, bool]:
    """(current, known) read together in one transaction: whether ``attempt`` is the job's running attempt, and
    whether the broker knows the run. Read apart, a rebuild landing between the two reads (it restores the run and
    its attempts at once) would make a good attempt look given up."""
    pipe = client.pipeline(transaction=True)
    pipe.hget(keys.RUNNING, "%s/%s" % (run_id, job_id))
    pipe.hexists(keys.run_meta(run_id), RUN_KNOWN_FIELD)
    raw, known = pipe.execute()
    return bool(raw) and int(json.loads(raw).get("attempt", 0)) == int(attempt), bool(known)


#: Atomically: end attempt ARGV[3] of the job (refused, -1, if it is not the running one), set the job's final
#: state, and count it once toward the run's ``done`` (only while the run is known: a rebuild counts the results
#: store). Returns {done, total}.
_END_ATTEMPT = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (not cur) or tonumber(cjson.decode(cur)['attempt']) ~= tonumber(ARGV[3]) then return {-1, 0} end
redis.call('HDEL', KEYS[1], ARGV[1])
local prev = redis.call('HGET', KEYS[2], ARGV[2])
local entry = prev and cjson.decode(prev) or {}
local was_final = entry['state'] == 'done' or entry['state'] == 'lost'
local new = cjson.decode(ARGV[4])
for k, v in pairs(new) do entry[k] = v end
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode(entry))
local done = tonumber(redis.call('HGET', KEYS[3], 'done') or '0')
if (not was_final) and redis.call('HEXISTS', KEYS[3], 'total') == 1 then done = redis.call('HINCRBY', KEYS[3], 'done', 1) end
return {done, tonumber(redis.call('HGET', KEYS[3], 'total') or '0')}
"""


def end_attempt(client: "redis.Redis[str]", run_id: str, job_id: str, attempt: int,
                update: Dict[str, Any]) -> Tuple[int, int]:
    """(done, total) of the run after this attempt ended with ``update`` (e.g. state done); done is -1 when the
    attempt had already been given up (its result must not count)."""
    done, total = client.eval(_END_ATTEMPT, 3, keys.RUNNING, keys.run_jobs(run_id), keys.run_meta(run_id),
                              "%s/%s" % (run_id, job_id), job_id, str(attempt), dumps(update))
    return int(done), int(total)


#: Atomically, for a job whose result is in the results store: if the run is known and the job's entry is not
#: final yet, mark it done (a new entry: its payload is not needed any more, and cjson would change it), forget any
#: attempt shown running, and count it toward ``done``. {done, total}, or
#: {-1, 0} when nothing changed (already counted, or the run unknown: a rebuild counts it).
_FINISH_STORED = """
if redis.call('HEXISTS', KEYS[3], 'total') == 0 then return {-1, 0} end
local prev = redis.call('HGET', KEYS[2], ARGV[2])
local entry = prev and cjson.decode(prev) or {}
if entry['state'] == 'done' or entry['state'] == 'lost' then return {-1, 0} end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], cjson.encode({state = 'done', device = entry['device']}))
local done = redis.call('HINCRBY', KEYS[3], 'done', 1)
return {done, tonumber(redis.call('HGET', KEYS[3], 'total'))}
"""


def finish_stored(client: "redis.Redis[str]", run_id: str, job_id: str) -> Tuple[int, int]:
    """Count job ``job_id`` as done once, its result being stored while the broker had forgotten the run (see
    ``_FINISH_STORED``); (done, total) of the run, or (-1, 0) when nothing changed."""
    done, total = client.eval(_FINISH_STORED, 3, keys.RUNNING, keys.run_jobs(run_id), keys.run_meta(run_id),
                              "%s/%s" % (run_id, job_id), job_id)
    return int(done), int(total)


def requeue_attempt(client: "redis.Redis[str]", run_id: str, job_id: str, attempt: int,
                    update: Dict[str, Any]) -> bool:
    """Give up running attempt ``attempt`` (its worker died) and mark the job queued again; False if that
    attempt is no longer the running one."""
    field = "%s/%s" % (run_id, job_id)
    with client.pipeline() as pipe:
        pipe.watch(keys.RUNNING)
        cur = pipe.hget(keys.RUNNING, field)
        if not cur or int(json.loads(cur)["attempt"]) != attempt:
            pipe.unwatch()
            return False
        entry = json.loads(pipe.hget(keys.run_jobs(run_id), job_id) or "{}")
        entry.update(update)
        pipe.multi()
        pipe.hdel(keys.RUNNING, field)
        pipe.hset(keys.run_jobs(run_id), job_id, dumps(entry))
        pipe.execute()
    return True


def now_s() -> float:
    """Seconds since the epoch (comparable across lab hosts with synchronised clocks)."""
    return time.time()


#: Keep the lease if it is ours (refresh its TTL) or free (take it again: nobody took it while we were away);
#: 0 when another worker holds it now (we are stale). KEYS[1] lease, ARGV[1] our token, ARGV[2] TTL ms.
_KEEP_LEASE = """
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if not cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0
"""


def take_lease(client: "redis.Redis[str]", device: str, worker_id: str, ttl_ms: int) -> Optional[Dict[str, Any]]:
    """Take ``device``'s lease with a new generation (fencing token): the lease as taken, or None when a live
    worker holds it."""
    if client.exists(keys.lease(device)):
        return None
    lease = {"worker_id": worker_id, "gen": int(client.incr(keys.lease_gen(device)))}
    if not client.set(keys.lease(device), dumps(lease), px=ttl_ms, nx=True):
        return None
    return lease


def keep_lease(client: "redis.Redis[str]", device: str, lease: Dict[str, Any], ttl_ms: int) -> bool:
    """Refresh our lease; False when another worker took it (this worker stalled past it and must stop)."""
    return int(client.eval(_KEEP_LEASE, 1, keys.lease(device), dumps(lease), str(ttl_ms))) != 0


def lease_holder(client: "redis.Redis[str]", device: str) -> Optional[Dict[str, Any]]:
    raw = client.get(keys.lease(device))
    return json.loads(raw) if raw else None


def persistence(client: "redis.Redis[str]") -> Optional[bool]:
    """Whether Redis keeps its data across a restart (append-only file on); None when it will not say
    (CONFIG and INFO refused by the user's ACL)."""
    try:
        return client.config_get("appendonly").get("appendonly") == "yes"
    except redis.RedisError:
        pass
    try:
        return bool(int(client.info("persistence").get("aof_enabled", 0)))
    except (redis.RedisError, ValueError, TypeError):
        return None


_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def delete_if(client: "redis.Redis[str]", key: str, value: str) -> None:
    """Delete ``key`` only while it still holds ``value`` (a lease or lock of ours, not one taken since)."""
    client.eval(_DELETE_IF, 1, key, value)


def release_lease(client: "redis.Redis[str]", device: str, lease: Dict[str, Any]) -> None:
    """Give the lease up on a clean stop (only if it is still ours)."""
    delete_if(client, keys.lease(device), dumps(lease))
