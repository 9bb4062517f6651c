"""The results store: ``results/<run-id>/`` with the manifest, one JSON per job and tidy tables.

  manifest.json      run id, command, state (running|interrupted|complete), the planned jobs
  jobs/<job-id>.json one result per finished job (agent result + host-side fields), written atomically
  samples.csv        every raw latency: run_id, device, model, variant, runtime, job_id, iteration, latency_ms
  summary.csv        one row per job with its statistics
  samples.parquet, summary.parquet   the same two tables as Parquet (zstd), for pandas/DuckDB (bench/history/data.py)
  attempts/          results that did not replace a measured one (an error never overwrites ``ok``)
  .run.lock          held (flock) by the one harness working on the run; a second one is refused
Results are written as each job finishes, so an interrupted run keeps everything it measured. Every
file is written atomically (a temporary file, then rename); a full disk raises ``ResultsDiskFull``
and leaves the files already written intact.
"""

from __future__ import annotations

import csv
import datetime
import errno
import io
import json
import os
import secrets
import socket
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from ..atomic import DISK_FULL, ResultsDiskFull, StoreError, _write_json, atomic_write, atomic_write_path  # noqa: F401
from ..paths import results_root, safe_child
from ..plan.jobs import PlannedJob
from .schema import ResultInvalid, check_stored_result

FINISHED = ("ok", "unavailable")


class RunBusy(StoreError):
    """Another harness holds the run's lock."""


def new_run_id() -> str:
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.run_id = root.name
        self._lock_fd: Optional[int] = None
        #: Job files that could not be read (path, reason), filled by ``results()``.
        self.skipped: List[str] = []

    # -- creation and loading ---------------------------------------------------------------
    @classmethod
    def create(cls, jobs: List[PlannedJob], command: List[str], base: Optional[Path] = None,
               run_id: Optional[str] = None) -> "RunStore":
        store = cls(safe_child(base or results_root(), run_id or new_run_id()))
        try:
            store.root.mkdir(parents=True, exist_ok=False)
            (store.root / "jobs").mkdir()
        except OSError as exc:
            if exc.errno in DISK_FULL:
                raise ResultsDiskFull("results disk full: cannot create %s; free space on that disk or set "
                                      "EDGEBENCH_RESULTS to a folder on another one" % store.root)
            raise
        store.write_manifest({"run_id": store.run_id, "created_at": _now(), "command": command,
                              "state": "running", "jobs": [j.to_json() for j in jobs]})
        return store

    @classmethod
    def open(cls, run: str, base: Optional[Path] = None) -> "RunStore":
        """A run by id (under the results folder) or by path."""
        path = Path(run)
        if not (path / "manifest.json").is_file():
            path = (base or results_root()) / run
        if not (path / "manifest.json").is_file():
            raise StoreError("no run %r: %s has no manifest.json (runs are under %s)"
                             % (run, path, base or results_root()))
        return cls(path)

    # -- the run lock -----------------------------------------------------------------------
    def lock(self) -> "RunStore":
        """Take the run's lock (one harness per run); RunBusy names the holder. Released by ``unlock``
        or when this process ends."""
        import fcntl

        path = self.root / ".run.lock"
        try:
            fd = os.open(str(path), os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StoreError("%s is a symbolic link; refusing to follow it. Remove it and retry" % path)
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "unknown holder"
            finally:
                os.close(fd)
            raise RunBusy("run %s is being worked on by another edgebench (%s); wait for it to finish, or stop "
                          "it, then --resume" % (self.run_id, holder))
        os.ftruncate(fd, 0)
        os.pwrite(fd, ("pid %d on %s since %s\n" % (os.getpid(), socket.gethostname(), _now())).encode(), 0)
        self._lock_fd = fd
        return self

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- manifest ---------------------------------------------------------------------------
    def manifest(self) -> Dict[str, Any]:
        return json.loads((self.root / "manifest.json").read_text())

    def write_manifest(self, manifest: Dict[str, Any]) -> None:
        _write_json(self.root / "manifest.json", manifest)

    def set_state(self, state: str, **extra: Any) -> None:
        m = self.manifest()
        m["state"] = state
        m["updated_at"] = _now()
        m.update(extra)
        self.write_manifest(m)

    def planned_jobs(self) -> List[PlannedJob]:
        return [PlannedJob.from_json(j) for j in self.manifest()["jobs"]]

    # -- job results ------------------------------------------------------------------------
    def save_result(self, result: Dict[str, Any]) -> Path:
        """Store one job's result. A result that is not ``ok`` never replaces a stored ``ok`` one: it goes
        to ``attempts/`` instead (returned path says where)."""
        path = safe_child(self.root / "jobs", result["job_id"] + ".json")
        if result.get("status") != "ok" and path.exists():
            try:
                previous = json.loads(path.read_text())
            except (OSError, ValueError):
                previous = {}
            if isinstance(previous, dict) and previous.get("status") == "ok":
                path = safe_child(self.root / "attempts", "%s.%s.json" % (
                    result["job_id"], datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")))
        _write_json(path, result)
        return path

    def results(self) -> List[Dict[str, Any]]:
        """Every stored job result, in plan order (results of jobs not in the plan last). A job file that
        cannot be read or does not fit the result schema is skipped and named in ``self.skipped``."""
        found = {}
        self.skipped = []
        for path in sorted((self.root / "jobs").glob("*.json")):
            try:
                data = check_stored_result(json.loads(path.read_text()))
            except (OSError, ValueError) as exc:  # ResultInvalid is a ValueError
                reason = str(exc) if isinstance(exc, ResultInvalid) else "unreadable: %s" % exc  # no frame cycle
                self.skipped.append("%s (%s)" % (path, reason))
                continue
            found[data.get("job_id", path.stem)] = data
        order = [j["job_id"] for j in self.manifest().get("jobs", [])]
        out = [found.pop(j) for j in order if j in found]
        return out + list(found.values())

    def finished_ids(self) -> List[str]:
        """Jobs that need no re-run: measured (ok) or definitively unavailable on the device."""
        return [r["job_id"] for r in self.results() if r.get("status") in FINISHED]

    # -- tables -----------------------------------------------------------------------------
    def write_tables(self, rows: Iterable[Dict[str, Any]]) -> None:
        """samples.csv (raw latencies, tidy) and summary.csv (one row per job), each written atomically, and
        the same tables as samples.parquet and summary.parquet (zstd, typed columns; bench/results/columnar.py)."""
        from .columnar import write_run_tables

        results = self.results()
        rows = list(rows)
        if rows:
            keys: List[str] = []
            for row in rows:
                keys.extend(k for k in row if k not in keys)

            def summary(fh: io.TextIOBase) -> None:
                w2 = csv.DictWriter(fh, fieldnames=keys)
                w2.writeheader()
                for row in rows:
                    w2.writerow({k: ("" if v is None else v) for k, v in row.items()})

            atomic_write(self.root / "summary.csv", summary)
        write_run_tables(self.root, self.run_id, results, rows)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
