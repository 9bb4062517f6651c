"""Deployment: the agent package and job artifacts go to the device, verified by content hash.

Layout under the transport's root:
  agent/<agent-hash>/device_agents/...   the agent; every file's hash is checked on every run (one batched
                                          round trip): a marker or a directory name is never trusted
  models/<sha256>/<file>                  one directory per artifact content
  jobs/<run-id>/<job-id>/                 a fresh directory per job: job.json, result.json
A file already on the device with the right hash is not sent again. A work directory that another user
can write is refused before anything runs there (they could swap the agent between check and run).
"""

from __future__ import annotations

import hashlib
import json
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from device_agents.hashing import sha256_file

from ..paths import REPO_ROOT
from ..plan.jobs import PlannedJob
from ..transports import Transport, TransportError

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


#: Run on the device with its Python. Prints the effective uid and gid and, for the work dir's real path
#: (symbolic links resolved), every folder above it ("up") and every folder and file under it ("in"), each
#: with its owner, mode and group.
PERMS = ("import json,os,sys\nroot=os.path.realpath(sys.argv[1]);out=[]\np=root\nwhile True:\n try:\n"
         "  st=os.lstat(p);out.append(['up' if p!=root else 'in',p,st.st_uid,st.st_mode,st.st_gid])\n"
         " except OSError:\n  pass\n"
         " q=os.path.dirname(p)\n if q==p:\n  break\n p=q\n"
         "for d,ds,fs in os.walk(root):\n for n in ds+fs:\n  x=os.path.join(d,n)\n  try:\n   st=os.lstat(x)\n"
         "  except OSError:\n   continue\n  out.append(['in',x,st.st_uid,st.st_mode,st.st_gid])\n"
         "print(json.dumps({'euid':os.geteuid(),'egid':os.getegid(),'root':root,'paths':out}))")


class UnsafeWorkdir(TransportError):
    """The work dir, a folder above it or something in it could be changed by another user."""


def check_workdir(transport: Transport, python: str, device_name: str, timeout_s: float = 60.0) -> None:
    """Refuse a work dir that another user could use to change what runs: the agent runs from there.

    Everything in it (the agent, models, job folders) must be ours and not writable by group or others; a
    folder above it must be ours or root's and not writable by others unless sticky (like /tmp, where
    others cannot replace our entries). Paths are checked after resolving symbolic links.

    A transport may vouch for more owners of the folders above (``trusted_owner_uids``) and for groups whose
    write permission on them is safe (``trusted_group_gids``): on Android ``/data`` is ``system:system``
    0771 and ``/data/local/tmp`` ``shell:shell`` 0771 (only the shell user is in that group)."""
    from ..transports.local import LocalTransport

    if isinstance(transport, LocalTransport):
        python = sys.executable  # the same machine: the host's own Python answers (the device's may be a wrapper)
    res = transport.exec([python, "-c", PERMS, transport.root], timeout_s=timeout_s, cwd=transport.root)
    if res.timed_out:
        raise TransportError("device %r: %s did not answer within %.0f s (checking the work dir's permissions); "
                             "check 'python' in devices.yaml" % (device_name, python, timeout_s))
    try:
        info = json.loads(res.stdout)
        euid = int(info["euid"])
        entries = [(str(w), str(p), int(u), int(m), int(g)) for w, p, u, m, g in info["paths"]]
    except (ValueError, KeyError, TypeError):
        raise TransportError("device %r: cannot check the permissions of %s (exit %s): %s" % (
            device_name, transport.root, res.returncode, (res.stderr or res.stdout).strip()[-200:] or "no output"))
    trusted = (euid, 0) + tuple(getattr(transport, "trusted_owner_uids", ()))
    trusted_gids = tuple(getattr(transport, "trusted_group_gids", ()))
    for where, path, uid, mode, gid in entries:
        if stat.S_ISLNK(mode):
            if where == "in":
                raise UnsafeWorkdir("device %r: %s is a symbolic link inside the work dir; remove it (the harness "
                                    "never makes links)" % (device_name, path))
            continue
        if (uid != euid) if where == "in" else (uid not in trusted):
            raise UnsafeWorkdir(
                "device %r: %s belongs to uid %d, not to the user the agent runs as (uid %d): that user could "
                "change the agent. Use a work dir of your own (workdir: in devices.yaml)" % (device_name, path, uid, euid))
        writable_by_others = mode & (0o022 if where == "in" or not mode & 0o1000 else 0)
        if where == "up" and gid in trusted_gids:
            writable_by_others &= ~0o020
        if writable_by_others:
            raise UnsafeWorkdir(
                "device %r: %s is writable by other users (mode %o): they could change the agent that runs as "
                "uid %d. Fix: chmod -R go-w %s, or set a private workdir in devices.yaml"
                % (device_name, path, mode & 0o7777, euid, info.get("root", transport.root)))


def agent_env(agent_dir: str, jobdir: str) -> dict:
    """The agent's environment: its package on the path, and no byte-code read from beside it (a planted
    __pycache__/*.pyc whose header matches the source would run instead of the checked .py): every module's
    byte-code goes to a private cache per agent version, ``agent/<hash>.pycache``, inside the work dir that is
    checked before each run (ours, writable by no one else), so numpy's and the runtime's modules are not compiled
    again for every job. Its data caches (the runtime probe's facts, never code) are in ``agent/<hash>.state``.
    Without an agent dir (a probe before deployment) the job folder holds a throw-away cache."""
    base = agent_dir.rstrip("/") if agent_dir else ""
    # "" turns off a PYTHONDONTWRITEBYTECODE inherited from the host's or the device's environment
    env = {"PYTHONPATH": agent_dir, "PYTHONPYCACHEPREFIX": (base + ".pycache") if base else jobdir + "/.pycache",
           "PYTHONDONTWRITEBYTECODE": ""}
    if base:
        env["EDGEBENCH_AGENT_STATE"] = base + ".state"
    return env


def deploy_agent(transport: Transport, stats: PushStats) -> str:
    """Make sure the exact agent is on the device; returns the directory to put on PYTHONPATH. Every
    file is hashed on the device (one round trip) on every call; missing or different ones are pushed
    and hashed again."""
    root = transport.join("agent", agent_hash()[:16])
    files = [(path, root + "/" + rel, sha256_file(path)) for path, rel in agent_files()]
    present = transport.file_sha256s([remote for _, remote, _ in files])
    todo = [(path, remote, sha) for path, remote, sha in files if present.get(remote) != sha]
    stats.files_skipped += len(files) - len(todo)
    if not todo:
        return root
    stats.bytes_sent += transport.push_many([(path, remote) for path, remote, _ in todo])
    stats.files_sent += len(todo)
    landed = transport.file_sha256s([remote for _, remote, _ in todo])
    bad = [remote for _, remote, sha in todo if landed.get(remote) != sha]
    if bad:
        raise TransportError("agent files arrived corrupt on the device: %s" % ", ".join(bad[:3]))
    return root


def agent_argv(device: Any, transport: Transport, command: str, job_file: str, out_file: str,
               deadline_s: float) -> List[str]:
    """The agent command line for ``run``/``microbench``: a deadline, the host watch that fits the transport
    (standard input over SSH, the parent process locally), the device lock (the inventory's shared
    ``lock_file`` option, else the transport's ``agent_lock``: the per-user lock, or on a phone a lock in
    /data/local/tmp) with a wait bounded to half the deadline."""
    argv = [device.python, "-m", "device_agents", command, job_file, "--out", out_file,
            "--deadline-s", "%.0f" % deadline_s,
            "--lock", str(device.options.get("lock_file") or getattr(transport, "agent_lock", "user")),
            "--lock-wait-s", "%.0f" % max(1.0, deadline_s / 2.0)]
    argv.append("--watch-stdin" if transport.holds_stdin else "--watch-parent")
    return argv


def artifact_remote(transport: Transport, local: Path, sha256: str) -> str:
    """Where a model file lives on the device: one folder per content hash."""
    return transport.join("models", sha256[:32], local.name)


def artifact_on_device(transport: Transport, local: Path, sha256: str) -> bool:
    """Is this exact model file already on the device (one hash round trip)?"""
    return bool(sha256) and transport.file_sha256(artifact_remote(transport, local, sha256)) == sha256


def deploy_artifact(transport: Transport, local: Path, sha256: str, stats: PushStats) -> str:
    """Put a model file on the device by content; returns its path there."""
    remote = artifact_remote(transport, local, sha256)
    push_file(transport, local, remote, sha256, stats)
    return remote


def deploy_dataset(transport: Transport, job: PlannedJob, push: PushStats) -> Optional[Dict[str, Any]]:
    """Push ``job``'s dataset (and its FP32 reference model) by content hash; the agent's ``accuracy`` spec (None
    where the dataset is not on this host, e.g. a lab worker elsewhere: the job is then measured without it)."""
    acc = job.accuracy
    if not acc or not Path(acc["dataset"]).is_file():  # a lab worker on another host: the job runs without it
        return None
    spec: Dict[str, Any] = {"dataset_path": deploy_artifact(transport, Path(acc["dataset"]), acc["dataset_sha256"], push),
                            "dataset_sha256": acc["dataset_sha256"], "returns": acc["returns"]}
    ref = acc.get("reference")
    if ref and ref.get("path") and Path(ref["path"]).is_file():
        spec.update(reference_path=deploy_artifact(transport, Path(ref["path"]), ref["sha256"] or "", push),
                    reference_sha256=ref["sha256"], reference_runtime=ref["runtime"],
                    reference_options=ref.get("options") or {}, reference_variant=ref["variant"])
    return spec
