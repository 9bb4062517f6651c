"""Native mode end to end over the real adb client: `bench run` on a phone without Python runs the
runner binary beside the POSIX-sh sampler (in the stand-in phone's real mksh + toybox), pulls and parses.

No vendor binary can run here: the runner is a STAND-IN — a shell script that burns CPU for the
captured run's duration (so the stand-in battery's current rises) and then prints a REAL captured
onnxruntime_perf_test output (tests/device_agents/fixtures/native/, source in its header). What this
proves is the pipeline (push, pinning, sampler, pull, parse, energy from the sampler's log, schema,
report), not a phone's timing or power."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.adbpeer import AdbServer, PeerProcess, have_adb, phone_and_server, write_native_phone
from tests.bench.cli.test_cli_run import QUICK, bench, run_dirs

pytestmark = pytest.mark.skipif(not have_adb(), reason="needs root, adb, mksh, toybox (make test installs them)")

FIXTURE = (Path(__file__).resolve().parents[2] / "device_agents" / "fixtures" / "native"
           / "ort_perf_test_android_sme2_armlp.txt")
#: Burn CPU in the phone's shell for $1 centiseconds (builtins only), then print the captured output.
STANDIN = """#!/system/bin/sh
# STAND-IN for onnxruntime_perf_test (edgebench tests): replays a real captured output, see the fixture's header.
read up rest < /proc/uptime; c=${up%%.*}${up#*.}; end=$((c + %d))
while [ $c -lt $end ]; do read up rest < /proc/uptime; c=${up%%.*}${up#*.}; done
cat <<'OUTPUT'
%s
OUTPUT
"""


def standin(tmp_path: Path, burn_cs: int = 60) -> Path:
    text = "\n".join(ln for ln in FIXTURE.read_text().splitlines() if not ln.startswith("# "))
    path = tmp_path / "onnxruntime_perf_test"
    path.write_text(STANDIN % (burn_cs, text))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    with phone_and_server(tmp_path_factory.mktemp("adbnative")) as both:
        yield both


def phone(tmp_path: Path, peer: PeerProcess, server: AdbServer, runner: Path) -> None:
    write_native_phone(tmp_path, peer, server, runner, op_timeout_s=20)


def job_of(results: Path, index: int = -1) -> dict:
    return json.loads(next((run_dirs(results)[index] / "jobs").glob("*.json")).read_text())


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_native_run_pinned_with_sampler_energy_then_nothing_pushed(tmp_path: Path, lab, tiny_onnx: Path) -> None:
    peer, server = lab
    phone(tmp_path, peer, server, standin(tmp_path))
    args = ["run", "--device", "pixel", "--model-file", str(tiny_onnx), "--ceilings", "skip",
            "--pin-cores", "1", "--sample-rate", "10"] + QUICK
    proc = bench(args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job = job_of(tmp_path / "results")
    assert job["status"] == "ok", job
    assert job["latencies_ms"] is None and "no per-run latencies" in job["latencies_ms_reason"]
    assert job["stats"]["n"] == 5 and job["stats"]["p50_ms"] == pytest.approx(99.5086)
    assert job["stats"]["std_ms"] is None  # the tool prints none: not invented
    assert job["timing"]["load_ms"] == pytest.approx(217.932) and job["timing"]["first_inference_ms"] == 196
    assert job["memory"]["tool_peak_bytes"] == 271122432 and job["memory"]["peak_over_baseline_bytes"] is None
    assert job["pinning"] == {"taskset_mask": "2", "cores": [1]}  # taskset 2: the stand-in's big core
    assert job["runtime"]["argv"][1:5] == ["-m", "times", "-r", "10"]
    p = job["power"]
    assert p["sensor"] == "android_battery" and p["boundary"] == "battery"
    assert p["energy_per_inference_mj"] > 0 and p["idle_power_mw"] > 0
    assert p["calibration"]["load_mw"] > p["calibration"]["idle_mw"]  # the stand-in battery follows the load
    assert "tsens_tz_sensor0" in json.dumps(job["thermal"])
    assert job["device"]["getprop"]["ro.soc.model"] == "SM8250"
    assert job["host"]["bytes_pushed"] > 0
    assert any(only_run_dir.glob("report.*") for only_run_dir in run_dirs(tmp_path / "results"))
    proc = bench(args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    second = job_of(tmp_path / "results")
    assert second["status"] == "ok" and second["host"]["bytes_pushed"] == 0 and second["host"]["files_pushed"] == 0
    print("native: first push %.2f s (%d bytes), exec %.2f s; second push %.2f s, exec %.2f s; energy/inference "
          "%.1f mJ (stand-in battery), idle %.0f mW, load %.0f mW" % (
              job["host"]["push_s"], job["host"]["bytes_pushed"], job["host"]["exec_s"], second["host"]["push_s"],
              second["host"]["exec_s"], p["energy_per_inference_mj"], p["idle_power_mw"], p["calibration"]["load_mw"]))


def test_charging_phone_gives_null_energy_with_the_fix(tmp_path: Path, lab, tiny_onnx: Path) -> None:
    peer, server = lab
    status = peer.root / "sys/class/power_supply/battery/status"
    status.write_text("Charging\n")
    try:
        phone(tmp_path, peer, server, standin(tmp_path, burn_cs=10))
        proc = bench(["run", "--device", "pixel", "--model-file", str(tiny_onnx), "--ceilings", "skip"] + QUICK)
    finally:
        status.write_text("Discharging\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    p = job_of(tmp_path / "results")["power"]
    assert p["energy_per_inference_mj"] is None and p["avg_power_mw"] is None
    assert "external power" in p["reason"] and "USB powered: true" in p["reason"] and "adb tcpip" in p["reason"]


def test_devices_and_probe_show_a_phone_without_python(tmp_path: Path, lab) -> None:
    """STAND-IN phone (tests/adbpeer.py): `bench devices` / `bench probe` read getprop, sysfs and dumpsys."""
    peer, server = lab
    phone(tmp_path, peer, server, standin(tmp_path))
    proc = bench(["probe", "pixel"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    facts = json.loads(proc.stdout)
    assert facts["cpu_model"] == "SM8250" and facts["arch"] and facts["os"].startswith("Android ")
    assert facts["cpu_cores_logical"] >= 1 and facts["clusters"] and facts["runtimes"]["onnxruntime"]["available"]
    proc = bench(["devices"])
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("pixel"))
    assert peer.serial in line and " yes " in line and "native mode" in line


@pytest.mark.slow
def test_an_ssh_board_and_the_phone_in_one_run_run_in_parallel(tmp_path: Path, lab, tiny_onnx: Path) -> None:
    """`make bench DEVICE=board,pixel`: an SSH host in a network namespace (real sshd) and the STAND-IN phone."""
    import time

    from tests.netns import have_netns, ssh_lab
    from tests.sshd import Keys, have_sshd

    if not (have_sshd() and have_netns()):
        pytest.skip("needs root, sshd, iproute2 and nft")
    peer, server = lab
    phone(tmp_path, peer, server, standin(tmp_path, burn_cs=300))
    with ssh_lab([17], Keys.make(tmp_path / "keys"), tmp_path) as (hosts, servers, known):
        board = servers[0].device_yaml("board", sys.executable, str(tmp_path / "board-work"), known)
        inv = tmp_path / "devices.yaml"
        inv.write_text(inv.read_text() + board)
        start = time.monotonic()
        proc = bench(["run", "--device", "board,pixel", "--model-file", str(tiny_onnx), "--ceilings", "skip"]
                     + QUICK + ["--min-seconds", "4", "--max-runs", "100000000"], timeout=600)
        wall = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    jobs = {json.loads(p.read_text())["device_name"]: json.loads(p.read_text())
            for p in (run_dirs(tmp_path / "results")[-1] / "jobs").glob("*.json")}
    assert jobs["board"]["status"] == "ok" and jobs["pixel"]["status"] == "ok"
    b, p = jobs["board"]["host"], jobs["pixel"]["host"]
    overlap = min(b["job_finished_unix_s"], p["job_finished_unix_s"]) - max(b["job_started_unix_s"],
                                                                            p["job_started_unix_s"])
    print("board+pixel: run wall %.1f s; jobs exec %.1f s and %.1f s, overlapping %.1f s"
          % (wall, b["exec_s"], p["exec_s"], overlap))
    assert overlap > 2.5  # both devices worked at the same time
