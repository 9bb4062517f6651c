"""Test hosts in network namespaces, behind the guard of ../shared/TESTBED.md: before any namespace
exists, 10.200.0.0/16 gets an unreachable route and an nft output rule that drops (and counts)
anything for it leaving by an interface other than lo or a veth-dut* pair. Teardown asserts the drop
counter is 0: no packet for the test hosts ever headed out of this machine.

Each test process has its own guard table (``edgebench_guard_<pid>``), so two test runs at once (two
engineers, two checkouts) never remove each other's guard; the unreachable route goes only with the
last guard table on the machine. Fault helpers (``Host.tc``, ``Host.nft``) act inside a namespace or
on its own veth pair, never on the machine's other interfaces."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator, List, Tuple

GUARD_PREFIX = "edgebench_guard"
GUARD_TABLE = "%s_%d" % (GUARD_PREFIX, os.getpid())
NET = "10.200.0.0/16"
_guard_users = 0  # ssh_lab()s of this process using the guard now


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


def have_netns() -> bool:
    return bool(shutil.which("ip") and shutil.which("nft")) and run("ip", "netns", "list", check=False).returncode == 0


def install_guard() -> None:
    """Install this process's guard (once; later calls only count users)."""
    global _guard_users
    _guard_users += 1
    run("ip", "route", "replace", "unreachable", NET)
    if _guard_users > 1:
        return
    run("nft", "delete", "table", "inet", GUARD_TABLE, check=False)
    rules = ("table inet %s {\n chain out {\n  type filter hook output priority 0; policy accept;\n"
             "  ip daddr %s oifname \"lo\" accept\n  ip daddr %s oifname \"veth-dut*\" accept\n"
             "  ip daddr %s counter drop\n }\n}\n" % (GUARD_TABLE, NET, NET, NET))
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True, capture_output=True)


def guard_drops() -> int:
    out = run("nft", "-j", "list", "table", "inet", GUARD_TABLE).stdout
    for item in json.loads(out)["nftables"]:
        rule = item.get("rule")
        if rule:
            for expr in rule["expr"]:
                if "counter" in expr:
                    return int(expr["counter"]["packets"])
    raise RuntimeError("guard counter not found")


def remove_guard() -> None:
    """Drop this process's guard when its last user is done; the route when no guard is left anywhere."""
    global _guard_users
    _guard_users = max(0, _guard_users - 1)
    if _guard_users:
        return
    run("nft", "delete", "table", "inet", GUARD_TABLE, check=False)
    tables = run("nft", "list", "tables", check=False).stdout
    if not any(line.split()[-1].startswith(GUARD_PREFIX) for line in tables.splitlines() if line.strip()):
        run("ip", "route", "del", "unreachable", NET, check=False)


class Host:
    """One test host: namespace ``ebdutK`` with eth0 = 10.200.K.2/30, root side veth-dutK = 10.200.K.1."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.ns = "ebdut%d" % k
        self.veth = "veth-dut%d" % k
        self.address = "10.200.%d.2" % k

    def create(self) -> "Host":
        self.destroy()
        run("ip", "netns", "add", self.ns)
        run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.ns)
        run("ip", "addr", "add", "10.200.%d.1/30" % self.k, "dev", self.veth)
        run("ip", "link", "set", self.veth, "up")
        run("ip", "-n", self.ns, "addr", "add", "%s/30" % self.address, "dev", "eth0")
        run("ip", "-n", self.ns, "link", "set", "eth0", "up")
        run("ip", "-n", self.ns, "link", "set", "lo", "up")
        return self

    def link(self, up: bool) -> None:
        """Fault injection from the device side only (never the root-side veth: see TESTBED.md)."""
        run("ip", "-n", self.ns, "link", "set", "eth0", "up" if up else "down")

    def shape(self, rate: str, toward_device: bool = False, latency: str = "400ms") -> None:
        """Limit the link to ``rate`` (tc syntax, e.g. ``8kbit``) with a token bucket: traffic from the device
        (its eth0), or toward it (the root-side veth's egress; shaping only, the link stays up). ``latency``:
        the longest a packet may queue (a long one gives a steady trickle, a short one drops and stalls)."""
        where = ["tc", "qdisc", "replace", "dev", self.veth] if toward_device else \
            ["ip", "netns", "exec", self.ns, "tc", "qdisc", "replace", "dev", "eth0"]
        run(*(where + ["root", "tbf", "rate", rate, "burst", "1600", "latency", latency]))

    def unshape(self) -> None:
        run("tc", "qdisc", "del", "dev", self.veth, "root", check=False)
        run("ip", "netns", "exec", self.ns, "tc", "qdisc", "del", "dev", "eth0", "root", check=False)

    def block_ssh(self, how: str = "drop") -> None:
        """Inside the namespace, ``drop`` (a stall) or ``reject with tcp reset`` every packet to its sshd."""
        self.unblock_ssh()
        rules = ("table inet ebfault {\n chain in {\n  type filter hook input priority 0; policy accept;\n"
                 "  tcp dport 22 %s\n }\n}\n" % how)
        subprocess.run(["ip", "netns", "exec", self.ns, "nft", "-f", "-"], input=rules, text=True, check=True,
                       capture_output=True)

    def unblock_ssh(self) -> None:
        run("ip", "netns", "exec", self.ns, "nft", "delete", "table", "inet", "ebfault", check=False)

    def destroy(self) -> None:
        run("ip", "netns", "del", self.ns, check=False)
        run("ip", "link", "del", self.veth, check=False)


def make_hosts(ks: List[int]) -> List[Host]:
    install_guard()
    return [Host(k).create() for k in ks]


@contextlib.contextmanager
def ssh_lab(ks: List[int], keys: Any, workdir: Path) -> Iterator[Tuple[List[Host], List[Any], Path]]:
    """Hosts ``ebdutK`` each running a real sshd on :22, and a known_hosts file for them. Teardown
    kills the servers, removes the namespaces and the guard, and asserts the guard dropped nothing."""
    from tests.sshd import Sshd

    hosts = make_hosts(ks)
    servers: List[Any] = []
    try:
        for h in hosts:
            servers.append(Sshd(keys, h.address, 22, workdir, netns=h.ns).start())
        known = workdir / "known_hosts"
        known.write_text("".join(keys.known_hosts_line(s.host, s.port) for s in servers))
        yield hosts, servers, known
    finally:
        for s in servers:
            s.kill()
        drops = guard_drops()
        for h in hosts:
            h.destroy()
        remove_guard()
        assert drops == 0, "%d packet(s) for the test hosts tried to leave this machine" % drops
