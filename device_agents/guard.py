"""Keeping the device clean: a job deadline, exit when the host goes away, and a device-wide lock.

- ``deadline``: past it the agent kills its own process group (itself and any sensor helpers).
- ``watch_stdin``: the host keeps the agent's standard input open (the SSH channel); end-of-file
  means the host or the link is gone, and the agent ends the same way.
- ``device_lock``: one measurement at a time on a device, whoever started it (fcntl lock file).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any, Optional


def _die(code: int) -> None:
    try:
        sys.stderr.write("edgebench agent: ending (%s)\n" % ("deadline passed" if code == 124 else "host went away"))
        sys.stderr.flush()
    except Exception:
        pass
    try:
        if os.getpgrp() == os.getpid():  # we lead our own group (the host started us with setsid)
            os.killpg(os.getpgrp(), signal.SIGKILL)
    except (AttributeError, OSError):
        pass
    os._exit(code)


def start_deadline(seconds: Optional[float]) -> None:
    if seconds and seconds > 0:
        t = threading.Timer(seconds, _die, args=(124,))
        t.daemon = True
        t.start()


def start_stdin_watch() -> None:
    def watch() -> None:
        try:  # the raw descriptor: no buffered-reader lock held at interpreter shutdown
            fd = sys.stdin.fileno()
            while os.read(fd, 4096):
                pass
        except Exception:
            pass
        _die(129)

    threading.Thread(target=watch, name="edgebench-stdin-watch", daemon=True).start()


class device_lock:
    """Context manager: an exclusive lock on ``path``, waiting at most ``timeout_s``. ``waited_s`` says
    how long another measurement held the device."""

    def __init__(self, path: Optional[str], timeout_s: float = 3600.0) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self.waited_s = 0.0
        self._fh: Any = None

    def __enter__(self) -> "device_lock":
        if not self.path:
            return self
        try:
            import fcntl
        except ImportError:  # Windows: no lock
            return self
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._fh = open(self.path, "a+")
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() - start > self.timeout_s:
                    raise TimeoutError("device lock %s held by another measurement for over %.0f s"
                                       % (self.path, self.timeout_s))
                time.sleep(0.2)
        self.waited_s = time.monotonic() - start
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
