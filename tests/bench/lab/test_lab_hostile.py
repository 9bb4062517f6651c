"""Hostile brokers and unlucky operators, on a real redis-server and a real Celery worker: the four hostile
messages of issue 20 (and forgeries) are refused with nothing touched outside the results and work folders
while the worker goes on serving; a message delivered twice or replayed after its run completed runs nothing
and replaces nothing; ``lab wait`` ends, naming the jobs it can no longer account for."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from tests.bench.lab.conftest import QUICK, Lab


def _queued_raw(lab: Lab, queue: str) -> List[str]:
    import redis

    from bench.lab import keys

    client = redis.Redis.from_url(lab.redis.url, decode_responses=True)
    out: List[str] = []
    for name in keys.priority_lists(queue):
        out.extend(client.lrange(name, 0, -1))
        client.delete(name)
    return out


def _kwargs(raw: str) -> Dict[str, Any]:
    import base64

    msg = json.loads(raw)
    return json.loads(base64.b64decode(msg["body"]))[1]


def _send(lab: Lab, kwargs: Dict[str, Any], queue: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.lab.app import TASK_NAME, app

    app.conf.broker_url = lab.redis.url
    app.send_task(TASK_NAME, kwargs=kwargs, queue=queue)


def _offline_run(lab: Lab, tiny_onnx: Path, names: List[str]) -> str:
    return lab.submit("--device", "loc1", "--user", "ann", "--offline-ok", *lab.models(tiny_onnx, names), *QUICK)


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_hostile_messages_refused_worker_goes_on(lab: Lab, tiny_onnx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import redis

    from bench.lab import keys
    from bench.lab.auth import sign

    monkeypatch.setenv("EDGEBENCH_LAB_SECRETS", lab.env["EDGEBENCH_LAB_SECRETS"])
    lab.add_local("loc1")
    run_id = _offline_run(lab, tiny_onnx, ["h1"])
    [raw] = _queued_raw(lab, "dev.loc1.u.ann")  # the genuine message, held back until the attacks are done
    genuine = _kwargs(raw)
    good = genuine["payload"]
    victim = lab.tmp / "victim1"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    elsewhere = lab.tmp / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "manifest.json").write_text(json.dumps({"run_id": "x", "jobs": [good["job"]], "lab": {},
                                                         "state": "running"}))
    art = good["job"]["artifact"]
    attacks = [
        dict(good, job=dict(good["job"], job_id="../../../victim1")),
        dict(good, artifact_key=None, job=dict(good["job"], artifact=dict(art, path="/etc/passwd"))),
        dict(good, job=dict(good["job"], artifact=dict(art, sha256="../../planted/x"))),
        dict(good, run_id=str(elsewhere)),
    ]
    client = redis.Redis.from_url(lab.redis.url, decode_responses=True)
    client.hset(keys.RUNNING, "%s/%s" % (elsewhere, good["job"]["job_id"]), json.dumps(  # the reaper's way in
        {"attempt": 1, "worker_id": "ghost/1", "node": "ghost", "started_at_unix_s": 1.0, "device": "loc1"}))
    before = sorted(str(p) for p in lab.tmp.rglob("*") if "results" not in p.parts and "wd-loc1" not in p.parts
                    and "redis" not in p.parts and not p.name.startswith(("worker-", "lock-")))
    lab.start_worker("loc1")
    for payload in attacks:
        _send(lab, {"payload": payload}, "dev.loc1.u.ann", monkeypatch)  # unsigned: a broker writer
        _send(lab, {"payload": payload, "sig": sign(payload)}, "dev.loc1.u.ann", monkeypatch)  # a member's bug
    _send(lab, {"payload": good, "sig": "v1:%s:%s" % (genuine["sig"].split(":")[1], "0" * 64)}, "dev.loc1.u.ann",
          monkeypatch)  # forged
    lab.wait_until(lambda: lab.log("loc1").count("refused and dropped") >= 9, 60, "nine messages refused")
    _send(lab, genuine, "dev.loc1.u.ann", monkeypatch)  # the worker still serves
    proc = lab.wait(run_id, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [result] = lab.results(run_id)
    assert result["status"] == "ok" and result["lab"]["attempt"] == 1
    log = lab.log("loc1")
    for field in ("payload.job.job_id", "sig:", "payload.run_id", "payload.job.artifact"):
        assert "refused and dropped: %s" % field in log, field
    assert (victim / "keep.txt").read_text() == "precious"
    assert not list(lab.tmp.rglob("planted*")) and not (elsewhere / "jobs").exists()
    assert "running-table entry" in log and "ignored" in log
    after = sorted(str(p) for p in lab.tmp.rglob("*") if "results" not in p.parts and "wd-loc1" not in p.parts
                   and "redis" not in p.parts and not p.name.startswith(("worker-", "lock-")))
    assert after == before  # nothing touched outside the results and work folders


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_duplicate_and_replayed_messages_run_nothing_replace_nothing(lab: Lab, tiny_onnx: Path) -> None:
    import redis

    from bench.lab import keys

    lab.add_local("loc1")
    run_id = _offline_run(lab, tiny_onnx, ["d1", "d2", "d3"])
    client = redis.Redis.from_url(lab.redis.url, decode_responses=True)
    queue = keys.priority_lists("dev.loc1.u.ann")[keys.kombu_priority(5)]
    raws = client.lrange(queue, 0, -1)
    assert len(raws) == 3
    client.rpush(queue, raws[-1])  # the next job's message delivered twice in a row (popped from the right)
    client.lpush(queue, *raws[:-1])  # the others delivered again after the run's last job
    lab.start_worker("loc1")
    proc = lab.wait(run_id, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = {r["job_id"]: r for r in lab.results(run_id)}
    stamps = {j: r["lab"]["started_at_unix_s"] for j, r in results.items()}
    client.lpush(queue, *raws)  # replayed after the run completed
    lab.wait_until(lambda: lab.log("loc1").count("refused and dropped") >= 6, 60, "duplicates and replays refused")
    assert {j: r["lab"]["started_at_unix_s"] for j, r in {r["job_id"]: r for r in lab.results(run_id)}.items()} == stamps
    assert len(results) == 3 and not (lab.tmp / "results" / run_id / "attempts").exists()
    meta = client.hgetall(keys.run_meta(run_id))
    assert meta["done"] == meta["total"] == "3"
    claims = sorted(p.name for p in (lab.tmp / "results" / run_id / "lab" / "claims").iterdir())
    assert len(claims) == 3 and all(c.endswith(".a1.json") for c in claims)
    log = lab.log("loc1")
    assert "a duplicate or replayed message" in log and "cannot change a completed run" in log
    assert log.count("onnxruntime …") == 3  # three jobs started, for nine messages


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_wait_ends_naming_what_it_cannot_account_for_then_recovery(lab: Lab, tiny_onnx: Path) -> None:
    """Queued with no worker: accounted (wait times out, exit 5). Redis restarted without persistence: the
    jobs are gone from the broker and nobody can rebuild them — wait ends (exit 4) naming each; a worker then
    starts, rebuilds the run from the results store's plan and runs every job."""
    lab.add_local("loc1")
    run_id = _offline_run(lab, tiny_onnx, ["w1", "w2", "w3", "w4", "w5"])
    env = dict(lab.env, EDGEBENCH_LAB_UNACCOUNTED_S="1")
    proc = __import__("subprocess").run(
        [__import__("sys").executable, "-m", "bench", "lab", "wait", run_id, "--timeout-s", "3"], cwd=str(lab.tmp),
        env=dict(env, PYTHONPATH=str(Path(__file__).resolve().parents[3])), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 5, proc.stdout + proc.stderr  # queued jobs are accounted for
    lab.redis.restart()  # no persistence: everything in Redis is gone
    proc = __import__("subprocess").run(
        [__import__("sys").executable, "-m", "bench", "lab", "wait", run_id, "--timeout-s", "60"], cwd=str(lab.tmp),
        env=dict(env, PYTHONPATH=str(Path(__file__).resolve().parents[3])), capture_output=True, text=True, timeout=90)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "5 job(s) the lab can no longer account for" in proc.stderr and "no record of this run" in proc.stderr
    lab.start_worker("loc1")
    proc = lab.wait(run_id, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = lab.results(run_id)
    assert sorted(r["model_name"] for r in results) == ["w1", "w2", "w3", "w4", "w5"]
    assert all(r["status"] == "ok" and "broker forgot" in r["lab"]["recovered_because"] for r in results)
    assert "queued again (never started)" in lab.log("loc1")


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_a_job_started_after_redis_forgot_the_run_does_not_hide_the_rest(lab: Lab, tiny_onnx: Path) -> None:
    """Redis restarted empty while a worker held a job's message: that job starts and ends (the worker's own
    records calls) before any worker rebuilt the run. Its writes must not recreate the run's record, or the run
    looks known and the jobs Redis forgot are never queued again (CI: ``lab wait`` exit 4, 'the broker has no
    record of this job'). A worker then rebuilds the run from the results store and runs every job."""
    import time

    import redis

    from bench.lab import keys, records

    lab.add_local("loc1")
    run_id = _offline_run(lab, tiny_onnx, ["k1", "k2", "k3"])
    lab.redis.restart()  # no persistence: everything in Redis is gone
    client = redis.Redis.from_url(lab.redis.url, decode_responses=True)
    job_id = lab.manifest(run_id)["jobs"][0]["job_id"]
    info = {"device": "loc1", "node": "w@here", "worker_id": "w-gone", "child_pid": os.getpid(), "attempt": 1,
            "started_at_unix_s": time.time(), "user": "ann"}
    records.start_attempt(client, run_id, job_id, info)
    assert records.end_attempt(client, run_id, job_id, 1, {"state": "done", "status": "ok"}) == (0, 0)
    assert not client.hexists(keys.run_meta(run_id), records.RUN_KNOWN_FIELD) and not client.exists(keys.run_meta(run_id))
    records.set_run_state(client, run_id, "complete")
    assert not client.exists(keys.run_meta(run_id))
    lab.start_worker("loc1")
    proc = lab.wait(run_id, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(r["model_name"] for r in lab.results(run_id)) == ["k1", "k2", "k3"]
    assert "rebuilt from the results store" in lab.log("loc1")


@pytest.fixture
def lab_app(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The lab's Celery app in this process, on this test's Redis. Celery keeps one connection pool and one producer
    pool per process (dropped only after a fork, by ``_after_fork``): dropped here before and after, or a pool left
    from another test would reach for that test's ended Redis."""
    from bench.lab.app import app

    monkeypatch.setenv("EDGEBENCH_LAB_SECRETS", lab.env["EDGEBENCH_LAB_SECRETS"])
    monkeypatch.setattr(app.conf, "broker_url", lab.redis.url)
    app._after_fork()
    try:
        yield app
    finally:
        app._after_fork()


def _forgotten_run(lab: Lab, tiny_onnx: Path) -> Tuple[str, Path, Dict[str, Any], Any]:
    """An offline two-job run whose Redis restarted empty; (run id, folder, manifest, a client of the new Redis)."""
    import redis

    lab.add_local("loc1")
    run_id = _offline_run(lab, tiny_onnx, ["c1", "c2"])
    manifest = lab.manifest(run_id)
    lab.redis.restart()  # no persistence: everything in Redis is gone
    return run_id, lab.tmp / "results" / run_id, manifest, redis.Redis.from_url(lab.redis.url, decode_responses=True)


def _started(root: Path, client: Any, run_id: str, job_id: str, attempt: int) -> None:
    """What a live worker does when attempt ``attempt`` of ``job_id`` starts: its claim and its record."""
    import time

    from bench.lab import claims, keys, records

    info = {"node": "w@here", "worker_id": "w-live", "child_pid": os.getpid(), "started_at_unix_s": time.time(),
            "device": "loc1", "attempt": attempt, "user": "ann"}
    assert claims.claim(root, job_id, attempt, info) is None
    client.set(keys.worker_alive("w-live"), "1", ex=120)
    if attempt > 1:
        records.start_attempt(client, run_id, job_id, info)


def test_a_result_stored_while_the_run_is_rebuilt_is_counted_once(lab: Lab, tiny_onnx: Path, lab_app: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis forgot a run while attempt 1 of its first job ran on a live worker; that worker's job ends while a
    rebuild is under way (between its look at the results store and its writes: a window a loaded host widens).
    The worker's real store keeps the result (the run was rebuilt in one transaction: before it the run is
    unknown, after it the attempt is current), it is counted once, shown neither running nor queued, and the
    worker's own late count changes nothing. Fails when the run is made known before its attempts are restored."""
    from bench.lab import claims, keys, records
    from bench.lab.recovery import Recovery
    from bench.lab.tasks import LabStore

    run_id, root, manifest, client = _forgotten_run(lab, tiny_onnx)
    first, second = [j["job_id"] for j in manifest["jobs"]]
    _started(root, client, run_id, first, 1)
    scanned = claims.latest_attempt
    saved: List[Any] = []

    def job_ends_now(run_root: Path, job_id: str) -> int:  # called while the rebuild is under way
        if job_id == first and not saved:
            store = LabStore(root, client, {"job": {"job_id": first}, "attempt": 1}, {"run_id": run_id})
            saved.append(store.save_result({"job_id": first, "status": "ok"}))
        return scanned(run_root, job_id)

    monkeypatch.setattr(claims, "latest_attempt", job_ends_now)
    Recovery(lab_app, client, 0.0, "test").rebuild(run_id, root, manifest)
    assert saved and saved[0] is not None and (root / "jobs" / (first + ".json")).exists()  # not dropped
    meta = client.hgetall(keys.run_meta(run_id))
    assert (meta["done"], meta["total"]) == ("1", "2")
    assert json.loads(client.hget(keys.run_jobs(run_id), first))["state"] == "done"
    assert json.loads(client.hget(keys.run_jobs(run_id), second))["state"] == "queued"
    assert not client.hexists(keys.RUNNING, "%s/%s" % (run_id, first))
    assert records.end_attempt(client, run_id, first, 1, {"state": "done"}) == (-1, 0)  # the worker's late count
    assert records.finish_stored(client, run_id, first) == (-1, 0)
    assert client.hget(keys.run_meta(run_id), "done") == "1"


def test_a_later_attempt_started_during_a_rebuild_is_kept(lab: Lab, tiny_onnx: Path, lab_app: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Attempt 1 of a job was given up before Redis forgot the run; a live worker starts attempt 2 just after the
    rebuild read the claims. The rebuild keeps the worker's running attempt 2 (it does not bring back attempt 1,
    whose hand-back would make attempt 2 look given up) and adds the payload a resubmission needs; attempt 2's end
    is counted."""
    from bench.lab import claims, keys, records
    from bench.lab.recovery import Recovery

    run_id, root, manifest, client = _forgotten_run(lab, tiny_onnx)
    first = manifest["jobs"][0]["job_id"]
    _started(root, client, run_id, first, 1)
    claims.give_up(root, first, 1, "its worker stopped sending heartbeats (test)")
    scanned = claims.latest_attempt

    def second_attempt_starts_now(run_root: Path, job_id: str) -> int:
        found = scanned(run_root, job_id)
        if job_id == first and not claims.read(root, first, 2):  # once, just after the rebuild read the claims
            _started(root, client, run_id, first, 2)
        return found

    monkeypatch.setattr(claims, "latest_attempt", second_attempt_starts_now)
    Recovery(lab_app, client, 0.0, "test").rebuild(run_id, root, manifest)
    raw = client.hget(keys.RUNNING, "%s/%s" % (run_id, first))
    assert raw is not None, "the worker's running attempt 2 was replaced by attempt 1, then handed back"
    running = json.loads(raw)
    entry = json.loads(client.hget(keys.run_jobs(run_id), first))
    assert running["attempt"] == 2 and entry["attempt"] == 2 and entry["state"] == "running"
    assert entry["payload"]["job"]["job_id"] == first  # what a resubmission needs, should attempt 2's worker die
    assert records.attempt_state(client, run_id, first, 2) == (True, True)
    assert records.end_attempt(client, run_id, first, 2, {"state": "done", "status": "ok"}) == (1, 2)
