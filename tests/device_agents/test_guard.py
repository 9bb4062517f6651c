"""The device lock and the host watches: per-user and safe, bounded, naming its holder; the microbenchmark
takes it too; a local agent ends when its harness dies."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from device_agents.guard import DeviceBusy, LockUnsafe, device_lock
from tests.conftest import REPO, quick_measure, run_agent

HOLD = ("import sys,time\nsys.path.insert(0,%r)\nfrom device_agents.guard import device_lock\n"
        "with device_lock(sys.argv[1], user_base=sys.argv[3]):\n print('held', flush=True)\n"
        " time.sleep(float(sys.argv[2]))\n" % str(REPO))


def _holder(spec: str, seconds: float, base: str = "/tmp") -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, spec, str(seconds), base], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def lock_base(tmp_path: Path) -> Path:
    """A private stand-in for /tmp, so the per-user lock of these tests is theirs alone (the agent itself
    always uses /tmp/edgebench-<uid>)."""
    d = tmp_path / "tmp"
    d.mkdir(mode=0o700)
    return d


@pytest.fixture
def lab_lock(tmp_path: Path) -> Path:
    """A shared lab lock in a private folder: what the agent subprocesses of these tests lock."""
    d = tmp_path / "lab"
    d.mkdir(mode=0o755)
    return d / "edgebench.lock"


def test_busy_device_is_reported_with_its_holder_within_the_wait(lock_base: Path) -> None:
    proc = _holder("user", 30, str(lock_base))
    try:
        start = time.monotonic()
        with pytest.raises(DeviceBusy) as err:
            with device_lock("user", timeout_s=1.0, user_base=str(lock_base)):
                pass
        assert time.monotonic() - start < 5
        assert "pid %d" % proc.pid in err.value.holder and "device busy" in str(err.value)
    finally:
        proc.kill()
        proc.wait()
    with device_lock("user", timeout_s=1.0, user_base=str(lock_base)) as lock:  # released with its holder's death
        assert lock.path == str(lock_base / ("edgebench-%d" % os.getuid()) / "device.lock")


#: A holder that locks, then writes its record only after ``argv[2]`` seconds (a loaded machine between flock and
#: write), or never when ``argv[3]`` is "none"; it holds until killed.
RAW_HOLD = ("import fcntl,os,sys,time\nfd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(float(sys.argv[2]))\n"
            "if sys.argv[3] != 'none':\n os.ftruncate(fd, 0)\n os.pwrite(fd, ('pid %d, user x, since now' % os.getpid()).encode(), 0)\n"
            "time.sleep(60)\n")


def _raw_holder(path: str, record_after_s: float, record: str = "yes") -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", RAW_HOLD, path, str(record_after_s), record], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _dead_pid() -> int:
    """A pid no process has now (a finished child's)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_holder_that_has_not_written_its_record_yet_is_named_once_it_has(lock_base: Path) -> None:
    """Seen under load: the waiter looked between the holder's lock and its record and said "unknown process".
    It now gives the holder a moment to record itself, and then names it."""
    from device_agents.guard import user_lock_path

    path = user_lock_path(str(lock_base))
    proc = _raw_holder(path, 0.5)
    said = []
    try:
        with pytest.raises(DeviceBusy):
            with device_lock("user", timeout_s=2.0, user_base=str(lock_base), on_wait=said.append):
                pass
    finally:
        proc.kill()
        proc.wait()
    assert said == ["pid %d, user x, since now" % proc.pid], said


def test_a_dead_holders_record_is_not_shown_as_the_new_holder_and_a_release_clears_it(lock_base: Path) -> None:
    """The file still says a finished process held it (killed before it could clear it) while a new holder has not
    recorded itself: the waiter says "unknown", never the dead pid. A clean release leaves no record behind."""
    from device_agents.guard import UNKNOWN_HOLDER, user_lock_path

    path = user_lock_path(str(lock_base))
    dead = _dead_pid()
    with open(path, "w") as fh:
        fh.write("pid %d, user x, since then" % dead)
    proc = _raw_holder(path, 0, record="none")
    said = []
    try:
        with pytest.raises(DeviceBusy) as err:
            with device_lock("user", timeout_s=2.0, user_base=str(lock_base), on_wait=said.append):
                pass
    finally:
        proc.kill()
        proc.wait()
    assert said == [UNKNOWN_HOLDER] and err.value.holder == UNKNOWN_HOLDER, said
    with device_lock("user", timeout_s=1.0, user_base=str(lock_base)):
        assert "pid %d" % os.getpid() in Path(path).read_text()
    assert Path(path).read_text() == ""


def test_user_lock_is_one_fixed_path_whatever_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """An SSH login (XDG_RUNTIME_DIR set by pam_systemd) and cron (unset) must find the same lock."""
    from device_agents.guard import user_lock_path

    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    plain = user_lock_path()
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/%d" % os.getuid())
    assert user_lock_path() == plain == "/tmp/edgebench-%d/device.lock" % os.getuid()


def test_planted_symlink_is_not_followed(lock_base: Path, tmp_path: Path) -> None:
    folder = lock_base / ("edgebench-%d" % os.getuid())
    folder.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    (folder / "device.lock").symlink_to(victim)
    with pytest.raises(LockUnsafe) as err:
        with device_lock("user", user_base=str(lock_base)):
            pass
    assert "symbolic link" in str(err.value) and not victim.exists()


def test_lock_folder_that_others_can_write_is_refused(lock_base: Path) -> None:
    folder = lock_base / ("edgebench-%d" % os.getuid())
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(LockUnsafe) as err:
        with device_lock("user", user_base=str(lock_base)):
            pass
    assert "mode 777" in str(err.value) and "remove it" in str(err.value)


def test_shared_lock_in_world_writable_folder_is_refused(tmp_path: Path) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    with pytest.raises(LockUnsafe) as err:
        with device_lock(str(open_dir / "lab.lock")):
            pass
    assert "without the sticky bit" in str(err.value)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv to act as "
                    "a second user")
def test_shared_lock_made_by_another_user_still_excludes(tmp_path: Path) -> None:
    """A lab lock created by root (0644) is taken by 'nobody' through a read-only descriptor: no
    PermissionError, and the two still exclude each other."""
    import tempfile

    lab = Path(tempfile.mkdtemp(prefix="edgebench-lab-", dir="/tmp"))  # pytest's tmp is private to root
    lab.chmod(0o1777)  # sticky, like /tmp
    lock = lab / "edgebench.lock"
    try:
        _shared_lock_between_users(lock)
    finally:
        shutil.rmtree(lab)


def _shared_lock_between_users(lock: Path) -> None:
    root_holder = _holder(str(lock), 30)
    try:
        code = ("import sys,json\nsys.path.insert(0,%r)\nfrom device_agents.guard import device_lock, DeviceBusy\n"
                "try:\n with device_lock(%r, timeout_s=1.0):\n  print('got')\nexcept DeviceBusy as e:\n"
                " print('busy', e.holder)\n" % (str(REPO), str(lock)))
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                              code], capture_output=True, text=True, timeout=60)
        assert out.stdout.startswith("busy pid %d" % root_holder.pid), out.stdout + out.stderr
    finally:
        root_holder.kill()
        root_holder.wait()
    out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "got", out.stderr


def test_agent_run_waits_boundedly_and_says_device_busy(lab_lock: Path, tmp_path: Path, tiny_onnx: Path) -> None:
    proc = _holder(str(lab_lock), 60)
    try:
        (tmp_path / "job.json").write_text(json.dumps({"job_id": "j", "model": {"path": str(tiny_onnx)},
                                                       "runtime": "onnxruntime", "measure": quick_measure()}))
        start = time.monotonic()
        run_agent(["run", "job.json", "--out", "result.json", "--lock", str(lab_lock), "--deadline-s", "40",
                   "--lock-wait-s", "2"], tmp_path)
        result = json.loads((tmp_path / "result.json").read_text())
    finally:
        proc.kill()
        proc.wait()
    assert time.monotonic() - start < 30  # well inside the host's deadline: never "timeout … killed"
    assert result["error_type"] == "device_busy" and result["lock_holder"].startswith("pid %d" % proc.pid)


def test_microbenchmark_takes_the_device_lock(lab_lock: Path, tmp_path: Path) -> None:
    """Ceilings measured inside another harness's timed window spoil both: microbench waits for the lock."""
    proc = _holder(str(lab_lock), 60)
    try:
        (tmp_path / "mb.json").write_text(json.dumps({"compute": [], "bandwidth": {"enabled": False}}))
        run_agent(["microbench", "mb.json", "--out", "mb-result.json", "--lock", str(lab_lock), "--lock-wait-s", "1",
                   "--deadline-s", "60"], tmp_path)
        busy = json.loads((tmp_path / "mb-result.json").read_text())
    finally:
        proc.kill()
        proc.wait()
    assert busy["error_type"] == "device_busy"
    run_agent(["microbench", "mb.json", "--out", "mb-result.json", "--lock", str(lab_lock), "--lock-wait-s", "1"],
              tmp_path)
    free = json.loads((tmp_path / "mb-result.json").read_text())
    assert "error_type" not in free and free["device_lock"]["path"] == str(lab_lock)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as ended)."""
    try:
        return Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_local_agent_ends_when_its_harness_dies(tmp_path: Path, tiny_onnx: Path) -> None:
    """No stdin channel locally: --watch-parent ends an orphaned agent (and frees the lock) at once."""
    (tmp_path / "job.json").write_text(json.dumps({"job_id": "j", "model": {"path": str(tiny_onnx)},
                                                   "runtime": "onnxruntime",
                                                   "measure": quick_measure(min_seconds=120.0, max_seconds=300.0,
                                                                            sample_rate_hz=0.0)}))
    pidfile = tmp_path / "agent.pid"
    # An intermediate "harness" starts the agent, records its pid, then dies by SIGKILL.
    harness = ("import subprocess,sys,os,time\np=subprocess.Popen([sys.executable,'-m','device_agents','run','job.json',"
               "'--out','result.json','--watch-parent'],env=dict(os.environ,PYTHONPATH=%r))\n"
               "open('agent.pid','w').write(str(p.pid))\ntime.sleep(600)\n" % str(REPO))
    h = subprocess.Popen([sys.executable, "-c", harness], cwd=str(tmp_path))
    try:
        for _ in range(100):
            if pidfile.exists() and pidfile.read_text():
                break
            time.sleep(0.1)
        agent_pid = int(pidfile.read_text())
        time.sleep(1.0)
        os.kill(h.pid, signal.SIGKILL)
        h.wait()
        for _ in range(50):
            if not _alive(agent_pid):
                break
            time.sleep(0.1)
        else:
            os.kill(agent_pid, signal.SIGKILL)
            pytest.fail("the orphaned agent was still running 5 s after its harness died")
    finally:
        if h.poll() is None:
            h.kill()
