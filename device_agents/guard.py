"""Keeping the device clean: a job deadline, exit when the host goes away, and a device-wide lock.

- ``deadline``: past it the agent kills its own process group (itself and any sensor helpers).
- ``watch_stdin``: the host keeps the agent's standard input open (the SSH channel); end-of-file
  means the host or the link is gone, and the agent ends the same way.
- ``watch_parent``: the local host's agent has no channel to watch; it ends when its parent dies.
- ``device_lock``: one measurement at a time on a device (fcntl lock file; per user, or a shared lab lock).
"""

from __future__ import annotations

import errno
import os
import re
import signal
import stat
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


class LockUnsafe(Exception):
    """The lock file or its folder could be tampered with by another user; the message says how to fix it."""


class DeviceBusy(TimeoutError):
    """Another measurement held the device lock for the whole allowed wait; ``holder`` says who."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


def user_lock_path(base: str = "/tmp") -> str:
    """The per-user lock: ``/tmp/edgebench-<uid>/device.lock`` — one fixed path per user, whatever the
    environment (an SSH login, cron and a container of the same user must find the same lock); its
    folder is created 0700 and must be ours and private. ``base`` is for tests only."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    folder = os.path.join(base, "edgebench-%d" % uid)
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(folder)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise LockUnsafe("lock folder %s is not a plain directory (a symbolic link or a file); another user may "
                         "have planted it: remove it and retry" % folder)
    if st.st_uid != uid or st.st_mode & 0o077:
        raise LockUnsafe("lock folder %s belongs to uid %d with mode %o; it must be yours (uid %d) and private "
                         "(0700): remove it and retry" % (folder, st.st_uid, stat.S_IMODE(st.st_mode), uid))
    return os.path.join(folder, "device.lock")


def _check_shared_folder(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    st = os.lstat(folder)
    if stat.S_ISLNK(st.st_mode):
        raise LockUnsafe("the shared lock's folder %s is a symbolic link; name the real folder" % folder)
    if st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX:
        raise LockUnsafe("the shared lock's folder %s is writable by every user without the sticky bit (mode %o): "
                         "anyone could replace the lock; use a folder only the lab's group can write (chmod 2775)"
                         % (folder, stat.S_IMODE(st.st_mode)))


def _whoami() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, AttributeError):
        return os.environ.get("USER", "?")


#: Seconds a waiter gives a new holder to write its record (it does so just after it locks) before it calls it
#: unknown.
HOLDER_GRACE_S = 1.0
UNKNOWN_HOLDER = "an unknown process (it did not record itself)"


def _pid_runs(pid: int) -> bool:
    """A process ``pid`` exists on this machine (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class device_lock:
    """Context manager: an exclusive lock, one measurement at a time on this device.

    ``spec`` is ``"user"`` (the per-user lock, :func:`user_lock_path`), a path (a shared lab lock named
    in the inventory; its folder must not be writable by everyone without the sticky bit) or None (no
    lock). The file is opened without following symbolic links; one that another user created is
    locked through a read-only descriptor (flock needs no write access). The wait is bounded by
    ``timeout_s`` (seconds); past it :class:`DeviceBusy` names the holder (pid, user, since when), which
    the holder writes into the file. ``waited_s`` says how long another measurement held the device.
    """

    def __init__(self, spec: Optional[str], timeout_s: float = 3600.0, user_base: str = "/tmp",
                 on_wait: Optional[Any] = None) -> None:
        self.spec = spec
        #: Called once, with the holder's description, when the lock is found held (the wait begins).
        self.on_wait = on_wait
        self.holder: Optional[str] = None
        self.user_base = user_base  # tests only: where the per-user lock folder lives
        self.path: Optional[str] = None
        self.timeout_s = timeout_s
        self.waited_s = 0.0
        self._fd: Optional[int] = None
        self._recorded = False

    def __enter__(self) -> "device_lock":
        if not self.spec:
            return self
        try:
            import fcntl
        except ImportError:  # Windows: no lock
            return self
        if self.spec == "user":
            self.path = user_lock_path(self.user_base)
        else:
            self.path = self.spec
            _check_shared_folder(self.path)
        nofollow = getattr(os, "O_NOFOLLOW", 0)
        writable = True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | nofollow, 0o664 if self.spec != "user" else 0o600)
        except PermissionError:
            fd = os.open(self.path, os.O_RDONLY | nofollow)
            writable = False
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise LockUnsafe("lock file %s is a symbolic link; refusing to follow it (remove it)" % self.path)
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise LockUnsafe("lock file %s is not a regular file; remove it" % self.path)
        self._fd = fd
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                # the holder writes its record just after it locks: give it HOLDER_GRACE_S to do so before
                # calling it unknown (a record whose pid is gone is a dead holder's, not this one's)
                if self.holder is None:
                    recorded = self._recorded_holder()
                    if recorded or time.monotonic() - start >= HOLDER_GRACE_S:
                        self.holder = recorded or UNKNOWN_HOLDER
                        if self.on_wait is not None:
                            try:
                                self.on_wait(self.holder)
                            except Exception:  # telling the host is an extra: never at the cost of the job
                                pass
                if time.monotonic() - start > self.timeout_s:
                    holder = self._recorded_holder() or UNKNOWN_HOLDER
                    self.__exit__()
                    raise DeviceBusy("device busy: lock %s is held by %s; waited %.0f s. Another measurement runs "
                                     "on this device: wait for it, or raise --job-timeout"
                                     % (self.path, holder, self.timeout_s), holder)
                time.sleep(0.2)
        self.waited_s = time.monotonic() - start
        if writable:
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, ("pid %d, user %s, since %s" % (
                    os.getpid(), _whoami(), time.strftime("%Y-%m-%dT%H:%M:%S%z"))).encode(), 0)
                self._recorded = True
            except OSError:
                pass
        return self

    def _recorded_holder(self) -> str:
        """The holder's record in the file, or "" when there is none yet or its pid no longer runs here."""
        try:
            text = os.pread(self._fd, 256, 0).decode("utf-8", "replace").strip() if self._fd is not None else ""
        except OSError:
            return ""
        match = re.match(r"pid (\d+)", text)
        if match and not _pid_runs(int(match.group(1))):
            return ""
        return text

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            if self._recorded:  # the next holder's record is the only one a waiter can read
                try:
                    os.ftruncate(self._fd, 0)
                except OSError:
                    pass
                self._recorded = False
            os.close(self._fd)
            self._fd = None


#: The parent this process must have (a child of the warm agent sets the agent's pid: if the agent died before the
#: watch started, the parent has already changed and the job ends at once instead of watching its new parent).
EXPECTED_PARENT: Optional[int] = None


def start_parent_watch(interval_s: float = 0.5) -> None:
    """End the agent when its parent (the local harness, or the warm agent) dies: the parent pid changes on
    re-parenting."""
    parent = EXPECTED_PARENT if EXPECTED_PARENT is not None else os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        _die(129)

    threading.Thread(target=watch, name="edgebench-parent-watch", daemon=True).start()
