"""The real ``adb`` client (Android platform-tools; Debian's ``adb`` package, 1.0.41) driven as a
subprocess, with a deadline on every call: with the link down ``adb shell`` hangs while ``adb devices``
still says ``device``, so nothing here waits without a bound. Each call runs in its own process group
and is killed (SIGKILL, whole group) at its deadline.

The adb server is the one on ``server_port`` (``adb -P PORT``; default 5037, adb's own): started with
``adb start-server`` if none answers there. Its key (``$HOME/.android/adbkey``) is the one the phone
is asked to authorize.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import List, Optional

from .base import TransportError

DEFAULT_SERVER_PORT = 5037


@dataclass
class AdbCall:
    """One finished ``adb`` invocation: exit status, output (bytes), whether its deadline killed it,
    and its host wall time in seconds."""

    returncode: Optional[int]
    stdout: bytes
    stderr: bytes
    timed_out: bool
    duration_s: float
    #: Set by the caller when the command's exit status never came back (the link dropped under it).
    lost: bool = False

    @property
    def err_text(self) -> str:
        return self.stderr.decode("utf-8", "replace").strip()

    @property
    def all_text(self) -> str:
        """stderr then stdout (adb prints some of its own errors on stdout)."""
        return (self.stderr + b"\n" + self.stdout).decode("utf-8", "replace").strip()


#: adb's own failures (not the remote command's): the device or the link, never the command's output.
_ADB_ERROR = re.compile(r"^(adb: )?error: (device |closed|no devices|protocol fault|connect|failed to|"
                        r"insufficient permissions|more than one)", re.M)


def is_link_error(call: AdbCall) -> bool:
    """True when a non-zero exit came from adb itself (device gone, offline, closed), not the command."""
    return call.returncode not in (0, None) and bool(_ADB_ERROR.search(call.all_text))


def state_problem(device: str, serial: str, text: str, key_path: str) -> Optional[str]:
    """One line with the fix for an adb state message (``get-state``/``devices`` output), or None when the
    device is ready. ``key_path``: the host key the phone must accept."""
    low = text.lower()
    where = "device %r (adb serial %s)" % (device, serial)
    if "unauthorized" in low:
        return ("%s is unauthorized: unlock the phone and accept the 'Allow USB debugging?' RSA prompt (tick "
                "'Always allow'); the host key is %s" % (where, key_path))
    if "no permissions" in low or "insufficient permissions" in low:
        return ("%s: no permissions to open the USB device: add a udev rule (e.g. /etc/udev/rules.d/51-android.rules: "
                "SUBSYSTEM==\"usb\", ATTR{idVendor}==\"18d1\", MODE=\"0660\", GROUP=\"plugdev\"), add your user to "
                "plugdev, then unplug and replug the phone" % where)
    if "offline" in low:
        return ("%s is offline: replug the cable (USB) or check that the phone is on and on the network "
                "(Wi-Fi), then run the job again; `adb reconnect` resets a stuck link" % where)
    if "not found" in low or "no devices" in low:
        fix = ("check that the phone is on, on the network and has wireless debugging enabled (edgebench runs "
               "`adb connect %s` itself)" % serial if ":" in serial else
               "check the cable, that USB debugging is on, and the serial in devices.yaml (`adb devices` lists "
               "attached ones)")
        return "%s not found by adb: %s" % (where, fix)
    if low.strip() == "device":
        return None
    return "%s is not ready (adb says: %s)" % (where, text.strip()[-200:] or "nothing")


class AdbClient:
    """``adb -P <server_port> [-s <serial>] ...`` with a deadline per call."""

    def __init__(self, device_name: str, serial: str, server_port: int = DEFAULT_SERVER_PORT,
                 adb: Optional[str] = None) -> None:
        self.device_name = device_name
        self.serial = serial
        self.server_port = int(server_port)
        found = adb or shutil.which("adb")
        if not found:
            raise TransportError("device %r: the `adb` client is not installed on this host; install it "
                                 "(Debian/Ubuntu: apt-get install adb; or Android platform-tools)" % device_name)
        self.adb = found
        self._procs: List[subprocess.Popen] = []
        #: Set after a lost link: the next device call first connects again (the adb server may have been
        #: restarted, and a host:port device must be `adb connect`ed to it again).
        self.stale = False
        self._connecting = False
        self._connect_timeout_s = 10.0

    @property
    def key_path(self) -> str:
        return os.path.join(os.path.expanduser("~"), ".android", "adbkey.pub")

    def call(self, args: List[str], timeout_s: float, device: bool = True) -> AdbCall:
        """``adb`` with ``args`` (``-s serial`` first when ``device``), killed with its group at ``timeout_s``."""
        if device and self.stale and not self._connecting:
            self.connect(self._connect_timeout_s)
        argv = [self.adb, "-P", str(self.server_port)] + (["-s", self.serial] if device else []) + list(args)
        env = {k: v for k, v in os.environ.items() if k not in ("ANDROID_SERIAL", "ADB_SERVER_SOCKET")}
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, env=env)
        self._procs.append(proc)
        try:
            out, err = proc.communicate(timeout=max(0.05, timeout_s))
            timed_out = False
        except subprocess.TimeoutExpired:
            kill_group(proc)
            out, err = proc.communicate()
            timed_out = True
        except BaseException:
            kill_group(proc)
            proc.communicate()
            raise
        finally:
            self._procs.remove(proc)
        return AdbCall(None if timed_out else proc.returncode, out, err, timed_out, time.perf_counter() - start)

    def kill_all(self) -> None:
        """Kill every adb client process this object is running now (from another thread)."""
        for proc in list(self._procs):
            kill_group(proc)

    def state_problem(self, timeout_s: float = 5.0) -> Optional[str]:
        """One line with the fix when the device is not in state ``device`` now (None when it is)."""
        res = self.call(["get-state"], timeout_s)
        if res.timed_out:
            return "device %r (adb serial %s): `adb get-state` did not answer within %.0f s" % (
                self.device_name, self.serial, timeout_s)
        return state_problem(self.device_name, self.serial, res.all_text, self.key_path)

    def ensure_server(self, timeout_s: float) -> None:
        res = self.call(["start-server"], timeout_s, device=False)
        if res.timed_out or res.returncode != 0:
            raise TransportError("device %r: cannot start the adb server on port %d (%s); check the `adb` install "
                                 "or options.adb_server_port" % (self.device_name, self.server_port,
                                                                 res.err_text[-200:] or "timed out"))

    def connect(self, timeout_s: float) -> None:
        """Ready the device: ``adb connect`` for a host:port serial, then wait (up to ``timeout_s``) for
        state ``device``; raises TransportError with one line and the fix otherwise."""
        self._connect_timeout_s = timeout_s
        self._connecting = True
        try:
            self._connect(timeout_s)
        finally:
            self._connecting = False
        self.stale = False

    def _connect(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        self.ensure_server(timeout_s)
        if ":" in self.serial:
            res = self.call(["connect", self.serial], max(0.1, deadline - time.monotonic()), device=False)
            text = (res.stdout + res.stderr).decode("utf-8", "replace").strip()
            if res.timed_out or "cannot connect" in text or "failed to connect" in text:
                raise TransportError("device %r: `adb connect %s` failed (%s): check that the phone is on, on the "
                                     "network, and that wireless debugging (or `adb tcpip`) is enabled"
                                     % (self.device_name, self.serial, text[-200:] or "no answer in time"))
        problem = "device %r did not answer adb in time" % self.device_name
        redialled = False
        while time.monotonic() < deadline:
            res = self.call(["get-state"], max(0.1, deadline - time.monotonic()))
            text = (res.stdout + res.stderr).decode("utf-8", "replace")
            problem = "" if res.timed_out else state_problem(self.device_name, self.serial, text, self.key_path) or ""
            if res.timed_out:
                problem = "device %r (adb serial %s): `adb get-state` did not answer in time" % (
                    self.device_name, self.serial)
            if not problem:
                return
            if "offline" in text and ":" in self.serial and not redialled:
                # a network device the server still lists from before (phone rebooted, peer restarted):
                # `adb connect` alone says "already connected"; drop it and dial again, once
                redialled = True
                self.call(["disconnect", self.serial], max(0.1, deadline - time.monotonic()), device=False)
                self.call(["connect", self.serial], max(0.1, deadline - time.monotonic()), device=False)
                continue
            if "authoriz" not in text and "connecting" not in text:
                break  # unauthorized and connecting may still change (the RSA prompt); the others will not
            time.sleep(0.1)
        raise TransportError(problem)


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
