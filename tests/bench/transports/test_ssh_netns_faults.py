"""The SSH transport on a bad network: a real sshd in a network namespace whose link is slowed to a
trickle (tc tbf), stalled or reset (nft inside the namespace) or taken down (device side). Guarded as
../shared/TESTBED.md says; the guard's drop counter must stay at 0."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Tuple

import pytest

from bench.transports import TransportError
from bench.transports.ssh import SshTransport
from tests.netns import Host, have_netns, ssh_lab
from tests.sshd import Keys, Sshd, have_sshd

pytestmark = pytest.mark.skipif(not (have_sshd() and have_netns()), reason="needs root, sshd, iproute2, nft")

Lab = Tuple[Host, Sshd, Path]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    work = tmp_path_factory.mktemp("faultlab")
    with ssh_lab([21], Keys.make(work / "keys"), work) as (hosts, servers, known):
        yield hosts[0], servers[0], known


@pytest.fixture
def host(lab: Lab) -> Iterator[Host]:
    """The namespace host, its link restored after each test whatever the test did to it."""
    yield lab[0]
    lab[0].unshape()
    lab[0].unblock_ssh()
    lab[0].link(True)


def connect(lab: Lab, root: Path, **kw: Any) -> SshTransport:
    _, sshd, known = lab
    return SshTransport(sshd.device("ns", str(root), known), **kw)


def test_trickle_link_pull_ends_at_its_deadline_then_the_next_operation_works(lab: Lab, host: Host,
                                                                               tmp_path: Path) -> None:
    """A steady trickle (a deep queue, no losses): bytes keep coming, so no read ever waits long enough
    for a per-read timeout; only the overall deadline ends it."""
    t = connect(lab, tmp_path / "root", op_timeout_s=2.0, min_rate_Bps=50_000)
    try:
        t.write_text(t.join("result.json"), "x" * 100_000)
        host.shape("64kbit", latency="5s")  # device -> host at 8 kB/s: this pull would take 12.5 s
        t0 = time.monotonic()
        with pytest.raises(TransportError) as err:
            t.pull(t.join("result.json"))
        took = time.monotonic() - t0
        budget = 2.0 + 100_000 / 50_000
        assert budget - 0.5 < took < budget + 3, took
        msg = str(err.value)
        assert msg.startswith("device 'ns': pulling %s did not finish within 4 s" % t.join("result.json")), msg
        assert "op_timeout_s 2 + 100000 bytes at min_transfer_rate_Bps 50000" in msg
        assert "raise options.op_timeout_s or lower options.min_transfer_rate_Bps" in msg
        host.unshape()
        assert t.pull(t.join("result.json")) == b"x" * 100_000  # reconnected
        assert t.reconnects == 1
    finally:
        t.close()


def test_trickle_link_push_ends_at_its_deadline(lab: Lab, host: Host, tmp_path: Path) -> None:
    t = connect(lab, tmp_path / "root", op_timeout_s=2.0, min_rate_Bps=25_000)
    try:
        model = tmp_path / "model.onnx"
        model.write_bytes(os.urandom(100_000))
        host.shape("8kbit", toward_device=True)  # host -> device at 1 kB/s
        t0 = time.monotonic()
        with pytest.raises(TransportError) as err:
            t.push(model, t.join("models", "model.onnx"))
        assert time.monotonic() - t0 < 2.0 + 2.0 + 4.0 + 3  # mkdir's deadline + the push's
        assert "device 'ns': pushing %s did not finish within 6 s" % model in str(err.value)
    finally:
        t.close()


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_link_stalled_mid_push_ends_at_the_deadline_not_tcps(lab: Lab, host: Host, tmp_path: Path) -> None:
    """TCP_USER_TIMEOUT is 60 s here: only the operation's own deadline can end the stalled write."""
    t = connect(lab, tmp_path / "root", op_timeout_s=2.0, min_rate_Bps=200_000, user_timeout_s=60)
    try:
        model = tmp_path / "model.onnx"
        model.write_bytes(os.urandom(1_600_000))
        t.push(tmp_path / "model.onnx", t.join("models", "first.onnx"))  # the directory exists now
        host.shape("2mbit", toward_device=True)  # 250 kB/s: 6.4 s for the file, 10 s allowed
        stall = threading.Timer(1.5, host.block_ssh, args=("drop",))
        t0 = time.monotonic()
        stall.start()
        with pytest.raises(TransportError) as err:
            t.push(model, t.join("models", "model.onnx"))
        took = time.monotonic() - t0
        stall.join()
        assert 9 < took < 14, took
        assert "pushing %s did not finish within 10 s" % model in str(err.value)
    finally:
        t.close()


def test_reset_for_a_second_then_the_operation_reconnects(lab: Lab, host: Host, tmp_path: Path) -> None:
    t = connect(lab, tmp_path / "root", op_timeout_s=10.0)
    try:
        t.write_text(t.join("a.txt"), "before")
        host.block_ssh("reject with tcp reset")
        heal = threading.Timer(1.0, host.unblock_ssh)
        heal.start()
        t0 = time.monotonic()
        assert t.pull(t.join("a.txt")) == b"before"  # reset, then reconnected within the backoff
        heal.join()
        assert t.reconnects >= 1 and time.monotonic() - t0 < 8
        assert t.exec(["echo", "after"], timeout_s=10).stdout == "after\n"
    finally:
        t.close()


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_kill_on_timeout_over_a_dead_link_is_reported_unconfirmed(lab: Lab, host: Host, tmp_path: Path) -> None:
    t = connect(lab, tmp_path / "root", op_timeout_s=5.0, user_timeout_s=3)
    try:
        down = threading.Timer(0.5, host.link, args=(False,))
        down.start()
        t0 = time.monotonic()
        res = t.exec(["sleep", "33.5"], timeout_s=2)
        down.join()
        assert res.timed_out and res.kill_confirmed is False
        assert time.monotonic() - t0 < 2 + 10 + 5  # the timeout, then the kill's own budget
        host.link(True)
        res = t.exec(["sh", "-c", "pkill -f 'sleep 33[.]5'; echo up"], timeout_s=10)  # reconnects
        assert res.stdout == "up\n"
    finally:
        t.close()
