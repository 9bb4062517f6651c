"""Nothing lost, nothing trusted blindly (issue 9): hostile results, concurrent resumes, a full results
disk, a tampered agent, a shared work dir and crafted names — each through the real command line.

Stand-in devices here are the local machine with a different "python": a shell script that plays a
hostile or broken agent by writing a crafted ``result.json`` into its job folder. The harness side
(transport, deploy, runner, store, report) is the real one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import pytest

from bench.results.store import RunStore
from tests.bench.cli.test_cli_run import QUICK, bench, only_run, start_run, wait_for_result

#: result.json payloads a broken or hostile device might return, and what the job line must say.
HOSTILE: Dict[str, tuple] = {
    "nan": ('{"job_id": null, "status": "ok", "latencies_ms": [1.0, NaN], "timing": {"runs": 2, "window_s": 1}}',
            "bad_result", "it holds NaN, which is not a JSON number"),
    "powernan": ('{"status": "ok", "latencies_ms": [1.0], "timing": {"runs": 1, "window_s": 1}, '
                 '"power": {"average_power_mw": Infinity}}', "bad_result", "it holds Infinity"),
    "boollat": ('{"status": "ok", "latencies_ms": [true, 2.0], "timing": {"runs": 2, "window_s": 1}}',
                "bad_result", "latencies_ms[0]: Input should be a valid number"),
    "strnum": ('{"status": "ok", "latencies_ms": [1.0], "timing": {"runs": 1, "window_s": 1}, '
               '"memory": {"peak_over_baseline_bytes": "1000"}}', "bad_result",
               "memory.peak_over_baseline_bytes: Input should be a valid integer"),
    "huge": ('{"status": "ok", "latencies_ms": [1e308], "timing": {"runs": 1, "window_s": 1}}',
             "bad_result", "latencies must be finite, >= 0 and <= 1e+07 ms"),
    "strlat": ('{"status": "ok", "latencies_ms": [1.0, "fast"], "timing": {"runs": 2, "window_s": 1}}',
               "bad_result", "latencies_ms[1]: Input should be a valid number"),
    "memlist": ('{"status": "ok", "latencies_ms": [1.0], "timing": {"runs": 1, "window_s": 1}, "memory": [1]}',
                "bad_result", "memory: Input should be a valid dictionary"),
    "statusobj": ('{"status": {"ok": true}, "error": "x"}', "bad_result", "status: Input should be 'ok'"),
    "list": ('[{"status": "ok"}]', "bad_result", "the result is a JSON list, not an object"),
    "runs": ('{"status": "ok", "latencies_ms": [1.0, 2.0], "timing": {"runs": 5, "window_s": 1}}',
             "bad_result", "timing.runs is 5 but latencies_ms holds 2 samples"),
    "foreign": ('{"job_id": "someone-else", "status": "ok", "latencies_ms": [1.0], "timing": {"runs": 1, '
                '"window_s": 1}}', "bad_result", "a stale or foreign result"),
    "truncated": ('{"status": "ok", "latencies_ms": [1.0, 2.', "bad_result", "result.json is not valid JSON"),
    "empty": ("", "agent_crash", "wrote an empty result.json"),
}


def _stand_in(tmp_path: Path, name: str, payload: str) -> Path:
    (tmp_path / ("%s.json" % name)).write_text(payload)
    script = tmp_path / ("%s.sh" % name)
    script.write_text("#!/bin/sh\ncat %s > result.json\n" % (tmp_path / ("%s.json" % name)))
    script.chmod(0o755)
    return script


def test_malformed_results_are_refused_with_the_field_named(tmp_path: Path, tiny_onnx: Path) -> None:
    entries = "".join("  %s:\n    class: linux\n    transport: local\n    python: %s\n"
                      % (name, _stand_in(tmp_path, name, payload)) for name, (payload, _, _) in HOSTILE.items())
    (tmp_path / "devices.yaml").write_text("devices:\n" + entries)
    proc = bench(["run", "--device", ",".join(HOSTILE) + ",local", "--model-file", str(tiny_onnx),
                  "--ceilings", "skip"] + QUICK)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if "ERROR" in ln or " ok " in ln]
    for name, (_, error_type, needle) in HOSTILE.items():
        line = [ln for ln in lines if ln.split("] ", 1)[-1].startswith(name + " ")]
        assert len(line) == 1 and "ERROR (%s)" % error_type in line[0] and needle in line[0], (name, proc.stdout)
    assert any(ln.split("] ", 1)[-1].startswith("local ") and " ok " in ln for ln in lines)
    run = only_run(tmp_path / "results")
    stored = {json.loads(p.read_text())["device_name"]: json.loads(p.read_text()) for p in (run / "jobs").glob("*.json")}
    assert stored["local"]["status"] == "ok" and all(stored[n]["status"] == "error" for n in HOSTILE)
    assert "[1.0, NaN]" in stored["nan"]["raw_result"]  # kept for the user to inspect, never as numbers
    assert json.loads((run / "manifest.json").read_text())["state"] == "complete_with_errors"


def test_second_harness_on_the_same_run_is_refused(tmp_path: Path, tiny_onnx: Path) -> None:
    proc = start_run(tmp_path, str(tiny_onnx), 2, ["--runs", "5", "--min-seconds", "3", "--sample-rate", "0"])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list((tmp_path / "results").glob("*/manifest.json")):
            time.sleep(0.1)
        run = only_run(tmp_path / "results")
        second = bench(["run", "--resume", run.name])
        assert second.returncode == 2, second.stdout + second.stderr
        assert "is being worked on by another edgebench (pid %d" % proc.pid in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    states = [json.loads(p.read_text())["status"] for p in (run / "jobs").glob("*.json")]
    assert states == ["ok", "ok"]


def test_an_error_never_overwrites_a_measured_result(tmp_path: Path) -> None:
    store = RunStore.create([], ["test"], base=tmp_path)
    store.save_result({"job_id": "j", "status": "ok", "latencies_ms": [1.0], "timing": {"runs": 1, "window_s": 1}})
    kept = store.save_result({"job_id": "j", "status": "error", "error_type": "transport", "error": "link down"})
    assert kept.parent.name == "attempts"
    assert [r["status"] for r in store.results()] == ["ok"]


def test_corrupt_job_file_is_skipped_and_named(tmp_path: Path) -> None:
    store = RunStore.create([], ["test"], base=tmp_path)
    store.save_result({"job_id": "good", "status": "ok", "latencies_ms": [1.0], "timing": {"runs": 1, "window_s": 1}})
    (store.root / "jobs" / "half.json").write_text('{"job_id": "half", "status": "o')
    (store.root / "jobs" / "odd.json").write_text('{"job_id": "odd", "status": 7}')
    assert [r["job_id"] for r in store.results()] == ["good"]
    assert any("half.json" in s and "unreadable" in s for s in store.skipped)
    assert any("odd.json" in s and "status" in s for s in store.skipped)


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_tampered_agent_on_the_device_is_replaced_not_run(tmp_path: Path, tiny_onnx: Path) -> None:
    """A planted marker or a changed file in the agent folder is never trusted: every file is hashed."""
    workdir = tmp_path / "dev"
    (tmp_path / "devices.yaml").write_text("devices:\n  box:\n    class: linux\n    transport: local\n"
                                           "    workdir: %s\n" % workdir)
    args = ["run", "--device", "box", "--model-file", str(tiny_onnx), "--ceilings", "skip", "--sample-rate", "0"] + QUICK
    assert bench(args).returncode == 0
    (main,) = workdir.glob("agent/*/device_agents/__main__.py")
    pwned = tmp_path / "pwned"
    main.write_text("open(%r, 'w').write('ran')\n" % str(pwned))
    (main.parent.parent / ".complete").write_text("trust me\n")
    proc = bench(args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not pwned.exists()
    assert "pwned" not in main.read_text()
    job = json.loads(sorted((tmp_path / "results").glob("*/jobs/*.json"))[-1].read_text())
    assert job["host"]["files_pushed"] == 1  # the one changed file, found by its hash


def test_work_dir_other_users_can_write_is_refused(tmp_path: Path, tiny_onnx: Path) -> None:
    workdir = tmp_path / "shared"
    workdir.mkdir()
    workdir.chmod(0o777)
    (tmp_path / "devices.yaml").write_text("devices:\n  box:\n    class: linux\n    transport: local\n"
                                           "    workdir: %s\n" % workdir)
    proc = bench(["run", "--device", "box", "--model-file", str(tiny_onnx), "--ceilings", "skip"] + QUICK)
    assert proc.returncode == 1
    line = next(ln for ln in proc.stdout.splitlines() if "ERROR" in ln)
    assert "ERROR (unsafe_workdir)" in line and "is writable by other users (mode 777)" in line
    assert "chmod -R go-w" in line
    assert not list(workdir.glob("agent/*"))  # nothing was pushed, nothing ran


def _box_after_one_run(tmp_path: Path, model: Path) -> tuple:
    """A local device "box" with its own work dir, after one good run: (work dir, the run's arguments)."""
    workdir = tmp_path / "dev"
    (tmp_path / "devices.yaml").write_text("devices:\n  box:\n    class: linux\n    transport: local\n"
                                           "    workdir: %s\n" % workdir)
    args = ["run", "--device", "box", "--model-file", str(model), "--ceilings", "skip"] + QUICK
    assert bench(args).returncode == 0
    return workdir, args


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_agent_subfolder_others_can_write_is_refused(tmp_path: Path, tiny_onnx: Path) -> None:
    """Not only the work dir: a world-writable folder inside it (the agent's own) is refused too."""
    workdir, args = _box_after_one_run(tmp_path, tiny_onnx)
    (agent_pkg,) = workdir.glob("agent/*/device_agents")
    agent_pkg.chmod(0o777)
    proc = bench(args)
    line = next(ln for ln in proc.stdout.splitlines() if "ERROR" in ln)
    assert "ERROR (unsafe_workdir)" in line and "%s is writable by other users (mode 777)" % agent_pkg in line


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_planted_bytecode_beside_the_agent_is_never_run(tmp_path: Path, tiny_onnx: Path) -> None:
    """A __pycache__/*.pyc whose header matches the checked .py would run instead of it: the agent runs with
    a private byte-code cache, so a planted one is ignored."""
    import py_compile

    workdir, args = _box_after_one_run(tmp_path, tiny_onnx)
    (main,) = workdir.glob("agent/*/device_agents/__main__.py")
    pwned = tmp_path / "pwned"
    trojan = tmp_path / "trojan.py"
    trojan.write_text("open(%r, 'w').write('ran')\n" % str(pwned))
    st = main.stat()
    os.utime(trojan, (st.st_atime, st.st_mtime))
    cache = main.parent / "__pycache__"
    cache.mkdir(exist_ok=True)
    target = cache / ("__main__.%s.pyc" % sys.implementation.cache_tag)
    # an unchecked-hash pyc is used without looking at the source at all: the strongest plant
    py_compile.compile(str(trojan), cfile=str(target), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    assert target.exists()
    proc = bench(args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not pwned.exists()


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_crafted_names_in_a_results_folder_stay_inside_it(tmp_path: Path, tiny_onnx: Path) -> None:
    assert bench(["run", "--model-file", str(tiny_onnx), "--ceilings", "skip", "--sample-rate", "0"] + QUICK
                 ).returncode == 0
    run = only_run(tmp_path / "results")
    job_file = next((run / "jobs").glob("*.json"))
    job = json.loads(job_file.read_text())
    job["device_name"] = "../../../escaped"
    job_file.write_text(json.dumps(job))
    proc = bench(["report", str(run)])
    assert proc.returncode == 0, proc.stderr
    assert not list(tmp_path.rglob("*escaped*.png")) or all(run in p.parents for p in tmp_path.rglob("*escaped*.png"))
    assert not (tmp_path / "escaped").exists() and not list(tmp_path.parent.glob("*escaped*"))


# -- a full results disk ---------------------------------------------------------------------------------

def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
        except OSError:
            pass
    return filler


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_full_results_disk_keeps_what_fits_and_resumes(tmp_path: Path, tiny_onnx: Path, results_disk: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    small_disk = results_disk
    monkeypatch.setenv("EDGEBENCH_RESULTS", str(small_disk))
    proc = start_run(tmp_path, str(tiny_onnx), 4, ["--runs", "5", "--min-seconds", "1.5", "--max-runs", "200",
                                                   "--sample-rate", "0"])
    wait_for_result(small_disk)
    filler = _fill(small_disk)  # the disk fills while the second job measures
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 3, out + err
    assert "Traceback" not in out + err
    assert "results disk full: 1 job result(s) kept" in err and "measured but unsaved" in err
    assert "python -m bench run --resume" in err
    run = only_run(small_disk)
    assert len(list((run / "jobs").glob("*.json"))) == 1
    assert not list(run.rglob("*.tmp"))  # no half-written files left behind
    assert json.loads((run / "manifest.json").read_text())["state"] in ("running", "interrupted")

    filler.unlink()
    resumed = subprocess.run([sys.executable, "-m", "bench", "run", "--resume", run.name, "--ceilings", "skip"], capture_output=True,
                             text=True, timeout=300, cwd=str(Path(__file__).resolve().parents[3]),
                             env=dict(os.environ))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "1 of 4 job(s) finished, 3 to run" in resumed.stdout
    assert json.loads((run / "manifest.json").read_text())["state"] == "complete"


def test_no_room_for_a_new_run_is_one_line(tmp_path: Path, tiny_onnx: Path, small_disk: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEBENCH_RESULTS", str(small_disk))
    _fill(small_disk)
    proc = bench(["run", "--model-file", str(tiny_onnx), "--ceilings", "skip"] + QUICK)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "results disk full" in proc.stderr and "Traceback" not in proc.stderr


def test_full_disk_on_a_local_device_is_a_host_error_not_a_harness_bug(tmp_path: Path, tiny_onnx: Path,
                                                                       small_disk: Path) -> None:
    """The local device's work dir on a full disk: one line saying what failed, not 'please report it'."""
    _fill(small_disk)
    (tmp_path / "devices.yaml").write_text("devices:\n  box:\n    class: linux\n    transport: local\n"
                                           "    workdir: %s\n" % (small_disk / "dev"))
    proc = bench(["run", "--device", "box", "--model-file", str(tiny_onnx), "--ceilings", "skip"] + QUICK)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if "ERROR" in ln)
    assert "no space left" in line.lower() and "'box'" in line
    assert "please report" not in line and "Traceback" not in proc.stderr


def test_unreachable_device_stops_trying_after_three_link_failures(tmp_path: Path, tiny_onnx: Path) -> None:
    """An SSH device on a loopback port where nothing listens: three jobs fail on the link, the other two
    are recorded as not tried (each would cost a connect timeout) and --resume would retry them."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: connection refused
    (tmp_path / "devices.yaml").write_text("devices:\n  gone:\n    class: linux\n    host: 127.0.0.1\n    port: %d\n"
                                           "    options: {connect_timeout_s: 2}\n" % port)
    files = []
    for i in range(5):
        p = tmp_path / ("m%d.onnx" % i)
        p.write_bytes(tiny_onnx.read_bytes())
        files += ["--model-file", str(p)]
    # by default the device is checked before anything is built or a run folder exists
    proc = bench(["run", "--device", "gone", "--ceilings", "skip"] + files + QUICK)
    assert proc.returncode == 2 and "device 'gone' is not ready" in proc.stderr, proc.stdout + proc.stderr
    assert "python -m bench devices" in proc.stderr and not (tmp_path / "results").exists()
    proc = bench(["run", "--device", "gone", "--ceilings", "skip", "--no-preflight"] + files + QUICK)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [ln for ln in proc.stdout.splitlines() if "ERROR (transport)" in ln]
    assert len(errors) == 5, proc.stdout
    assert sum("unreachable" in ln for ln in errors) == 3
    assert sum("not tried: device 'gone' failed 3 jobs in a row" in ln for ln in errors) == 2
