"""The one gate every job message passes (bench/lab/gate.py), without a broker: a genuine message of a real lab
run in a real results store passes; each hostile message of issue 20 — and each other field gone wrong — is
refused naming the field, with nothing created, copied or deleted anywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest


def _tree(root: Path) -> List[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def run(tmp_path: Path, tiny_onnx: Path, monkeypatch: pytest.MonkeyPatch) -> Tuple[Path, Dict[str, Any]]:
    """A lab run with one planned job in a results store, and the genuine (unsigned) payload of that job."""
    from bench.lab.auth import keygen
    from bench.lab.recovery import job_payload_from_plan
    from bench.plan.jobs import ArtifactRef, plan_jobs
    from bench.results.store import RunStore
    from device_agents.hashing import sha256_file

    keygen(tmp_path / "secrets")
    monkeypatch.setenv("EDGEBENCH_LAB_SECRETS", str(tmp_path / "secrets"))
    monkeypatch.setenv("EDGEBENCH_RESULTS", str(tmp_path / "results"))
    art = ArtifactRef(model="tiny", variant="file", format="onnx", runtime="onnxruntime", path=str(tiny_onnx),
                      sha256=sha256_file(str(tiny_onnx)))
    jobs = plan_jobs(["loc1"], [art], None, {}, {"runs": 3}, 60.0)
    store = RunStore.create(jobs, ["test"], base=tmp_path / "results")
    m = store.manifest()
    m["lab"] = {"user": "ann", "priority": 5, "ceilings": "skip"}
    store.write_manifest(m)
    payload = job_payload_from_plan(store.run_id, m["jobs"][0], m["lab"], 1)
    return store.root, payload


def _signed(payload: Dict[str, Any]) -> Dict[str, Any]:
    from bench.lab.auth import sign

    return {"payload": payload, "sig": sign(payload)}


def test_genuine_message_admitted_with_the_plans_job(run: Tuple[Path, Dict[str, Any]]) -> None:
    from bench.lab.gate import admit

    root, payload = run
    adm = admit(_signed(payload))
    assert adm.run_root == root and adm.job.job_id == payload["job"]["job_id"]
    sha = payload["job"]["artifact"]["sha256"]
    assert adm.artifact_key == "%s/%s/%s" % (sha[:2], sha, Path(payload["job"]["artifact"]["path"]).name)  # not published: the plan's name
    assert adm.job.artifact.path is None  # fetched from the artifact store by hash, never the plan's host path


def _victims(tmp_path: Path) -> Path:
    victim = tmp_path / "victim1"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    return victim


def test_hostile_messages_refused_naming_the_field_nothing_touched(run: Tuple[Path, Dict[str, Any]],
                                                                    tmp_path: Path) -> None:
    from bench.lab.gate import Refused, admit

    root, good = run
    victim = _victims(tmp_path)
    elsewhere = tmp_path / "elsewhere"  # any folder with a manifest.json
    elsewhere.mkdir()
    (elsewhere / "manifest.json").write_text(json.dumps({"run_id": "x", "jobs": [good["job"]], "lab": {}}))
    before = _tree(tmp_path)

    def job(**kw: Any) -> Dict[str, Any]:
        return dict(good["job"], **kw)

    hostile = {
        "job_id ../../../victim1": (dict(good, job=job(job_id="../../../victim1")), "payload.job.job_id"),
        "artifact path /etc/passwd": (dict(good, artifact_key=None, job=job(artifact=dict(
            good["job"]["artifact"], path="/etc/passwd"))), "payload.job.artifact"),
        "artifact sha256 ../../planted": (dict(good, job=job(artifact=dict(
            good["job"]["artifact"], sha256="../../planted/x"))), "payload.job.artifact"),
        "absolute run_id": (dict(good, run_id=str(elsewhere)), "payload.run_id"),
        "run not in the store": (dict(good, run_id="20990101-000000-beef"), "payload.run_id"),
        "unknown field": (dict(good, path="/etc/passwd"), "payload.path"),
        "attempt 7 (past MAX_TOTAL_ATTEMPTS)": (dict(good, attempt=7), "payload.attempt"),
        "attempt 0": (dict(good, attempt=0), "payload.attempt"),
        "foreign queue": (dict(good, queue="dev.other.u.ann"), "payload.queue"),
        "user with a slash": (dict(good, user="a/b"), "payload.user"),
        "artifact key elsewhere": (dict(good, artifact_key="aa/%s/x.onnx" % ("a" * 64)), "payload.artifact_key"),
        "job not planned (other runtime options)": (dict(good, job=job(runtime_options={"x": 1})),
                                                    "payload.job.job_id"),
    }
    for name, (payload, field) in hostile.items():
        with pytest.raises(Refused) as exc:  # signed by a member (a bug, a stolen key): the gate still holds
            admit(_signed(payload))
        assert exc.value.field.startswith(field), (name, exc.value.field, exc.value.reason)
    # the HMAC: forged, altered after signing, missing, extra arguments
    with pytest.raises(Refused, match="forged or altered") as exc:
        admit({"payload": dict(good, priority=9), "sig": _signed(good)["sig"]})
    assert exc.value.field == "sig"
    for kwargs in ({"payload": good}, {"payload": good, "sig": "v1:nokey:00"},
                   dict(_signed(good), extra=1)):
        with pytest.raises(Refused):
            admit(kwargs)
    with pytest.raises(Refused, match="positional"):
        admit(_signed(good), args=[1])
    assert _tree(tmp_path) == before and (victim / "keep.txt").read_text() == "precious"


def test_completed_run_and_stored_result_refused(run: Tuple[Path, Dict[str, Any]]) -> None:
    from bench.lab.gate import Refused, admit, open_run
    from bench.results.store import RunStore

    root, good = run
    RunStore(root).set_state("complete")
    with pytest.raises(Refused, match="cannot change a completed run"):
        admit(_signed(good))
    with pytest.raises(Refused):
        open_run(str(root))  # an id, never a path
    assert open_run(root.name).root == root


def test_store_absent_is_not_the_messages_fault(run: Tuple[Path, Dict[str, Any]], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.lab.gate import StoreAbsent, admit

    _, good = run
    monkeypatch.setenv("EDGEBENCH_RESULTS", str(tmp_path / "not-mounted"))
    with pytest.raises(StoreAbsent, match="mount the shared results directory"):
        admit(_signed(good))
    assert not (tmp_path / "not-mounted").exists()


def test_claims_one_per_attempt(tmp_path: Path) -> None:
    from bench.lab import claims

    assert claims.claim(tmp_path, "j1", 1, {"worker_id": "w1"}) is None
    assert claims.claim(tmp_path, "j1", 1, {"worker_id": "w2"}) == {"worker_id": "w1"}  # a duplicate finds it
    assert claims.latest_attempt(tmp_path, "j1") == 1 and claims.latest_attempt(tmp_path, "j2") == 0
    assert not claims.given_up(tmp_path, "j1", 1)
    assert claims.give_up(tmp_path, "j1", 1, "its worker died") and not claims.give_up(tmp_path, "j1", 1, "again")
    assert claims.given_up(tmp_path, "j1", 1) and claims.latest_attempt(tmp_path, "j1") == 1
    assert claims.claim(tmp_path, "j1", 2, {}) is None and claims.latest_attempt(tmp_path, "j1") == 2
    from bench.paths import UnsafePath

    with pytest.raises(UnsafePath):
        claims.claim(tmp_path, "../x", 1, {})
