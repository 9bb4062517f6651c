"""STREAM-style sustainable memory bandwidth with numpy, on every core, and a working-set sweep.

Kernels (STREAM's byte counts, 8-byte doubles): copy c=a (16 B/element), scale b=q·c (16), add
c=a+b (24), triad a=b+q·c (24). Each array is at least 4× the last-level cache. Threads each work on
their own slice (numpy releases the GIL inside these loops); outputs are preallocated (``out=``,
``np.copyto``: no temporaries, no page faults after the discarded first pass). Triad runs in blocks of
1 MiB so its temporary stays in L2/L3 and memory traffic matches STREAM's count (smaller blocks lose
to per-call overhead and GIL hand-offs: 64 KiB blocks reached 12 GB/s, 1 MiB 19-22 GB/s here).
Trials of best-of-N, first pass discarded, repeated until the triad figure is stable (see
``compute.until_stable``). ``make perf`` compares these figures with STREAM itself.
"""

from __future__ import annotations

import glob
import os
import platform
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..sysinfo import read_text, sysctl

BLOCK = 131072  # elements per triad block (1 MiB of doubles: stays in L2/L3)
KERNEL_BYTES = {"copy": 16, "scale": 16, "add": 24, "triad": 24}


def last_level_cache_bytes() -> Tuple[Optional[int], str]:
    """(size of the largest cache level, where it was read)."""
    best: Tuple[int, int] = (0, 0)
    for idx in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*"):
        level = read_text(os.path.join(idx, "level"))
        size = read_text(os.path.join(idx, "size"))
        if not level or not size:
            continue
        mult = {"K": 1024, "M": 1024 * 1024}.get(size[-1].upper(), 1)
        value = int(size.rstrip("KkMm")) * mult
        if (int(level), value) > best:
            best = (int(level), value)
    if best[1]:
        return best[1], "/sys/devices/system/cpu/cpu0/cache (L%d)" % best[0]
    for key in ("hw.l3cachesize", "hw.l2cachesize"):
        v = sysctl(key)
        if v and v.isdigit() and int(v) > 0:
            return int(v), "sysctl %s" % key
    return None, "cache size not readable"


def _memory_bytes() -> Optional[int]:
    from ..probe import memory_total_bytes

    return memory_total_bytes()


def _threads_run(n_threads: int, work: Callable[[int], None]) -> float:
    """Wall time of ``work(i)`` for i in range(n_threads), all started together."""
    barrier = threading.Barrier(n_threads + 1)
    done: List[float] = []

    def runner(i: int) -> None:
        barrier.wait()
        work(i)

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    done.append(time.perf_counter() - t0)
    return done[0]


def measure_bandwidth(repeats: int = 10, threads: Optional[int] = None,
                      array_bytes: Optional[int] = None, max_trials: int = 6, max_s: float = 30.0) -> Dict[str, Any]:
    import numpy as np

    from .compute import STABLE_TRIALS, until_stable

    llc, llc_source = last_level_cache_bytes()
    if array_bytes is None:
        array_bytes = max(4 * (llc or 8 * 1024 * 1024), 64 * 1024 * 1024)
        mem = _memory_bytes()
        if mem:
            array_bytes = min(array_bytes, mem // 8)  # three arrays must fit comfortably
    n = int(array_bytes // 8)
    nthreads = int(threads or (os.cpu_count() or 1))
    a = np.full(n, 1.0)
    b = np.full(n, 2.0)
    c = np.zeros(n)
    q = 3.0
    bounds = [(i * n // nthreads, (i + 1) * n // nthreads) for i in range(nthreads)]
    tmp = [np.empty(BLOCK) for _ in range(nthreads)]

    def copy(i: int) -> None:
        lo, hi = bounds[i]
        np.copyto(c[lo:hi], a[lo:hi])

    def scale(i: int) -> None:
        lo, hi = bounds[i]
        np.multiply(c[lo:hi], q, out=b[lo:hi])

    def add(i: int) -> None:
        lo, hi = bounds[i]
        np.add(a[lo:hi], b[lo:hi], out=c[lo:hi])

    def triad(i: int) -> None:
        lo, hi = bounds[i]
        t = tmp[i]
        for s in range(lo, hi, BLOCK):
            e = min(s + BLOCK, hi)
            blk = t[: e - s]
            np.multiply(c[s:e], q, out=blk)
            np.add(b[s:e], blk, out=a[s:e])

    kernels = {"copy": copy, "scale": scale, "add": add, "triad": triad}
    for fn in kernels.values():  # the first pass is discarded (page faults, thread start)
        _threads_run(nthreads, fn)
    times: Dict[str, List[float]] = {k: [] for k in kernels}
    per_trial: Dict[str, List[float]] = {k: [] for k in kernels}

    def trial() -> float:
        best = {k: float("inf") for k in kernels}
        for _ in range(max(1, repeats)):
            for name, fn in kernels.items():
                dt = _threads_run(nthreads, fn)
                times[name].append(dt)
                best[name] = min(best[name], dt)
        for name in kernels:
            per_trial[name].append(KERNEL_BYTES[name] * n / best[name] / 1e9)
        return per_trial["triad"][-1]

    found = until_stable(trial, max_trials, max_s)
    result: Dict[str, Any] = {
        "array_bytes": n * 8, "llc_bytes": llc, "llc_source": llc_source, "threads": nthreads,
        "repeats": repeats, "numpy_version": np.__version__,
        "method": "STREAM-style kernels in numpy over %d threads, arrays of %.0f MiB (%s), trials of best-of-%d "
                  "after one discarded pass until the best %d triad trials agree within 3 %% (%d trials, %s); "
                  "STREAM byte counts" % (nthreads, n * 8 / 2**20, ">= 4x LLC" if llc and n * 8 >= 4 * llc else
                                          "LLC unknown or memory-capped", repeats, STABLE_TRIALS,
                                          len(found["trials"]), "stable" if found["stable"] else "NOT stable"),
        "stable": found["stable"], "trial_gbps": per_trial,
    }
    for name, ts in times.items():
        result["%s_gbps" % name] = KERNEL_BYTES[name] * n / min(ts) / 1e9
        tail = sorted(per_trial[name])[-STABLE_TRIALS:]
        result["%s_spread_rel" % name] = (max(tail) - min(tail)) / max(tail) if tail and max(tail) > 0 else None
    result["spread_rel"] = result["triad_spread_rel"]
    return result


def working_set_sweep(max_bytes: Optional[int] = None, min_bytes: int = 16 * 1024,
                      target_s: float = 0.02) -> List[Dict[str, Any]]:
    """Single-thread add (c = a + b) bandwidth against the working set (3 arrays), from L1 to memory."""
    import numpy as np

    llc, _ = last_level_cache_bytes()
    max_bytes = max_bytes or 8 * (llc or 8 * 1024 * 1024)
    out = []
    ws = min_bytes
    while ws <= max_bytes:
        n = max(64, ws // 24)
        a = np.ones(n)
        b = np.ones(n)
        c = np.empty(n)
        np.add(a, b, out=c)
        t0 = time.perf_counter()
        np.add(a, b, out=c)
        once = max(time.perf_counter() - t0, 1e-7)
        inner = max(1, int(target_s / once))
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(inner):
                np.add(a, b, out=c)
            best = min(best, (time.perf_counter() - t0) / inner)
        out.append({"working_set_bytes": int(n * 24), "gbps": 24 * n / best / 1e9})
        ws *= 2
    return out


def cpu_description() -> str:
    return platform.machine()
