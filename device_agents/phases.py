"""Wall time per named phase of a job, in seconds — the harness's own cost made a number in every result.

Used by the agent (probe, hash, load, warm-up, window, …) and by the host (connect, deploy, exec, pull, …):
one clock, ``time.perf_counter``. A phase entered twice adds up. Python 3.8, standard library only."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Dict, Iterator, Optional


#: The agent phases that are the measurement itself (a raw script spends them too); the others are the harness's
#: own cost.
MEASURED_PHASES = ("load", "first_inference", "warmup", "window")


class Phases:
    """Seconds spent per phase, in the order phases were first entered."""

    def __init__(self, start: Optional[float] = None) -> None:
        #: ``perf_counter`` when the clock started (the agent passes the moment its entry point ran).
        self.start = time.perf_counter() if start is None else start
        self.seconds: Dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + max(0.0, seconds)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as ``name`` (also when it raises)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def total_s(self) -> float:
        """Seconds since the clock started."""
        return time.perf_counter() - self.start

    def to_json(self) -> Dict[str, float]:
        """Each phase in seconds (4 decimals), plus ``other`` = time since the start not in any phase and
        ``total`` (only when the clock has a start that covers its phases)."""
        out = {k: round(v, 4) for k, v in self.seconds.items()}
        total = self.total_s()
        out["other"] = round(max(0.0, total - sum(self.seconds.values())), 4)
        out["total"] = round(total, 4)
        return out
