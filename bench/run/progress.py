"""Progress of a run in the terminal: each job line gets the run's elapsed time and, once a job has
finished, an estimate of the time left (jobs left ÷ jobs finished per second so far: devices working in
parallel are counted by their throughput). On a terminal, finished jobs scroll above a live table (one
row per device: its current job, how many it has done, since when), coloured by outcome with rich;
elsewhere (CI, logs) lines stay plain."""

from __future__ import annotations

import re
import sys
import time
from typing import Any, Callable, Dict, Optional

_JOB = re.compile(r"^\[(\d+)/(\d+)\] (.*)$")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "%d:%02d:%02d" % (h, m, s) if h else "%d:%02d" % (m, s)


class ProgressPrinter:
    """A ``printer`` for ``run_plan``: job lines ``[n/N] …`` gain ``elapsed`` and ``ETA``; other lines pass."""

    def __init__(self, total: int, out: Optional[Callable[[str], None]] = None,
                 tty: Optional[bool] = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.clock = clock
        self.start = clock()
        self.finished = 0
        self.tty = sys.stdout.isatty() if tty is None else tty
        self._console: Any = None
        self._live: Any = None
        self.devices: Dict[str, Dict[str, Any]] = {}
        if self.tty and out is None:
            from rich.console import Console

            self._console = Console(highlight=False)
        self.out = out or print

    def table(self) -> Any:
        """The live device table (rich): device, current job and its elapsed time, jobs done, last outcome."""
        from rich.table import Table

        t = Table(title="edgebench — %d of %d job(s) done, %s elapsed%s" % (
            self.finished, self.total, _clock(self.clock() - self.start),
            ", about %s left" % _clock(self.eta_s()) if self.eta_s() is not None else ""), title_justify="left")
        for col in ("device", "now running", "for", "done", "last"):
            t.add_column(col)
        for name, d in sorted(self.devices.items()):
            t.add_row(name, d.get("job") or "—", _clock(self.clock() - d["since"]) if d.get("job") else "",
                      str(d.get("done", 0)), d.get("last") or "")
        return t

    def _track(self, rest: str, done: bool) -> None:
        device, _, job = rest.partition("  ")
        entry = self.devices.setdefault(device, {"done": 0})
        if done:
            entry.update(job=None, done=entry.get("done", 0) + 1, last=rest[len(device):].strip()[:60])
        else:
            entry.update(job=job.rstrip(" …"), since=self.clock())
        if self._console is not None:
            if self._live is None:
                from rich.live import Live

                self._live = Live(self.table(), console=self._console, refresh_per_second=2, transient=True,
                                  get_renderable=self.table)
                self._live.start()

    def close(self) -> None:
        """Stop the live table (the finished lines stay on the terminal)."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def eta_s(self) -> Optional[float]:
        """Seconds left at the run's pace so far; None before the first job finishes."""
        if not self.finished:
            return None
        return (self.clock() - self.start) / self.finished * (self.total - self.finished)

    def handle(self, event: Any) -> None:
        """A subscriber of the runner's events (bench.run.events): a job's start, wait and end update its device's row
        and print its line with the elapsed time and ETA; any other event prints as its line."""
        from .events import JobEvent, JobFinished, JobNotSaved

        if not isinstance(event, JobEvent):
            if event.line():  # run started/finished, ceilings: records for other subscribers, no terminal line
                self._emit(event.line(), None)
            return
        rest = event.line().split("] ", 1)[1]
        self._job(event.n, event.total, rest, isinstance(event, (JobFinished, JobNotSaved)))

    def __call__(self, line: str) -> None:
        """The same for a printed line ``[n/N] …`` (a printer's interface: older callers, tests)."""
        m = _JOB.match(line)
        if not m:
            self._emit(line, None)
            return
        self._job(int(m.group(1)), int(m.group(2)), m.group(3), not line.rstrip().endswith("…"))

    def _job(self, n: int, total: int, rest: str, done: bool) -> None:
        if done:
            self.finished += 1
        self._track(rest, done)
        elapsed = self.clock() - self.start
        eta = self.eta_s()
        tag = "[%s/%s %s%s]" % (n, total, _clock(elapsed),
                                " ETA %s" % _clock(eta) if eta is not None and self.finished < self.total else "")
        self._emit("%s %s" % (tag, rest), rest if done else None)

    def _emit(self, text: str, outcome: Optional[str]) -> None:
        if self._console is None:
            self.out(text)
            return
        from rich.text import Text

        style = None
        if outcome is not None:
            style = ("red" if " ERROR" in outcome or "NOT SAVED" in outcome else
                     "yellow" if "UNAVAILABLE" in outcome or "INVALID" in outcome else "green")
        self._console.print(Text(text, style=style), soft_wrap=True)
