"""Native mode's parsers on real captured outputs (tests/fixtures/tools/, copies of ../shared/fixtures, and
tests/device_agents/fixtures/native/, each citing its source), its command lines, the cluster mask
and the sampler's log format."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_agents.native import litert_log, ort_perf_log
from device_agents.native.commands import BadNativeJob, clusters, core_mask, litert_argv, ort_argv
from device_agents.native.sampler import charging_reason, parse_log

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # copies of ../shared/fixtures, each with its source line
OWN = Path(__file__).resolve().parent / "fixtures" / "native"


def body(path: Path) -> str:
    """The captured output without the fixture's provenance lines ("# ..."; the tool's own "#threads" stays)."""
    return "\n".join(ln for ln in path.read_text().splitlines() if not ln.startswith("# "))




def test_litert_android_output_issue42507() -> None:
    out = litert_log.parse_output(body(FIXTURES / "tools" / "tflite_benchmark_model_android_issue42507.txt"))
    assert out["summary_ms"] == {"n": 50, "first_ms": 32.891, "min_ms": 32.641, "max_ms": 34.005,
                                 "mean_ms": pytest.approx(33.2094), "std_ms": 0.45}
    assert out["warmup"]["n"] == 15 and out["warmup_mean_ms"] == pytest.approx(34.8251)
    assert out["load_ms"] == pytest.approx(0.855) and out["first_inference_ms"] == pytest.approx(49.06)
    assert out["peak_memory_bytes"] == int(12.8672 * 1024 * 1024) and out["num_threads"] == 4
    assert "p50_ms" not in out["summary_ms"]  # not printed: not invented


def test_litert_readme_op_profile_excerpt() -> None:
    text = body(FIXTURES / "tools" / "tflite_benchmark_model_README_op_profiling.txt")
    assert litert_log.parse_op_profile(text)[0] == {"node_type": "CONV_2D", "count": 15, "avg_ms": 1.406,
                                                    "avg_pct": 89.27}
    # the excerpt has no benchmark stat line: the profiler's "Timings (microseconds): count=50 ..." is not one,
    # so no run count is invented from it
    with pytest.raises(litert_log.LiteRtLogError, match="no timed run"):
        litert_log.parse_output(text)


def test_litert_failure_names_the_last_line() -> None:
    with pytest.raises(litert_log.LiteRtLogError, match="Failed to load model"):
        litert_log.parse_output("STARTING!\nERROR: Failed to load model /data/local/tmp/x.tflite\n")


def test_ort_android_sme2_newer_format() -> None:
    out = ort_perf_log.parse_output(body(OWN / "ort_perf_test_android_sme2_armlp.txt"))
    s = out["summary_ms"]
    assert s["n"] == 5 and s["mean_ms"] == pytest.approx(98.961997)
    assert s["min_ms"] == pytest.approx(95.8204) and s["p50_ms"] == pytest.approx(99.5086)
    assert s["p999_ms"] == pytest.approx(101.519) and "std_ms" not in s
    assert out["load_ms"] == pytest.approx(217.932) and out["first_inference_ms"] == 196.0
    assert out["peak_memory_bytes"] == 271122432 and out["window_s"] == pytest.approx(0.494854)
    assert out["num_threads"] == 1


def test_ort_older_format_without_percentiles() -> None:
    out = ort_perf_log.parse_output(body(OWN / "ort_perf_test_android_acl_issue850.txt"))
    assert out["summary_ms"] == {"n": 10, "mean_ms": pytest.approx(144.871)}
    assert out["first_inference_ms"] is None and out["load_ms"] == pytest.approx(127.918)


def test_ort_failure() -> None:
    with pytest.raises(ort_perf_log.OrtPerfLogError, match="no timed run"):
        ort_perf_log.parse_output("Error: failed to load model\n")


SM8250_KHZ = {0: 1804800, 1: 1804800, 2: 1804800, 3: 1804800, 4: 2419200, 5: 2419200, 6: 2419200, 7: 2841600}


def test_clusters_and_masks_from_cpuinfo_max_freq() -> None:
    assert [c for _, c in clusters(SM8250_KHZ)] == [[0, 1, 2, 3], [4, 5, 6], [7]]
    assert core_mask(SM8250_KHZ, "little") == 0x0F and core_mask(SM8250_KHZ, "big") == 0xF0
    assert core_mask(SM8250_KHZ, "prime") == 0x80 and core_mask(SM8250_KHZ, [0, 7]) == 0x81
    assert core_mask(SM8250_KHZ, "all") is None and core_mask(SM8250_KHZ, None) is None
    with pytest.raises(BadNativeJob, match="the phone has cores"):
        core_mask(SM8250_KHZ, [9])
    with pytest.raises(BadNativeJob, match="little, big, prime"):
        core_mask(SM8250_KHZ, "medium")


def test_litert_command_line_from_the_job() -> None:
    m = {"warmup_runs": 3, "warmup_min_s": 0.5, "min_runs": 20, "min_seconds": 2, "max_seconds": 30}
    argv = litert_argv("/data/local/tmp/bm", "/data/local/tmp/m.tflite", m, {"threads": 4, "delegate": "qnn"})
    assert argv == ["/data/local/tmp/bm", "--graph=/data/local/tmp/m.tflite", "--num_threads=4", "--warmup_runs=3",
                    "--warmup_min_secs=0.5", "--num_runs=20", "--min_secs=2", "--max_secs=30", "--use_xnnpack=false",
                    "--external_delegate_path=libQnnTFLiteDelegate.so",
                    "--external_delegate_options=backend_type:htp"]
    assert "--use_gpu=true" in litert_argv("b", "m", m, {"delegate": "gpu"})
    assert "--use_xnnpack=true" in litert_argv("b", "m", m, {"delegate": "xnnpack", "op_profiling": True})
    with pytest.raises(BadNativeJob, match="not one of"):
        litert_argv("b", "m", m, {"delegate": "coreml"})


def test_ort_command_line_and_what_it_cannot_do() -> None:
    argv, warnings = ort_argv("bin", "m.onnx", {"min_runs": 30, "min_seconds": 1, "warmup_runs": 5},
                              {"provider": "qnn", "threads": 2})
    assert argv == ["bin", "-m", "times", "-r", "30", "-x", "2", "-e", "qnn", "-I", "-i", "backend_path|libQnnHtp.so",
                    "m.onnx"]
    assert any("min_seconds" in w for w in warnings) and any("warm-up" in w for w in warnings)


def test_sampler_log_into_samples_with_status_last() -> None:
    log = ("# edgebench-sampler 1\n# zone thermal_zone0 battery\n# zone thermal_zone11 tsens_tz_sensor0\n"
           "# cpu cpu0 1804800\n# cpu cpu7 2841600\n"
           "t=100.00 i=1104003 v=3753000 cap=44 btemp=313 thermal_zone0=31300 thermal_zone11=45200 cpu0=1804800 "
           "cpu7=2841600 status=Discharging\n"
           "t=100.10 i=1104003 v=3753000 thermal_zone0=31300 thermal_zone11=45300 cpu0=1804800 cpu7=1200000 "
           "status=Not charging\n")
    battery, thermal, header = parse_log(log)
    assert header == {"zones": {"thermal_zone0": "battery", "thermal_zone11": "tsens_tz_sensor0"},
                      "cpu_max_khz": {"cpu0": 1804800, "cpu7": 2841600}}
    # SM8250 fixture: positive current while discharging is the inverted-sign gauge
    assert battery[0].total_power_mw == pytest.approx(1.104003 * 3.753 * 1000)
    assert battery[1].total_power_mw is None and battery[1].extra["status"] == "Not charging"
    assert thermal[1].temps_c == {"battery": 31.3, "tsens_tz_sensor0": 45.3}
    assert thermal[1].clocks_mhz == {"cpu0": 1804.8, "cpu7": 1200.0}
    reason = charging_reason(battery, "  AC powered: false\n  USB powered: true\n")
    assert "not charging" in reason and "USB powered: true" in reason and "adb tcpip" in reason
    assert charging_reason(battery[:1]) is None
