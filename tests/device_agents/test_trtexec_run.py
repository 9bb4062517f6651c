"""TensorRT through trtexec (no Python bindings): the --exportTimes parser and the agent's whole trtexec path.

No TensorRT can run on this host. The agent path is exercised with a STAND-IN ``trtexec``: a small script
that prints a real trtexec log (tests/fixtures/tools/trtexec_result-01_default_run.log, copied from ../shared/fixtures, TensorRT
10.16 on an H100) and writes an --exportTimes trace in the byte format of TensorRT's writer
(samples/common/sampleReporting.cpp, exportJSONTrace: "[", then "  { ... }" / ", { ... }" per
iteration, then "]"). No real exported trace was available to capture; the parser is checked against
that writer's format, and the agent's command line, engine cache, result fields and failure handling
against the stand-in. The numbers are the stand-in's, never a GPU's.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import List

import pytest

from device_agents.trtexec_log import TrtexecTimesError, parse_times
from tests.conftest import agent_job, quick_measure

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tools"
DEFAULT_RUN = FIXTURES / "trtexec_result-01_default_run.log"
QUERIES = 46125  # "Timing trace has 46125 queries" in that log


def writer_format(rows: List[dict]) -> str:
    """A trace laid out exactly as trtexec's exportJSONTrace writes it."""
    out, sep = ["["], "  "
    for r in rows:
        out.append(sep + "{ " + ", ".join('"%s" : %s' % (k, v) for k, v in r.items()) + " }")
        sep = ", "
    return "\n".join(out + ["]"]) + "\n"


def trt8_row(i: int, compute: float = 0.0361) -> dict:
    start = 200.0 + i * 0.065
    return {"startEnqMs": start, "endEnqMs": start + 0.01, "startH2dMs": start + 0.001, "endH2dMs": start + 0.005,
            "startComputeMs": start + 0.005, "endComputeMs": start + 0.005 + compute,
            "startD2hMs": start + 0.005 + compute, "endD2hMs": start + 0.008 + compute,
            "h2dMs": 0.004, "computeMs": compute, "d2hMs": 0.003, "latencyMs": round(0.007 + compute, 6)}


def test_trt8_trace_gives_per_iteration_latency_compute_and_span() -> None:
    t = parse_times(writer_format([trt8_row(i, 0.036 + (i % 3) * 0.001) for i in range(5)]))
    assert t["format"] == "tensorrt8+" and t["dropped_warmup"] == 0
    assert t["latencies_ms"] == pytest.approx([0.043, 0.044, 0.045, 0.043, 0.044])
    assert t["compute_ms"] == pytest.approx([0.036, 0.037, 0.038, 0.036, 0.037])
    assert t["h2d_ms"] == [0.004] * 5 and t["d2h_ms"] == [0.003] * 5
    assert t["span_ms"] == pytest.approx(4 * 0.065 + 0.008 + 0.037)


def test_tensorrt7_trace_drops_the_warmup_iterations_it_still_holds() -> None:
    rows = [{"startInMs": i, "endInMs": i + 0.1, "startComputeMs": i + 0.1, "endComputeMs": i + 0.6,
             "startOutMs": i + 0.6, "endOutMs": i + 0.7, "inMs": 0.1, "computeMs": 0.5, "outMs": 0.1,
             "latencyMs": 0.7 + (1.0 if i < 2 else 0.0), "endToEndMs": 0.7} for i in range(6)]
    t = parse_times(writer_format(rows), warmup_queries=2)
    assert t["format"] == "tensorrt7" and t["dropped_warmup"] == 2
    assert t["latencies_ms"] == pytest.approx([0.7] * 4) and t["h2d_ms"] == [0.1] * 4


@pytest.mark.parametrize("text,why", [("", "not a trtexec"), ("{}", "non-empty JSON array"), ("[]", "non-empty"),
                                      ('[{"latencyMs": 1}]', "computeMs"),
                                      ('[{"latencyMs": -1, "computeMs": 1}]', "entry 0 has latencyMs")])
def test_other_text_is_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(TrtexecTimesError, match=why):
        parse_times(text)


STAND_IN = r'''#!%(python)s
# STAND-IN for trtexec (no TensorRT here): prints a real trtexec log and writes a trace in its format.
import json, os, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if "=" in a)
flags = [a for a in sys.argv[1:] if "=" not in a]
with open(os.environ["STANDIN_ARGV_LOG"], "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\n")
mode = os.environ.get("STANDIN_MODE", "ok")
if mode == "fail":
    print("&&&& RUNNING TensorRT.trtexec [TensorRT v101601] [b11] # trtexec")
    print("[07/07/2026-02:10:45] [E] Error[4]: [network.cpp::validate::3100] IShuffleLayer: reshape fails")
    print("&&&& FAILED TensorRT.trtexec [TensorRT v101601] [b11] # trtexec")
    sys.exit(1)
if "saveEngine" in args:
    open(args["saveEngine"], "wb").write(b"stand-in engine")
text = open(os.environ["STANDIN_LOG"]).read().split("\n", 1)[1]
sys.stdout.write(text)
n = int(os.environ.get("STANDIN_ROWS", "%(queries)d"))
with open(args["exportTimes"], "w") as fh:
    fh.write("[\n")
    for i in range(n):
        s = 200.0 + i * 0.065
        c = 0.036 + (i %% 5) * 0.0005
        fh.write(("  " if i == 0 else ", ") + "{ \"startEnqMs\" : %%g, \"endEnqMs\" : %%g, \"startH2dMs\" : %%g, "
                 "\"endH2dMs\" : %%g, \"startComputeMs\" : %%g, \"endComputeMs\" : %%g, \"startD2hMs\" : %%g, "
                 "\"endD2hMs\" : %%g, \"h2dMs\" : 0.004, \"computeMs\" : %%g, \"d2hMs\" : 0.003, \"latencyMs\" : %%g }\n"
                 %% (s, s + .01, s + .001, s + .005, s + .005, s + .005 + c, s + .005 + c, s + .008 + c, c, c + .007))
    fh.write("]\n")
'''


@pytest.fixture()
def stand_in_trtexec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    exe = tmp_path / "bin" / "trtexec"
    exe.parent.mkdir()
    exe.write_text(STAND_IN % {"python": sys.executable, "queries": QUERIES})
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    argv_log = tmp_path / "argv.log"
    monkeypatch.setenv("EDGEBENCH_TRTEXEC", str(exe))
    monkeypatch.setenv("STANDIN_LOG", str(DEFAULT_RUN))
    monkeypatch.setenv("STANDIN_ARGV_LOG", str(argv_log))
    return argv_log


def _job(model: Path, cache: Path, **measure) -> dict:
    return {"job_id": "trt", "model": {"path": str(model), "format": "onnx"},
            "runtime": {"name": "tensorrt", "options": {"precision": "fp16", "engine_cache_dir": str(cache)}},
            "measure": quick_measure(min_runs=20, min_seconds=1.5, **measure)}


def test_agent_runs_tensorrt_through_a_stand_in_trtexec_then_reuses_the_engine(
        tmp_path: Path, tiny_onnx: Path, stand_in_trtexec: Path) -> None:
    cache = tmp_path / "engines"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = agent_job(tmp_path / "a", _job(tiny_onnx, cache))
    assert first["status"] == "ok", first.get("error")
    assert first["runtime"]["via"] == "trtexec" and first["runtime"]["engine_from_cache"] is False
    assert first["runtime"]["tensorrt_version"] == "10.16.1" and first["runtime"]["gpu"] == "NVIDIA H100 PCIe"
    assert first["compute_unit"] == "gpu"
    assert first["timing"]["runs"] == QUERIES == len(first["latencies_ms"])
    assert first["timing"]["load_ms"] == pytest.approx(8091.38)  # "Engine built in 8.09138 sec": cold start
    assert first["timing"]["first_inference_ms"] is None and first["timing"]["first_inference_reason"]
    assert min(first["latencies_ms"]) == pytest.approx(0.043) and first["device_timing"]["device_compute_ms"] > 0
    assert first["power"]["energy_per_inference_mj"] is None and "trtexec" in first["power"]["reason"]
    assert first["memory"]["gpu"]["activation_bytes"] == 125440
    assert any("no fidelity" in w for w in first["warnings"])
    assert not any("counts" in w for w in first["warnings"])  # the trace matches the log's query count

    second = agent_job(tmp_path / "b", _job(tiny_onnx, cache))
    assert second["status"] == "ok" and second["runtime"]["engine_from_cache"] is True
    calls = [json.loads(line) for line in stand_in_trtexec.read_text().splitlines()]
    assert calls[0][0] == "--onnx=%s" % tiny_onnx and "--fp16" in calls[0]
    assert calls[1][0].startswith("--loadEngine=%s" % cache) and not any(a.startswith("--onnx") for a in calls[1])
    for argv in calls:  # the job's window: at least 20 iterations and 2 whole seconds (1.5 s rounded up)
        assert {"--iterations=20", "--duration=2", "--device=0"} <= set(argv)
        assert any(a.startswith("--exportTimes=") for a in argv)


def test_trace_shorter_than_the_log_says_is_flagged(tmp_path: Path, tiny_onnx: Path, stand_in_trtexec: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDIN_ROWS", "100")
    r = agent_job(tmp_path, _job(tiny_onnx, tmp_path / "engines"))
    assert r["status"] == "ok" and r["timing"]["runs"] == 100
    assert any("counts 46125 timed queries but its trace holds 100" in w for w in r["warnings"])


def test_failing_trtexec_is_an_error_with_its_log_and_leaves_no_engine(
        tmp_path: Path, tiny_onnx: Path, stand_in_trtexec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDIN_MODE", "fail")
    r = agent_job(tmp_path, _job(tiny_onnx, tmp_path / "engines"))
    assert r["status"] == "error" and r["error_type"] == "inference"
    assert "trtexec failed (exit 1)" in r["error"] and "reshape fails" in r["error"]
    assert not list((tmp_path / "engines").glob("*.engine"))
