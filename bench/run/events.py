"""What a run tells as it goes, as typed events: the runner emits them, and whoever wants to know subscribes — the
terminal's progress printer (rich on a terminal, plain lines in CI), a plain line printer (logs, tests, the lab's
benchmarks) — instead of parsing printed text. The lowest level of the host side: the standard library only.

Every event can say itself as the one line the plain printer writes (``line()``)."""

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
    """A subscriber that writes each event as its plain line through ``printer`` (e.g. ``print``)."""
    return lambda event: printer(event.line())


def counts(events: List[Event]) -> Dict[str, int]:
    """Finished jobs by status, from a list of events (for tests and summaries)."""
    out: Dict[str, int] = {}
    for e in events:
        if isinstance(e, JobFinished):
            out[e.status] = out.get(e.status, 0) + 1
    return out
