"""Planning rounds: the whole job list repeated, interleaved, with stable ids."""

from __future__ import annotations

import pytest

from bench.plan.jobs import ArtifactRef, PlannedJob, plan_jobs


def _art(name: str) -> ArtifactRef:
    return ArtifactRef(model=name, variant="onnx-fp32", format="onnx", runtime="onnxruntime", path="/x/%s.onnx" % name,
                       sha256="0" * 64)


def test_rounds_interleave_the_whole_list() -> None:
    jobs = plan_jobs(["local"], [_art("a"), _art("b")], None, {}, {"min_runs": 5}, 60, rounds=3)
    assert [(j.model, j.round) for j in jobs] == [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3)]
    assert jobs[0].job_id.endswith("--r1") and jobs[2].group == jobs[0].group == jobs[4].group
    assert len({j.job_id for j in jobs}) == 6
    assert PlannedJob.from_json(jobs[3].to_json()) == jobs[3]


def test_one_round_keeps_the_old_ids() -> None:
    (job,) = plan_jobs(["local"], [_art("a")], None, {}, {}, 60)
    assert job.round == 0 and job.job_id == job.group and not job.job_id.endswith("--r1")
    old = job.to_json()
    del old["round"], old["group"]  # a manifest written before rounds existed
    assert PlannedJob.from_json(old).round == 0
    with pytest.raises(ValueError):
        plan_jobs(["local"], [_art("a")], None, {}, {}, 60, rounds=0)
