"""ADB transport: an Android phone over USB or TCP (adb over Wi-Fi), through the real ``adb`` client
(``adbclient.py``), with a deadline on every call.

Everything on the phone runs through its ``/system/bin/sh`` (mksh) and toybox, so the helpers here are
POSIX sh (no Python needed: native mode works on a stock phone). Commands run with
``setsid -w sh -c 'echo $$ > agent.pid; exec "$@"'``: in their own session and process group, whose
id is in ``agent.pid`` beside them; a timeout or an abort kills that group (``kill -9 -PGID``, then waits
until it is gone). Files go with ``adb push``/``adb pull`` (sync protocol): several files in one push to
a private staging folder, then renamed into place (concurrent harnesses never see half a file).

Deadlines (seconds; options in devices.yaml): ``connect_timeout_s`` (10) for connecting and the
authorization state; every helper call ``op_timeout_s`` (60); a transfer of n bytes ``op_timeout_s +
n / min_transfer_rate_Bps`` (100,000 B/s); ``exec`` its ``timeout_s``, plus ``KILL_BUDGET_S`` to kill.
"""

from __future__ import annotations

import os
import posixpath
import secrets
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .adbclient import DEFAULT_SERVER_PORT, AdbCall, AdbClient, is_link_error
from .base import ExecResult, Transport, TransportError, mkdir_command, q

DEFAULT_WORKDIR = "/data/local/tmp/edgebench"
DEFAULT_MIN_RATE_BPS = 100_000.0
KILL_BUDGET_S = 10.0
#: Every shell command ends by printing its exit status after this mark on stderr: adb 1.0.41 exits 0 with
#: no output when the link drops under ``adb shell`` (no shell-v2 exit packet), so a missing mark means
#: the link was lost, not success.
EXIT_MARK = "edgebench-exit-status="
ABORT_BUDGET_S = 5.0

#: Run "$@" as the leader of a new session and process group, its id in ./agent.pid (toybox/util-linux setsid;
#: -w: when the shell is already a group leader setsid forks, and waits, passing the exit status on).
SETSID_SH = "setsid -w sh -c 'echo $$ > agent.pid; exec \"$@\"' edgebench"
#: Kill the group named in the file $1 and wait (5 s) until it is gone: exit 0 when it is (or never was).
KILL_SH = ('pg=$(cat "$1" 2>/dev/null) || exit 0; [ -n "$pg" ] || exit 0; kill -9 -"$pg" 2>/dev/null; i=0; '
           'while kill -0 -"$pg" 2>/dev/null; do i=$((i+1)); [ $i -gt 50 ] && exit 1; sleep 0.1; done; exit 0')
#: sha256 of each existing regular file among "$@" (toybox sha256sum): "<hash>  <path>" lines.
HASHES_SH = 'for f in "$@"; do [ -f "$f" ] && sha256sum "$f"; done; exit 0'




def sh_script(script: str, args: List[str]) -> str:
    """A command line running ``script`` with positional ``args`` in the phone's sh."""
    return "sh -c %s edgebench %s" % (q(script), " ".join(q(a) for a in args))


def signal_of(returncode: Optional[int]) -> Tuple[Optional[int], Optional[str]]:
    """adbd reports a death by signal N as exit status 128+N (as shells do): (-N, "SIGx") for those."""
    if returncode is None or returncode <= 128 or returncode > 128 + 64:
        return returncode, None
    try:
        return -(returncode - 128), signal.Signals(returncode - 128).name
    except ValueError:
        return returncode, None


class AdbTransport(Transport):
    holds_stdin = False
    #: The agent's device lock (``--lock``) unless devices.yaml names one: /tmp, where the per-user lock
    #: lives, does not exist on Android; this is beside the work dir, in the folder every adb shell can write.
    agent_lock = "/data/local/tmp/edgebench-device.lock"
    #: check_workdir: Android's /data is ``system:system`` 0771 (AID_SYSTEM 1000) and /data/local/tmp
    #: ``shell:shell`` 0771 (AID_SHELL 2000, a group only the shell user is in).
    trusted_owner_uids = (1000,)
    trusted_group_gids = (1000, 2000)

    def __init__(self, device: Any, connect_timeout_s: float = 10.0, op_timeout_s: float = 60.0,
                 min_rate_Bps: float = DEFAULT_MIN_RATE_BPS) -> None:
        """``*_s`` in seconds, ``min_rate_Bps`` in bytes/s."""
        self.device = device
        self.serial = str(device.serial)
        self.op_timeout_s = op_timeout_s
        self.min_rate_Bps = min_rate_Bps
        opts = device.options or {}
        self.client = AdbClient(device.name, self.serial, int(opts.get("adb_server_port") or DEFAULT_SERVER_PORT))
        self._running: Optional[str] = None
        self.client.connect(connect_timeout_s)
        workdir = str(device.workdir)
        if not workdir.startswith("/"):
            raise TransportError("device %r: workdir %r must be an absolute path on the phone (default %s)"
                                 % (device.name, workdir, DEFAULT_WORKDIR))
        super().__init__(workdir.rstrip("/") or "/")
        self._mkdirs([self.root])

    # -- commands -----------------------------------------------------------------------------
    def _shell(self, command: str, timeout_s: float) -> AdbCall:
        """``adb shell`` with the exit mark; ``returncode`` from the mark, ``lost`` set when it is missing."""
        res = self.client.call(["shell", "-T", "%s\necho %s$? >&2" % (command, EXIT_MARK)], timeout_s)
        head, mark, tail = res.stderr.rpartition(EXIT_MARK.encode())
        if mark and tail.strip().isdigit():
            res.stderr, res.returncode = head, int(tail.strip())
        elif not res.timed_out and not is_link_error(res):
            res.lost = True
        return res

    def _run(self, command: str, what: str, budget_s: Optional[float] = None) -> AdbCall:
        """A helper command within ``budget_s`` (default ``op_timeout_s``); its exit status is returned, a
        dead link or a deadline raise TransportError naming the phone."""
        budget = budget_s or self.op_timeout_s
        res = self._shell(command, budget)
        if res.timed_out:
            raise TransportError("device %r: %s did not finish within %.0f s over adb: the phone stopped answering "
                                 "(cable, Wi-Fi, or a sleeping phone). Check the link; on a slow one raise "
                                 "options.op_timeout_s" % (self.device.name, what, budget))
        if is_link_error(res) or res.lost:
            raise self._link_error(what, res)
        return res

    def _link_error(self, what: str, res: AdbCall) -> TransportError:
        """One line for a failed adb call; the next operation connects again first."""
        try:
            return self._describe_link_error(what, res)
        finally:
            self.client.stale = True

    def _describe_link_error(self, what: str, res: AdbCall) -> TransportError:
        from .adbclient import state_problem

        lines = [ln for ln in res.all_text.splitlines() if "error" in ln] or ["adb exit %s" % res.returncode]
        text = lines[0]
        problem = (self.client.state_problem() if res.lost else None) or state_problem(
            self.device.name, self.serial, text, self.client.key_path)
        if res.lost and problem and "not ready" not in problem:
            return TransportError("%s (the link dropped during %s)" % (problem, what))
        if res.lost:
            return TransportError("device %r: the adb link dropped during %s (no exit status came back); the next "
                                  "job tries again" % (self.device.name, what))
        return TransportError("%s (during %s)" % (problem, what) if problem and "not ready" not in problem else
                              "device %r: adb failed during %s: %s" % (self.device.name, what, text))

    def exec(self, argv: List[str], timeout_s: float, cwd: Optional[str] = None,
             env: Optional[Dict[str, str]] = None) -> ExecResult:
        cwd = cwd or self.root
        envs = " ".join("%s=%s" % (k, q(v)) for k, v in (env or {}).items())
        command = "cd -- %s && %s%s %s" % (q(cwd), "env %s " % envs if envs else "", SETSID_SH,
                                                 " ".join(q(a) for a in argv))
        self._running = cwd
        try:
            res = self._shell(command, timeout_s)
        finally:
            self._running = None
        if res.timed_out:
            killed = self._kill_group(cwd, KILL_BUDGET_S)
            return ExecResult(None, res.stdout.decode("utf-8", "replace"), res.stderr.decode("utf-8", "replace"),
                              True, res.duration_s, kill_confirmed=killed)
        if is_link_error(res) or res.lost:
            why = self.client.state_problem() or (res.err_text.splitlines() or ["no exit status came back"])[0]
            self.client.stale = True
            killed = self._kill_group(cwd, KILL_BUDGET_S)
            raise TransportError("device %r: the adb link failed while %s was running (%s); %s" % (
                self.device.name, posixpath.basename(argv[0]), why,
                "it was killed on the phone" if killed else
                "the phone could not be reached to kill it: the agent ends itself at its own deadline"))
        rc, sig = signal_of(res.returncode)
        return ExecResult(rc, res.stdout.decode("utf-8", "replace"), res.stderr.decode("utf-8", "replace"), False,
                          res.duration_s, signal=sig)

    def _kill_group(self, cwd: str, budget_s: float) -> bool:
        """Kill the group in cwd/agent.pid; True when it is gone, False when that cannot be confirmed."""
        try:
            res = self._shell(sh_script(KILL_SH, [posixpath.join(cwd, "agent.pid")]), budget_s)
        except Exception:
            return False
        return not res.timed_out and res.returncode == 0

    def abort(self) -> None:
        self.client.kill_all()
        cwd = self._running
        if cwd:
            self._kill_group(cwd, ABORT_BUDGET_S)

    # -- files ----------------------------------------------------------------------------------
    def file_sha256s(self, remotes: List[str]) -> Dict[str, Optional[str]]:
        out: Dict[str, Optional[str]] = {r: None for r in remotes}
        if not remotes:
            return out
        res = self._run(sh_script(HASHES_SH, remotes), "hashing %d file(s)" % len(remotes))
        for line in res.stdout.decode("utf-8", "replace").splitlines():
            digest, _, path = line.partition("  ")
            if path in out and len(digest) == 64:
                out[path] = digest
        return out

    def _mkdirs(self, dirs: List[str]) -> None:
        command = mkdir_command(dirs)
        if command is None:
            return
        res = self._run(command[0], "creating %s" % command[1])
        if res.returncode != 0:
            first = command[1]
            why = res.err_text[-300:] or "exit status %s" % res.returncode
            raise TransportError("device %r: cannot create %s on the phone: %s; use a workdir under /data/local/tmp "
                                 "(writable by adb's shell user)" % (self.device.name, first, why))

    def _budget(self, nbytes: int) -> float:
        return self.op_timeout_s + nbytes / self.min_rate_Bps

    def push(self, local: Path, remote: str) -> int:
        return self.push_many([(local, remote)])

    def push_many(self, files: List[Tuple[Path, str]]) -> int:
        """One ``adb push`` of all files into a private staging folder on the phone, then one shell command
        renaming them into place (parents created). Returns bytes sent."""
        if not files:
            return 0
        stage = self.join(".incoming", "%d-%s" % (os.getpid(), secrets.token_hex(4)))
        self._mkdirs([stage] + [posixpath.dirname(r) for _, r in files])
        size = 0
        with tempfile.TemporaryDirectory(prefix="edgebench-adb-") as tmp:
            names = []
            for i, (local, _) in enumerate(files):
                link = os.path.join(tmp, str(i))
                try:
                    size += os.path.getsize(local)
                    try:
                        os.link(local, link)
                    except OSError:
                        shutil.copyfile(local, link)
                except OSError as exc:
                    raise TransportError("cannot read %s on this host to push it to device %r: %s"
                                         % (local, self.device.name, exc))
                names.append(link)
            try:
                res = self.client.call(["push"] + names + [stage + "/"], self._budget(size))
                if res.timed_out:
                    raise TransportError(
                        "device %r: pushing %d file(s), %d bytes did not finish within %.0f s (op_timeout_s %g + "
                        "bytes at min_transfer_rate_Bps %g): the link is stalled or too slow; check it or raise "
                        "those options" % (self.device.name, len(files), size, self._budget(size),
                                           self.op_timeout_s, self.min_rate_Bps))
                if res.returncode != 0:
                    text = res.err_text or res.stdout.decode("utf-8", "replace").strip()
                    if "no space" in text.lower():
                        raise TransportError("device %r: no space left on the phone under %s (pushing %d bytes); free "
                                             "space there" % (self.device.name, self.root, size))
                    if is_link_error(res):
                        raise self._link_error("pushing %d file(s)" % len(files), res)
                    raise TransportError("device %r: adb push failed: %s" % (self.device.name, text[-300:]))
                moves = " && ".join("mv -f -- %s %s" % (q(stage + "/" + str(i)), q(remote))
                                    for i, (_, remote) in enumerate(files))
                res = self._run(moves, "moving pushed files into place", self._budget(0))
                if res.returncode != 0:
                    raise TransportError("device %r: cannot move pushed files into place: %s"
                                         % (self.device.name, res.err_text[-300:]))
            finally:
                try:
                    self._run("rm -rf -- %s" % q(stage), "removing the staging folder")
                except TransportError:
                    pass
        return size

    def pull(self, remote: str) -> bytes:
        with tempfile.TemporaryDirectory(prefix="edgebench-adb-") as tmp:
            dest = os.path.join(tmp, "pulled")
            res = self.client.call(["pull", remote, dest], self.op_timeout_s)
            if res.timed_out:
                raise TransportError("device %r: pulling %s did not finish within %.0f s; check the link or raise "
                                     "options.op_timeout_s" % (self.device.name, remote, self.op_timeout_s))
            text = res.all_text
            if res.returncode != 0 and ("does not exist" in text or "No such file" in text):
                raise FileNotFoundError(remote)
            if res.returncode != 0:
                if is_link_error(res):
                    raise self._link_error("pulling %s" % remote, res)
                raise TransportError("device %r: adb pull %s failed: %s" % (self.device.name, remote, text[-300:]))
            return Path(dest).read_bytes()

    def write_text(self, remote: str, text: str) -> None:
        with tempfile.TemporaryDirectory(prefix="edgebench-adb-") as tmp:
            local = Path(tmp) / "text"
            local.write_text(text)
            self.push_many([(local, remote)])

    def remove_tree(self, remote: str) -> None:
        if not remote.startswith(self.root + "/"):
            raise TransportError("refusing to delete %s outside the harness directory %s" % (remote, self.root))
        self._run("rm -rf -- %s" % q(remote), "removing %s" % remote)

    def close(self) -> None:
        self.client.kill_all()
