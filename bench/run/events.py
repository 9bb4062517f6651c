"""What a run tells as it goes, as typed events: the runner emits them, and whoever wants to know subscribes — the
terminal's progress printer (rich on a terminal, plain lines in CI), a plain line printer (logs, tests, the lab's
benchmarks) — instead of parsing printed text. The lowest level of the host side: the standard library only.

Every event can say itself as the one line the plain printer writes (``line()``); an event whose line is empty
(run started and finished: the command says those itself) is for subscribers that keep records, not for the
terminal."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List


@dataclass(frozen=True)
class JobEvent:
    """A job's position in the run (``n`` of ``total``) and what it is."""

    n: int
    total: int
    device: str
    model: str
    variant: str
    runtime: str

    def head(self) -> str:
        return "%s  %s  %s  %s" % (self.device, self.model, self.variant, self.runtime)


@dataclass(frozen=True)
class JobStarted(JobEvent):
    def line(self) -> str:
        return "[%d/%d] %s …" % (self.n, self.total, self.head())


@dataclass(frozen=True)
class JobWaiting(JobEvent):
    """The job waits on something outside it (the device lock held by another measurement): ``what`` says it."""

    what: str = ""

    def line(self) -> str:
        return "[%d/%d] %s  %s …" % (self.n, self.total, self.head(), self.what)


@dataclass(frozen=True)
class JobFinished(JobEvent):
    """The job ended: ``status`` (ok, unavailable, error) and ``outcome``, the one line describing it
    (runner.describe_outcome, which begins with the head)."""

    status: str = ""
    outcome: str = ""
    valid: Any = None

    def line(self) -> str:
        return "[%d/%d] %s" % (self.n, self.total, self.outcome)


@dataclass(frozen=True)
class JobNotSaved(JobEvent):
    job_id: str = ""
    reason: str = ""

    def line(self) -> str:
        return "[%d/%d] %s  NOT SAVED: %s" % (self.n, self.total, self.job_id, self.reason)


@dataclass(frozen=True)
class RunStarted:
    """A run begins on ``devices`` with ``jobs`` jobs to run (after --resume left out the finished ones)."""

    run_id: str
    jobs: int
    devices: tuple

    def line(self) -> str:
        return ""


@dataclass(frozen=True)
class CeilingsMeasured:
    """A device's ceilings for this run: measured now or taken from the cache (``cached``), ``trusted`` or not, or
    not available (``error``, the reason)."""

    device: str
    cached: bool = False
    trusted: Any = None
    error: str = ""

    def line(self) -> str:
        return ""


@dataclass(frozen=True)
class RunFinished:
    """Every job of the run ended (or the run stopped: ``stopped`` says why); ``counts`` = stored results by
    status; ``seconds`` = wall time of the jobs."""

    run_id: str
    counts: Dict[str, int]
    seconds: float
    stopped: str = ""

    def line(self) -> str:
        return ""


@dataclass(frozen=True)
class Note:
    """Anything else worth a line (ceilings measured or kept, a roof check): ``topic`` names what it is about."""

    text: str
    topic: str = "run"

    def line(self) -> str:
        return self.text


Event = Any  # one of the classes above
Subscriber = Callable[[Event], None]


@dataclass
class Bus:
    """Delivers each event to every subscriber, one event at a time (devices run in parallel threads)."""

    subscribers: List[Subscriber] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def subscribe(self, fn: Subscriber) -> "Bus":
        self.subscribers.append(fn)
        return self

    def emit(self, event: Event) -> None:
        with self._lock:
            for fn in self.subscribers:
                fn(event)


def line_printer(printer: Callable[[str], None]) -> Subscriber:
    """A subscriber that writes each event as its plain line through ``printer`` (e.g. ``print``); events without a
    line are left out."""
    def write(event: Event) -> None:
        line = event.line()
        if line:
            printer(line)

    return write


def counts(events: List[Event]) -> Dict[str, int]:
    """Finished jobs by status, from a list of events (for tests and summaries)."""
    out: Dict[str, int] = {}
    for e in events:
        if isinstance(e, JobFinished):
            out[e.status] = out.get(e.status, 0) + 1
    return out
