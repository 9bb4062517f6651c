"""Deployment: the agent package and job artifacts go to the device, verified by content hash.

Layout under the transport's root:
  agent/<agent-hash>/device_agents/...   immutable once complete (a ``.complete`` marker)
  models/<sha256>/<file>                  one directory per artifact content
  jobs/<run-id>/<job-id>/                 a fresh directory per job: job.json, result.json
A file already on the device with the right hash is not sent again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

from device_agents.hashing import sha256_file

from .paths import REPO_ROOT
from .transports import Transport, TransportError

AGENT_PACKAGE = REPO_ROOT / "device_agents"


@dataclass
class PushStats:
    """Bytes and files sent (``bytes_sent``) versus already present on the device (``files_skipped``)."""

    bytes_sent: int = 0
    files_sent: int = 0
    files_skipped: int = 0


def agent_files() -> List[Tuple[Path, str]]:
    """(file, path relative to the package parent) of every agent source file, sorted."""
    files = sorted(p for p in AGENT_PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
    return [(p, p.relative_to(AGENT_PACKAGE.parent).as_posix()) for p in files]


def agent_hash() -> str:
    h = hashlib.sha256()
    for path, rel in agent_files():
        h.update(rel.encode() + b"\0" + sha256_file(path).encode() + b"\n")
    return h.hexdigest()


def push_file(transport: Transport, local: Path, remote: str, sha256: str, stats: PushStats) -> None:
    if transport.file_sha256(remote) == sha256:
        stats.files_skipped += 1
        return
    stats.bytes_sent += transport.push(local, remote)
    stats.files_sent += 1
    if transport.file_sha256(remote) != sha256:
        raise TransportError("pushed %s to %s but its hash on the device differs: the transfer is corrupt"
                             % (local, remote))


def deploy_agent(transport: Transport, stats: PushStats) -> str:
    """Make sure the agent is on the device; returns the directory to put on PYTHONPATH."""
    root = transport.join("agent", agent_hash()[:16])
    marker = root + "/.complete"
    try:
        transport.pull(marker)
        stats.files_skipped += len(agent_files())
        return root
    except (FileNotFoundError, OSError):
        pass
    files = [(path, root + "/" + rel, sha256_file(path)) for path, rel in agent_files()]
    present = transport.file_sha256s([remote for _, remote, _ in files])
    todo = [(path, remote, sha) for path, remote, sha in files if present.get(remote) != sha]
    stats.files_skipped += len(files) - len(todo)
    stats.bytes_sent += transport.push_many([(path, remote) for path, remote, _ in todo])
    stats.files_sent += len(todo)
    landed = transport.file_sha256s([remote for _, remote, _ in todo])
    bad = [remote for _, remote, sha in todo if landed.get(remote) != sha]
    if bad:
        raise TransportError("agent files arrived corrupt on the device: %s" % ", ".join(bad[:3]))
    transport.write_text(marker, agent_hash() + "\n")
    return root


def deploy_artifact(transport: Transport, local: Path, sha256: str, stats: PushStats) -> str:
    """Put a model file on the device by content; returns its path there."""
    remote = transport.join("models", sha256[:32], local.name)
    push_file(transport, local, remote, sha256, stats)
    return remote
