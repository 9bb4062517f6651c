"""The fork guard of a device worker: a fork (as billiard's pool makes one) waits while the lab thread starts a
process, so the pool child never inherits that process's pipes. Real forks and real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter: the guard is installed once per process and forks are process-wide."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))


def test_a_fork_waits_for_the_held_section_and_the_child_starts_clean() -> None:
    proc = _run("""
        import os, threading, time
        from bench.lab import forkguard
        forkguard.install()
        forkguard.FORK_WAIT_S = 5.0
        inside = threading.Event()
        def lab_thread():
            with forkguard.held():
                inside.set()
                time.sleep(0.8)
        t = threading.Thread(target=lab_thread); t.start()
        inside.wait()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: the parent's thread is gone, and so are its sections
            with forkguard.held():
                pass
            start = time.monotonic()
            grandchild = os.fork()  # must not wait for the parent's lab thread
            if grandchild == 0:
                os._exit(0)
            os.waitpid(grandchild, 0)
            os._exit(0 if time.monotonic() - start < 2.0 else 3)
        waited = time.monotonic() - start
        _, status = os.waitpid(pid, 0)
        t.join()
        print("waited %.2f exit %d" % (waited, os.waitstatus_to_exitcode(status)))
        start = time.monotonic()
        pid = os.fork()  # nothing held: no wait
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        print("free %.2f" % (time.monotonic() - start))
    """)
    assert proc.returncode == 0, proc.stderr
    waited = float(proc.stdout.split()[1])
    assert waited >= 0.5 and "exit 0" in proc.stdout, proc.stdout
    assert float(proc.stdout.split("free")[1]) < 0.5, proc.stdout


def test_an_abandoned_section_no_longer_delays_forks() -> None:
    """A probe given up while it hangs inside its section: forks go ahead at once."""
    proc = _run("""
        import os, threading, time
        from bench.lab import forkguard
        forkguard.install()
        forkguard.FORK_WAIT_S = 5.0
        inside, release = threading.Event(), threading.Event()
        def hung_probe():
            with forkguard.held():
                inside.set()
                release.wait()
        t = threading.Thread(target=hung_probe, daemon=True); t.start()
        inside.wait()
        forkguard.abandon(t)
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        print("waited %.2f" % (time.monotonic() - start))
        release.set(); t.join()
    """)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.split()[1]) < 2.0, proc.stdout


def test_the_probe_of_a_lab_thread_ends_although_a_pool_child_is_forked_beside_it() -> None:
    """What hung a worker: a fork landing inside the probe's Popen kept its pipes open in a long-lived child.
    A thread starting processes in a loop beside forks of children that live 3 s: with the guard every start ends
    at once, and no fork waits for ever for a moment with no section held."""
    proc = _run("""
        import os, shutil, subprocess, sys, threading, time
        from bench.lab import forkguard
        forkguard.install()
        true = shutil.which("true")
        slowest = [0.0]
        stop = threading.Event()
        def lab_thread():
            while not stop.is_set():
                start = time.monotonic()
                with forkguard.held():
                    subprocess.run([true], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                slowest[0] = max(slowest[0], time.monotonic() - start)
        t = threading.Thread(target=lab_thread); t.start()
        children = []
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            pid = os.fork()
            if pid == 0:  # a pool child: lives on without exec
                time.sleep(3.0)
                os._exit(0)
            children.append(pid)
            time.sleep(0.01)
        stop.set(); t.join()
        for pid in children:
            os.waitpid(pid, 0)
        print("forks %d slowest %.2f" % (len(children), slowest[0]))
    """)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.split("slowest")[1]) < 2.5, proc.stdout
