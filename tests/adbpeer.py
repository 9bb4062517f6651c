"""A device-side ADB peer for tests: the phone end of the ADB protocol over TCP on loopback, so that the
real ``adb`` client and server (Debian's ``adb``, 1.0.41) can ``adb connect`` to it and push, pull and run
shell commands end to end. No Android runs here; this is a STAND-IN for ``adbd``.

Protocol subset (the one ../shared/TESTBED.md lists; message layout from AOSP's
``packages/modules/adb/protocol.txt``): CNXN; AUTH (the client's RSA signature of our token is verified
against the authorized keys, or its RSAPUBLICKEY is accepted as a user tapping "Allow" would, or never:
an unauthorized phone); OPEN/OKAY/WRTE/CLSE with one WRTE in flight per stream until its OKAY; services
``shell:`` (v1), ``shell,v2,...:`` (separate stdout/stderr and the exit code), ``exec:``; ``sync:`` v1
(STAT/LIST/SEND/RECV/QUIT).

Shell commands run in an Android-like tree (``AndroidTree``): a chroot whose ``/system/bin`` holds the
real ``mksh`` (Android's shell) and ``toybox`` (Android's tools) from Debian packages, a fake ``getprop``
and ``dumpsys``, ``/data/local/tmp``, and a ``/sys`` with a battery fuel gauge whose current follows
the CPU load of the processes in the tree (sign and unit as the SM8250 fixture: µA, positive while
discharging), thermal zones (names from the MSM8998 fixture) and two cpufreq clusters. The tree's
commands are host (x86-64) processes: a host-side stand-in for the phone's CPU.

Run as ``python tests/adbpeer.py --root DIR --port N [--auth accept|verify|deny] [--keys FILE]`` inside
a private mount namespace (``unshare --mount --propagation private --fork --kill-child``), which
``start_peer`` does; it prints ``listening`` when ready.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
import contextlib
from typing import Dict, Iterator, List, Optional, Tuple

A_CNXN, A_AUTH, A_OPEN, A_OKAY, A_CLSE, A_WRTE = (struct.unpack("<I", c)[0] for c in
                                                    (b"CNXN", b"AUTH", b"OPEN", b"OKAY", b"CLSE", b"WRTE"))
A_VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024
AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
SHA1_DIGEST_INFO = bytes.fromhex("3021300906052b0e03021a05000414")
SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN = 0, 1, 2, 3, 4
SYNC_CHUNK = 64 * 1024
PROPS = {"ro.product.model": "edgebench stand-in (SM8250 layout)", "ro.product.manufacturer": "edgebench",
         "ro.soc.model": "SM8250", "ro.soc.manufacturer": "QTI", "ro.board.platform": "kona",
         "ro.build.version.release": "13", "ro.build.version.sdk": "33", "ro.product.cpu.abi": "arm64-v8a"}
THERMAL_TYPES = ["battery", "xo_therm", "tsens_tz_sensor0", "tsens_tz_sensor1"]  # MSM8998 fixture names
CLUSTERS_KHZ = [1804800, 2419200]  # cpu0: little, cpu1: big (the host has 2 cores)
ANDROID_PATH = "/system/bin"
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"
#: adbd on a production phone runs the shell and file transfers as ``shell``; /data belongs to ``system``.
AID_SHELL, AID_SYSTEM = 2000, 1000
TOYBOX_TOOLS = ("cat", "sha256sum", "mkdir", "mv", "rm", "ls", "setsid", "kill", "taskset", "sleep", "head", "id",
                "stat", "mktemp", "nproc", "chmod", "cp", "echo", "env", "tail", "uname", "true", "false", "date",
                "printf", "test", "grep", "sed", "cut", "wc", "tr", "touch")


# -- the Android-like tree ------------------------------------------------------------------------------
class AndroidTree:
    """The phone's file system under ``root``; ``binds`` are host paths mounted at the same path inside."""

    def __init__(self, root: Path, binds: List[str], shell_uid: int = 2000) -> None:
        self.root = root
        self.binds = binds
        #: The shell's user: ``shell`` (2000) on a production phone, root after ``adb root`` (userdebug builds).
        self.shell_uid = shell_uid

    def build(self) -> None:
        r = self.root
        for d in ("system/bin", "data/local/tmp", "proc", "dev", "sys/class/power_supply/battery"):
            (r / d).mkdir(parents=True, exist_ok=True)
        for d, uid, mode in (("data", AID_SYSTEM, 0o771), ("data/local", 0, 0o751), ("data/local/tmp", AID_SHELL, 0o771)):
            os.chown(r / d, uid, uid)
            (r / d).chmod(mode)
        shutil.copy2("/bin/mksh", r / "system/bin/sh")
        shutil.copy2("/usr/bin/toybox", r / "system/bin/toybox")
        for tool in TOYBOX_TOOLS:
            link = r / "system/bin" / tool
            if not link.exists():
                link.symlink_to("toybox")
        cases = "".join("  %s) echo '%s' ;;\n" % (k, v) for k, v in PROPS.items())
        self._script("getprop", 'case "$1" in\n%s  "") %s ;;\n  *) echo "" ;;\nesac\n' % (
            cases, "; ".join("echo '[%s]: [%s]'" % kv for kv in PROPS.items())))
        self._script("dumpsys", 'case "$1" in\n  battery) s=$(cat /sys/class/power_supply/battery/status)\n'
                     '    usb=false; [ "$s" = Charging ] && usb=true\n'
                     '    echo "Current Battery Service state:"; echo "  AC powered: false"\n'
                     '    echo "  USB powered: $usb"; echo "  status: $s"\n'
                     '    echo "  level: $(cat /sys/class/power_supply/battery/capacity)" ;;\n'
                     '  *) echo "Can\'t find service: $1" >&2; exit 1 ;;\nesac\n')
        bat = r / "sys/class/power_supply/battery"
        for leaf, value in (("status", "Discharging"), ("capacity", "80"), ("temp", "301"), ("type", "Battery"),
                            ("current_now", "%12d" % 300000), ("voltage_now", "3850000")):
            (bat / leaf).write_text(value + "\n")
        for i, kind in enumerate(THERMAL_TYPES):
            z = r / ("sys/class/thermal/thermal_zone%d" % i)
            z.mkdir(parents=True, exist_ok=True)
            (z / "type").write_text(kind + "\n")
            (z / "temp").write_text("%8d\n" % 35000)
        cpu = r / "sys/devices/system/cpu"
        for i, khz in enumerate(CLUSTERS_KHZ):
            f = cpu / ("cpu%d/cpufreq" % i)
            f.mkdir(parents=True, exist_ok=True)
            for leaf in ("cpuinfo_max_freq", "scaling_max_freq", "scaling_cur_freq"):
                (f / leaf).write_text("%d\n" % khz)
            (f / "scaling_governor").write_text("schedutil\n")
        for leaf in ("possible", "present", "online"):
            (cpu / leaf).write_text("0-%d\n" % (len(CLUSTERS_KHZ) - 1))

    def _script(self, name: str, body: str) -> None:
        p = self.root / "system/bin" / name
        p.write_text("#!/system/bin/sh\n" + body)
        p.chmod(0o755)

    def mount(self) -> None:
        """Bind the host's libraries (for mksh, toybox and a Python) and /proc, /dev into the tree; only
        inside this process's private mount namespace."""
        for src in ["/usr", "/lib", "/lib64", "/proc", "/dev", "/etc"] + self.binds:
            if not os.path.exists(src):
                continue
            dst = str(self.root) + src
            os.makedirs(dst, exist_ok=True)
            subprocess.run(["mount", "--rbind", src, dst], check=True)

    def path(self, device_path: str) -> str:
        """The host path of ``device_path``; refuses one that leaves the tree."""
        p = os.path.normpath("/" + device_path.lstrip("/"))
        return str(self.root) + p

    def popen(self, command: str) -> subprocess.Popen:
        env = {"PATH": ANDROID_PATH, "TMPDIR": "/data/local/tmp", "HOME": "/", "ANDROID_ROOT": "/system"}
        user = "--userspec=%d:%d" % (self.shell_uid, self.shell_uid)
        return subprocess.Popen([CHROOT, user, str(self.root), "/system/bin/sh", "-c", command], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)


class Battery(threading.Thread):
    """Every 0.1 s: current_now = idle + load × span (µA, positive = discharging, as the SM8250 fixture's
    inverted-sign gauge), load = CPU time used by the tree's processes / wall time (0..1 per core, summed)."""

    IDLE_UA, SPAN_UA = 300_000, 1_200_000

    def __init__(self, tree: AndroidTree) -> None:
        super().__init__(daemon=True)
        self.tree = tree

    def cpu_ticks(self) -> int:
        total = 0
        root = str(self.tree.root)
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if os.readlink("/proc/%s/root" % pid) != root:
                    continue
                fields = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime + stime
            except (OSError, IndexError, ValueError):
                continue
        return total

    def run(self) -> None:
        hz = os.sysconf("SC_CLK_TCK")
        bat = self.tree.root / "sys/class/power_supply/battery"
        cur = os.open(str(bat / "current_now"), os.O_WRONLY)
        temps = [os.open(str(self.tree.root / ("sys/class/thermal/thermal_zone%d/temp" % i)), os.O_WRONLY)
                 for i in range(len(THERMAL_TYPES))]
        last, t_last, temp_mc = self.cpu_ticks(), time.monotonic(), 35000.0
        while True:
            time.sleep(0.1)
            now, t = self.cpu_ticks(), time.monotonic()
            load = max(0.0, (now - last) / hz / max(t - t_last, 1e-3))
            last, t_last = now, t
            sign = -1 if open(bat / "status").read().strip() == "Charging" else 1
            os.pwrite(cur, b"%12d\n" % (sign * (self.IDLE_UA + int(self.SPAN_UA * min(load, 2.0)))), 0)
            temp_mc += (35000 + 15000 * min(load, 2.0) - temp_mc) * 0.05
            for fd in temps:
                os.pwrite(fd, b"%8d\n" % int(temp_mc), 0)


# -- RSA (adbkey.pub) --------------------------------------------------------------------------------------
def parse_adb_pubkey(text: str) -> tuple:
    """(n, e) from an ``adbkey.pub`` line: base64 of {u32 words, u32 n0inv, n[words], rr[words], u32 e}."""
    blob = base64.b64decode(text.split()[0])
    words = struct.unpack_from("<I", blob, 0)[0]
    n = int.from_bytes(blob[8:8 + 4 * words], "little")
    e = struct.unpack_from("<I", blob, 8 + 8 * words)[0]
    return n, e


def signature_ok(key: tuple, token: bytes, sig: bytes) -> bool:
    """PKCS#1 v1.5 with the token as a SHA-1 digest (how adb signs it)."""
    n, e = key
    size = (n.bit_length() + 7) // 8
    em = pow(int.from_bytes(sig, "big"), e, n).to_bytes(size, "big")
    tail = b"\x00" + SHA1_DIGEST_INFO + token
    return em == b"\x00\x01" + b"\xff" * (size - 3 - len(tail) + 1) + tail


# -- transport ---------------------------------------------------------------------------------------------
class Stream:
    def __init__(self, conn: "Conn", local_id: int, remote_id: int) -> None:
        self.conn, self.local_id, self.remote_id = conn, local_id, remote_id
        self.acked = threading.Event()
        self.acked.set()
        self.inbox: List[bytes] = []
        self.cv = threading.Condition()
        self.closed = False

    def write(self, data: bytes) -> None:
        """Send ``data`` in WRTEs, each only after the previous one's OKAY."""
        for i in range(0, len(data), self.conn.max_payload):
            while not self.acked.wait(0.5):
                if self.closed:
                    raise ConnectionError("stream closed")
            self.acked.clear()
            if self.closed:
                raise ConnectionError("stream closed")
            self.conn.send(A_WRTE, self.local_id, self.remote_id, data[i:i + self.conn.max_payload])

    def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes from the host (b"" at close)."""
        with self.cv:
            while sum(map(len, self.inbox)) < n and not self.closed:
                self.cv.wait()
            buf = b"".join(self.inbox)
            if len(buf) < n:
                return b""
            self.inbox = [buf[n:]] if len(buf) > n else []
            return buf[:n]

    def deliver(self, data: bytes) -> None:
        with self.cv:
            self.inbox.append(data)
            self.cv.notify_all()

    def close(self, tell: bool = True) -> None:
        if not self.closed and tell:
            self.conn.send(A_CLSE, self.local_id, self.remote_id)
        self.closed = True
        self.acked.set()
        with self.cv:
            self.cv.notify_all()


class Conn:
    def __init__(self, sock: socket.socket, peer: "Peer") -> None:
        self.sock, self.peer = sock, peer
        self.lock = threading.Lock()
        self.streams: Dict[int, Stream] = {}
        self.next_id = 1
        self.max_payload = MAX_PAYLOAD
        self.token = os.urandom(20)
        self.online = False

    def send(self, cmd: int, a0: int, a1: int, data: bytes = b"") -> None:
        head = struct.pack("<6I", cmd, a0, a1, len(data), sum(data) & 0xFFFFFFFF, cmd ^ 0xFFFFFFFF)
        with self.lock:
            self.sock.sendall(head + data)

    def recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("host closed")
            buf += chunk
        return buf

    def serve(self) -> None:
        try:
            while True:
                cmd, a0, a1, length, _, magic = struct.unpack("<6I", self.recv_exact(24))
                data = self.recv_exact(length) if length else b""
                self.handle(cmd, a0, a1, data)
        except (ConnectionError, OSError):
            pass
        finally:
            for s in list(self.streams.values()):
                s.close(tell=False)
            self.sock.close()

    def handle(self, cmd: int, a0: int, a1: int, data: bytes) -> None:
        if cmd == A_CNXN:
            self.max_payload = min(MAX_PAYLOAD, a1 or MAX_PAYLOAD)
            self.send(A_AUTH, AUTH_TOKEN, 0, self.token)
        elif cmd == A_AUTH:
            self.auth(a0, data)
        elif cmd == A_OPEN and self.online:
            stream = Stream(self, self.next_id, a0)
            self.next_id += 1
            self.streams[stream.local_id] = stream
            service = data.rstrip(b"\0").decode("utf-8", "replace")
            threading.Thread(target=self.peer.run_service, args=(stream, service), daemon=True).start()
        elif cmd == A_OKAY and a1 in self.streams:
            self.streams[a1].acked.set()
        elif cmd == A_WRTE and a1 in self.streams:
            self.streams[a1].deliver(data)
            self.send(A_OKAY, a1, a0)
        elif cmd == A_CLSE and a1 in self.streams:
            self.streams.pop(a1).close(tell=False)

    def auth(self, kind: int, data: bytes) -> None:
        mode = self.peer.auth
        if kind == AUTH_SIGNATURE and mode != "deny" and any(signature_ok(k, self.token, data) for k in self.peer.keys):
            return self.connected()
        if kind == AUTH_RSAPUBLICKEY and mode == "accept":  # the user taps "Allow" and "Always allow"
            self.peer.keys.append(parse_adb_pubkey(data.rstrip(b"\0").decode()))
            return self.connected()
        if kind == AUTH_SIGNATURE:  # unknown key: a new token, the client tries its next key or sends its public key
            self.token = os.urandom(20)
            self.send(A_AUTH, AUTH_TOKEN, 0, self.token)
        # RSAPUBLICKEY with mode verify/deny: the prompt is never accepted; the host shows "unauthorized"

    def connected(self) -> None:
        self.online = True
        banner = "device::%s;features=shell_v2,cmd,fixed_push_mkdir" % ";".join(
            "%s=%s" % (k, PROPS[k]) for k in ("ro.product.model",))
        self.send(A_CNXN, A_VERSION, MAX_PAYLOAD, banner.encode())


# -- services --------------------------------------------------------------------------------------------
class Peer:
    def __init__(self, tree: AndroidTree, auth: str, keys: List[tuple]) -> None:
        self.tree, self.auth, self.keys = tree, auth, keys

    def run_service(self, s: Stream, service: str) -> None:
        try:
            s.conn.send(A_OKAY, s.local_id, s.remote_id)
            if service.startswith("shell"):
                opts, _, command = service.partition(":")
                self.shell(s, command, v2="v2" in opts.split(",")[1:])
            elif service.startswith("exec:"):
                self.shell(s, service[5:], v2=False, stderr=False)
            elif service == "sync:":
                Sync(self.tree, s).serve()
        except (ConnectionError, OSError):
            pass
        finally:
            s.conn.streams.pop(s.local_id, None)
            s.close()

    def shell(self, s: Stream, command: str, v2: bool, stderr: bool = True) -> None:
        proc = self.tree.popen(command or "exec sh")
        lock = threading.Lock()

        def emit(kind: int, data: bytes) -> None:
            with lock:
                s.write(struct.pack("<BI", kind, len(data)) + data if v2 else data)

        def pump(fh, kind: int) -> None:
            for chunk in iter(lambda: os.read(fh.fileno(), 65536), b""):
                if kind == SHELL_STDOUT or stderr:
                    emit(kind, chunk)

        def feed() -> None:  # v2 stdin packets until CLOSE_STDIN (v1/exec: the raw stream)
            try:
                while True:
                    head = s.read(5) if v2 else s.read(1)
                    if not head:
                        break
                    if not v2:
                        proc.stdin.write(head)
                        proc.stdin.flush()
                        continue
                    kind, n = struct.unpack("<BI", head)
                    data = s.read(n) if n else b""
                    if kind == SHELL_CLOSE_STDIN:
                        break
                    if kind == SHELL_STDIN:
                        proc.stdin.write(data)
                        proc.stdin.flush()
            except OSError:
                pass
            finally:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
            if s.closed and proc.poll() is None:  # the host went away: adbd hangs the shell up
                try:
                    os.killpg(proc.pid, 1)
                except OSError:
                    pass

        pumps = [threading.Thread(target=pump, args=(proc.stdout, SHELL_STDOUT), daemon=True),
                 threading.Thread(target=pump, args=(proc.stderr, SHELL_STDERR), daemon=True)]
        for t in pumps + [threading.Thread(target=feed, daemon=True)]:
            t.start()
        for t in pumps:
            t.join()
        rc = proc.wait()
        if v2:
            emit(SHELL_EXIT, bytes([rc if rc >= 0 else 128 - rc]))


class Sync:
    """sync v1 on a stream: requests are ID(4) + length(4 LE) + payload."""

    def __init__(self, tree: AndroidTree, s: Stream) -> None:
        self.tree, self.s = tree, s

    def fail(self, msg: str) -> None:
        self.s.write(b"FAIL" + struct.pack("<I", len(msg)) + msg.encode())

    def serve(self) -> None:
        while True:
            head = self.s.read(8)
            if not head:
                return
            rid, n = head[:4], struct.unpack("<I", head[4:])[0]
            arg = self.s.read(n).decode("utf-8", "replace") if n else ""
            if rid == b"QUIT":
                return
            getattr(self, rid.decode("ascii", "replace").lower(), self.unknown)(arg)

    def unknown(self, arg: str) -> None:
        self.fail("unknown sync request")

    def stat(self, arg: str) -> None:
        try:
            st = os.stat(self.tree.path(arg))
            self.s.write(b"STAT" + struct.pack("<3I", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime)))
        except OSError:
            self.s.write(b"STAT" + struct.pack("<3I", 0, 0, 0))

    def list(self, arg: str) -> None:
        base = self.tree.path(arg)
        out = b""
        for name in (os.listdir(base) if os.path.isdir(base) else []):
            st = os.lstat(os.path.join(base, name))
            raw = name.encode()
            out += b"DENT" + struct.pack("<4I", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime), len(raw)) + raw
        self.s.write(out + b"DONE" + struct.pack("<4I", 0, 0, 0, 0))

    def send(self, arg: str) -> None:
        path, _, mode = arg.rpartition(",")
        dest = self.tree.path(path)
        chunks, mtime = [], 0
        while True:
            head = self.s.read(8)
            if not head:
                return
            rid, n = head[:4], struct.unpack("<I", head[4:])[0]
            if rid == b"DATA":
                chunks.append(self.s.read(n))
            elif rid == b"DONE":
                mtime = n
                break
            else:
                return self.fail("unexpected %r in SEND" % rid)
        try:
            self.makedirs(os.path.dirname(dest))
            with open(dest, "wb") as fh:
                fh.write(b"".join(chunks))
            os.chown(dest, AID_SHELL, AID_SHELL)
            os.chmod(dest, stat.S_IMODE(int(mode or "420")))
            os.utime(dest, (mtime, mtime))
        except OSError as exc:
            return self.fail("%s: %s" % (path, exc.strerror))
        self.s.write(b"OKAY" + struct.pack("<I", 0))

    def makedirs(self, path: str) -> None:
        """Missing parents, created as adbd does: owned by the shell user."""
        if os.path.isdir(path):
            return
        self.makedirs(os.path.dirname(path))
        os.mkdir(path, 0o770)
        os.chown(path, AID_SHELL, AID_SHELL)

    def recv(self, arg: str) -> None:
        try:
            with open(self.tree.path(arg), "rb") as fh:
                data = fh.read()
        except OSError as exc:
            return self.fail("%s: %s" % (arg, exc.strerror))
        out = b"".join(b"DATA" + struct.pack("<I", len(data[i:i + SYNC_CHUNK])) + data[i:i + SYNC_CHUNK]
                       for i in range(0, len(data), SYNC_CHUNK))
        self.s.write(out + b"DONE" + struct.pack("<I", 0))


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--auth", choices=["accept", "verify", "deny"], default="accept")
    ap.add_argument("--keys", help="adbkey.pub files, comma separated (authorized keys)")
    ap.add_argument("--bind", action="append", default=[], help="host path visible at the same path inside")
    ap.add_argument("--adb-root", action="store_true", help="the shell runs as root (a userdebug build after "
                    "`adb root`)")
    args = ap.parse_args(argv)
    tree = AndroidTree(Path(args.root), args.bind, 0 if args.adb_root else AID_SHELL)
    tree.build()
    tree.mount()
    Battery(tree).start()
    keys = [parse_adb_pubkey(Path(k).read_text()) for k in (args.keys.split(",") if args.keys else [])]
    peer = Peer(tree, args.auth, keys)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(8)
    print("listening", flush=True)
    while True:
        sock, _ = srv.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=Conn(sock, peer).serve, daemon=True).start()


if __name__ == "__main__":
    main()


# -- test-side helpers: start/stop the peer and a private adb server, each by PID -------------------------
def have_adb() -> bool:
    return all(shutil.which(t) for t in ("adb", "unshare", "chroot")) and os.path.exists("/bin/mksh") \
        and os.path.exists("/usr/bin/toybox") and os.geteuid() == 0


class PeerProcess:
    """The peer in its own mount namespace (``unshare --kill-child``: killing it by PID ends the peer)."""

    def __init__(self, root: Path, port: int, auth: str = "accept", keys: Optional[List[Path]] = None,
                 binds: Optional[List[str]] = None, adb_root: bool = False) -> None:
        self.root, self.port, self.auth = root, port, auth
        self.keys, self.binds = keys or [], binds or []
        self.adb_root = adb_root
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout_s: float = 10.0) -> "PeerProcess":
        cmd = ["unshare", "--mount", "--propagation", "private", "--fork", "--kill-child", "--", sys.executable,
               __file__, "--root", str(self.root), "--port", str(self.port), "--auth", self.auth]
        if self.keys:
            cmd += ["--keys", ",".join(str(k) for k in self.keys)]
        for b in self.binds:
            cmd += ["--bind", b]
        if self.adb_root:
            cmd.append("--adb-root")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if "listening" not in line:
            self.kill()
            raise RuntimeError("adb peer did not start: %s %s" % (line, self.proc.stderr.read()))  # type: ignore
        return self

    def kill(self) -> None:
        """End the peer (its PID), then every process still running inside its tree (by PID: those whose
        root is the tree), as unplugging a phone would not, but a test must."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for pid in tree_pids(self.root):
            try:
                os.kill(pid, 9)
            except OSError:
                pass

    @property
    def serial(self) -> str:
        return "127.0.0.1:%d" % self.port


def running_in_tree(root: Path, needle: bytes) -> List[int]:
    """Processes inside the phone tree whose command line contains ``needle`` (one that exits while
    being read is simply not counted)."""
    out = []
    for pid in tree_pids(root):
        try:
            if needle in Path("/proc/%d/cmdline" % pid).read_bytes():
                out.append(pid)
        except OSError:
            pass
    return out


def tree_pids(root: Path) -> List[int]:
    out = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and os.readlink("/proc/%s/root" % pid) == str(root):
                out.append(int(pid))
        except OSError:
            pass
    return out


class AdbServer:
    """A private adb server: its own port and HOME (its key in HOME/.android/adbkey), run in the
    foreground (``nodaemon``) so that its PID is ours to end."""

    def __init__(self, home: Path, port: int) -> None:
        self.home, self.port = home, port
        self.proc: Optional[subprocess.Popen] = None

    def env(self) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ADB_") and k != "ANDROID_SERIAL"}
        env["HOME"] = str(self.home)
        return env

    def start(self) -> "AdbServer":
        self.home.mkdir(parents=True, exist_ok=True)
        self.log = open(self.home / "adb-server.log", "w")
        self.proc = subprocess.Popen(["adb", "-P", str(self.port), "nodaemon", "server"], env=self.env(),
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("adb server did not start: %s" % (self.home / "adb-server.log").read_text())

    def adb(self, *args: str, timeout: float = 10) -> subprocess.CompletedProcess:
        return subprocess.run(["adb", "-P", str(self.port)] + list(args), env=self.env(), capture_output=True,
                              text=True, timeout=timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if getattr(self, "log", None):
            self.log.close()

    @property
    def pubkey(self) -> Path:
        return self.home / ".android" / "adbkey.pub"


def listening_pids(port: int) -> List[int]:
    """PIDs of the processes listening on 127.0.0.1:``port`` (from /proc/net/tcp and each process's fds)."""
    inodes = set()
    with open("/proc/net/tcp") as fh:
        for line in fh.readlines()[1:]:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].split(":")[1], 16) == port:
                inodes.add("socket:[%s]" % parts[9])
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if any(os.readlink("/proc/%s/fd/%s" % (pid, fd)) in inodes for fd in os.listdir("/proc/%s/fd" % pid)):
                pids.append(int(pid))
        except OSError:
            continue
    return pids


@contextlib.contextmanager
def phone_and_server(work: Path, **peer_options: object) -> Iterator[Tuple["PeerProcess", "AdbServer"]]:
    """A STAND-IN phone (the peer, on a free loopback port) and a private adb server; both ended by PID."""
    from tests.sshd import free_port

    peer = PeerProcess(work / "phone", free_port(), **peer_options).start()  # type: ignore[arg-type]
    server = AdbServer(work / "home", free_port()).start()
    try:
        yield peer, server
    finally:
        server.kill()
        peer.kill()


def write_native_phone(folder: Path, peer: "PeerProcess", server: "AdbServer", runner: Path,
                       op_timeout_s: float = 10) -> None:
    """``folder/devices.yaml`` with one phone, ``pixel``, in native mode (no Python) with ``runner`` as its
    onnxruntime_perf_test."""
    (folder / "devices.yaml").write_text(
        "devices:\n  pixel:\n    class: android\n    serial: %s\n    runners: {onnxruntime: %s}\n"
        "    options: {adb_server_port: %d, connect_timeout_s: 3, op_timeout_s: %g}\n"
        % (peer.serial, runner, server.port, op_timeout_s))
