"""The SSH transport against a real OpenSSH server on loopback (no mocked client)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bench.cli.test_cli_run import QUICK, agents_of, bench, only_run, run_dirs, start_run, wait_for_result
from tests.sshd import Keys, Sshd, free_port, have_sshd

pytestmark = pytest.mark.skipif(not have_sshd(), reason="needs root, unshare and OpenSSH's sshd (make test installs it)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("sshd")
    keys = Keys.make(work / "keys")
    sshd = Sshd(keys, "127.0.0.1", free_port(), work).start()
    known = work / "known_hosts"
    known.write_text(keys.known_hosts_line(sshd.host, sshd.port))
    yield sshd, known, work
    sshd.kill()


def write_devices(tmp_path: Path, sshd: Sshd, known: Path, name: str = "box") -> None:
    (tmp_path / "devices.yaml").write_text("devices:\n" + sshd.device_yaml(
        name, sys.executable, str(tmp_path / "device-root"), known))


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_full_run_over_ssh_matches_local_shape_and_second_push_is_empty(tmp_path: Path, server, tiny_onnx: Path) -> None:
    sshd, known, _ = server
    write_devices(tmp_path, sshd, known)
    proc = bench(["run", "--device", "box,local", "--model-file", str(tiny_onnx), "--ceilings", "skip"] + QUICK)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = only_run(tmp_path / "results")
    jobs = {json.loads(p.read_text())["device_name"]: json.loads(p.read_text()) for p in (run / "jobs").glob("*.json")}
    remote, local = jobs["box"], jobs["local"]
    assert remote["status"] == local["status"] == "ok"
    assert set(remote) == set(local)  # identical in shape
    assert set(remote["timing"]) == set(local["timing"]) and set(remote["memory"]) == set(local["memory"])
    assert remote["host"]["bytes_pushed"] > 0 and remote["host"]["command"].startswith(sys.executable)
    assert remote["host"]["workdir"].startswith(str(tmp_path / "device-root"))
    # over SSH too the job ran in a child forked by the device's warm agent, and said so
    assert remote["method"]["process"].startswith("a fresh process per job, forked from a warm agent")
    assert "fork" in remote["phases_s"] and "interpreter_start" not in remote["phases_s"]
    # a second run sends nothing: agent and model are on the device already, verified by hash
    proc = bench(["run", "--device", "box", "--model-file", str(tiny_onnx), "--ceilings", "skip"] + QUICK)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    second = run_dirs(tmp_path / "results")[-1]
    j = json.loads(next((second / "jobs").glob("*.json")).read_text())
    assert j["status"] == "ok" and j["host"]["bytes_pushed"] == 0 and j["host"]["files_pushed"] == 0


def test_unknown_host_is_refused_with_the_command_to_add_it(tmp_path: Path, server, tiny_onnx: Path) -> None:
    sshd, _, _ = server
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    write_devices(tmp_path, sshd, empty)
    proc = bench(["run", "--device", "box", "--model-file", str(tiny_onnx), "--ceilings", "skip"] + QUICK)
    assert proc.returncode == 2  # found before any work: no run folder
    line = next(ln for ln in proc.stderr.splitlines() if "not ready" in ln)
    assert "is not in %s" % empty in line and "ssh-keyscan -p %d 127.0.0.1" % sshd.port in line
    assert empty.read_text() == ""  # nothing was auto-accepted
    assert not (tmp_path / "results").exists()
    # with --no-preflight the same refusal is the job's one-line error
    proc = bench(["run", "--device", "box", "--model-file", str(tiny_onnx), "--ceilings", "skip", "--no-preflight"]
                 + QUICK)
    assert proc.returncode == 1
    line = next(ln for ln in proc.stdout.splitlines() if "ERROR" in ln)
    assert "is not in %s" % empty in line and "ssh-keyscan -p %d 127.0.0.1" % sshd.port in line


def test_host_key_mismatch_is_refused(tmp_path: Path, server, tiny_onnx: Path) -> None:
    sshd, _, work = server
    other = Keys.make(tmp_path / "other")
    wrong = tmp_path / "known_hosts"
    wrong.write_text(other.known_hosts_line(sshd.host, sshd.port))
    write_devices(tmp_path, sshd, wrong)
    proc = bench(["run", "--device", "box", "--model-file", str(tiny_onnx), "--ceilings", "skip"] + QUICK)
    assert proc.returncode == 2 and "HOST KEY MISMATCH" in proc.stderr and "ssh-keygen -R" in proc.stderr


def test_devices_table_and_probe_over_ssh(tmp_path: Path, server) -> None:
    sshd, known, _ = server
    write_devices(tmp_path, sshd, known)
    proc = bench(["devices"])
    row = next(ln for ln in proc.stdout.splitlines() if ln.startswith("box"))
    assert "ssh" in row and "yes" in row and "onnxruntime" in row and "127.0.0.1" in row
    facts = json.loads(bench(["probe", "box"]).stdout)
    assert facts["runtimes"]["onnxruntime"]["available"] and "sensors" in facts


@pytest.mark.slow
def test_agent_past_its_deadline_is_killed_on_the_device(tmp_path: Path, server, zoo_default) -> None:
    sshd, known, _ = server
    write_devices(tmp_path, sshd, known)
    t0 = time.monotonic()
    proc = bench(["run", "--device", "box", "--model-file", zoo_default["onnx-fp32"].path, "--ceilings", "skip",
                  "--runs", "5", "--min-seconds", "60", "--job-timeout", "6"])
    assert time.monotonic() - t0 < 40
    assert proc.returncode == 1 and "ERROR (timeout)" in proc.stdout
    run = only_run(tmp_path / "results")
    job = json.loads(next((run / "jobs").glob("*.json")).read_text())
    assert job["kill_confirmed"] is True, job  # the job's group was killed through its pid file, and gone
    deadline = time.monotonic() + 10
    while agents_of(run.name) and time.monotonic() < deadline:  # the warm agent ends with the run's connection
        time.sleep(0.1)
    assert not agents_of(run.name), "agent still running on the device"


@pytest.mark.slow
def test_sshd_killed_mid_run_then_resume(tmp_path: Path, zoo_default) -> None:
    """Killing the device's sshd mid-job: a clear per-job error, the other device finishes, --resume
    completes once the device is back."""
    keys = Keys.make(tmp_path / "keys")
    sshd = Sshd(keys, "127.0.0.1", free_port(), tmp_path).start()
    known = tmp_path / "known_hosts"
    known.write_text(keys.known_hosts_line(sshd.host, sshd.port))
    write_devices(tmp_path, sshd, known)
    proc = start_run(tmp_path, zoo_default["onnx-fp32"].path, 3,
                     ["--device", "box,local", "--runs", "5", "--min-seconds", "1.5", "--job-timeout", "60"])
    try:
        wait_for_result(tmp_path / "results", "box", 60)
        time.sleep(0.5)  # the second box job is running now
        sshd.kill()
        out, err = proc.communicate(timeout=90)
    finally:
        sshd.kill()
    assert proc.returncode == 1, out + err
    box_errors = [ln for ln in out.splitlines() if "box" in ln and "ERROR" in ln]
    # the wording depends on where the kill lands (reset, dropped channel, inactive session): a transport
    # error naming the device, for each job that could not finish
    assert box_errors and all("(transport)" in ln and "device 'box'" in ln for ln in box_errors), out
    run = only_run(tmp_path / "results")
    results = [json.loads(p.read_text()) for p in (run / "jobs").glob("*.json")]
    assert sum(1 for r in results if r["device_name"] == "local" and r["status"] == "ok") == 3
    assert any(r["device_name"] == "box" and r["status"] == "ok" for r in results)
    sshd2 = Sshd(keys, "127.0.0.1", sshd.port, tmp_path).start()
    try:
        resumed = bench(["run", "--resume", run.name])
    finally:
        sshd2.kill()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = [json.loads(p.read_text()) for p in (run / "jobs").glob("*.json")]
    assert len(final) == 6 and all(r["status"] == "ok" for r in final)


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs a bare system Python")
def test_device_without_runtimes_gives_unavailable_with_install_command(tmp_path: Path, server,
                                                                          tiny_onnx: Path) -> None:
    """The device's Python is Debian's bare /usr/bin/python3: no numpy, no onnxruntime."""
    probe = subprocess.run(["/usr/bin/python3", "-c", "import onnxruntime"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("/usr/bin/python3 has onnxruntime here")
    sshd, known, _ = server
    (tmp_path / "devices.yaml").write_text("devices:\n" + sshd.device_yaml(
        "bare", "/usr/bin/python3", str(tmp_path / "device-root"), known))
    proc = bench(["run", "--device", "bare", "--model-file", str(tiny_onnx), "--ceilings", "skip"] + QUICK)
    # unavailable is an answer, not a crash; but a run where nothing was measured does not exit 0
    assert proc.returncode == 1 and "no job measured anything (unavailable)" in proc.stderr, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if "UNAVAILABLE" in ln)
    assert "python3 -m pip install onnxruntime" in line
    job = json.loads(next((tmp_path / "results").glob("*/jobs/*.json")).read_text())
    assert job["host"]["model_pushed"] is False  # the agent's probe said so before the model was sent
    assert not list((tmp_path / "device-root").glob("models/**/*.onnx"))
    row = next(ln for ln in bench(["devices"]).stdout.splitlines() if ln.startswith("bare"))
    assert "onnxruntime: missing" in row
