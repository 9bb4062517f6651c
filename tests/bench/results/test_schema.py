"""The one gate for what a device returns: latencies are checked at C speed when every sample is fine, and a bad
sample (NaN, an infinity, negative, beyond MAX_LATENCY_MS) is still named by its index (issue 26 sped the check up
for runs of hundreds of thousands of samples; these cases hold it to the same verdicts)."""

from __future__ import annotations

import math
from typing import Any, Dict, List

import pytest

from bench.results.schema import MAX_LATENCY_MS, ResultInvalid, check_agent_result, check_stored_result


def _ok(latencies: List[Any]) -> Dict[str, Any]:
    """A result carrying ``latencies`` (an error result: the samples are checked whatever the status)."""
    return {"job_id": "j", "status": "error", "error": "stopped", "latencies_ms": latencies}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, -0.5, MAX_LATENCY_MS * 2])
@pytest.mark.parametrize("where", [0, 150_000, 299_999])
def test_a_bad_sample_anywhere_is_refused_and_named(bad: float, where: int) -> None:
    lat = [1.0 + (i % 7) * 0.01 for i in range(300_000)]
    lat[where] = bad
    with pytest.raises(ResultInvalid, match=r"sample %d is|latencies_ms\[%d\]" % (where, where)):
        check_agent_result(_ok(lat), "j")
    with pytest.raises(ResultInvalid, match=r"sample %d is|latencies_ms\[%d\]" % (where, where)):
        check_stored_result(_ok(lat))


def test_samples_in_range_pass_including_the_edges() -> None:
    lat = [0.0, 1e-6, 5.0, MAX_LATENCY_MS] * 1000
    assert check_agent_result(_ok(lat), "j")["latencies_ms"] is lat
    assert check_stored_result(_ok([]))["latencies_ms"] == []
    with pytest.raises(ResultInvalid):  # a NaN and an infinity of opposite sign together are still caught
        check_agent_result(_ok([1.0, math.inf, -math.inf, math.nan]), "j")
