"""STREAM itself (McCalpin's stream.c, compiled here) as the reference for the agent's bandwidth kernels.

The project ships none of STREAM's code: ``make perf`` looks for its public source at ``$STREAM_SRC``
(default ``/tmp/stream/stream.c``), compiles it into a temporary folder with ``gcc -O3 -fopenmp`` and
the same array length the agent uses, runs it with one OpenMP thread per core, and reads its
best-rate lines (MB/s, 1e6 bytes/s).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, Optional

DEFAULT_SRC = "/tmp/stream/stream.c"
_LINE = re.compile(r"^(Copy|Scale|Add|Triad):\s+([\d.]+)", re.M)


class StreamUnavailable(RuntimeError):
    pass


def source() -> Path:
    path = Path(os.environ.get("STREAM_SRC", DEFAULT_SRC))
    if not path.is_file():
        raise StreamUnavailable("STREAM's source is not at %s: put stream.c (STREAM 5.10, J. McCalpin, "
                                "www.cs.virginia.edu/stream) there or set STREAM_SRC" % path)
    return path


def build(elements: int, ntimes: int = 10) -> Path:
    """Compile stream.c for ``elements`` doubles per array (cached by source hash and size)."""
    src = source()
    key = hashlib.sha256(src.read_bytes() + b"%d/%d" % (elements, ntimes)).hexdigest()[:12]
    out = Path(tempfile.gettempdir()) / ("edgebench-stream-%s" % key) / "stream"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["gcc", "-O3", "-fopenmp", "-DSTREAM_ARRAY_SIZE=%d" % elements, "-DNTIMES=%d" % ntimes, str(src), "-o",
           str(out)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StreamUnavailable("cannot compile STREAM (%s): %s" % (" ".join(cmd), exc))
    if proc.returncode != 0:
        raise StreamUnavailable("gcc failed on %s: %s" % (src, proc.stderr.strip()[-300:]))
    return out


def run(binary: Path, threads: Optional[int] = None) -> Dict[str, float]:
    """Best rates of one STREAM run in GB/s: {copy, scale, add, triad}."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads or os.cpu_count() or 1))
    proc = subprocess.run([str(binary)], capture_output=True, text=True, timeout=600, env=env)
    rates = {m.group(1).lower(): float(m.group(2)) / 1000.0 for m in _LINE.finditer(proc.stdout)}
    if len(rates) != 4:
        raise StreamUnavailable("STREAM printed no rates (exit %s): %s" % (proc.returncode, proc.stdout[-300:]))
    return rates
