"""The history catalogue: every run under ``results/`` in one embedded DuckDB file, ``results/catalog.duckdb``.

Derived data: it is built from the run folders and deleting it loses nothing (the next ``open_catalog``
builds it again). Updates are incremental: each run folder has a fingerprint (name, size and mtime of
manifest.json and of every jobs/*.json), and only runs whose fingerprint changed are read again; runs
whose folder is gone are dropped. The report of a run updates only that run (``update_runs``: cost
independent of the history's size); ``bench history`` (and ``--rebuild``, and a catalogue that is new or
was corrupt) scans every folder (``update``).

Tables (times are naive UTC, ``*_utc``; latencies in ms; memory in bytes):

  runs     run_id, path, fingerprint, created_utc, updated_utc, state, command, planned_jobs, stored_jobs,
           skipped_files, indexed_utc
  jobs     job_key, run_id, job_id, config_key, device, model, variant, runtime, runtime_version, options
           (runtime options, canonical JSON), seq_len, round, status, valid (null: no verdict),
           validity_warnings, n, p50_ms, p50_ci95_low_ms, p50_ci95_high_ms, p90/p95/p99/mean/min/std_ms, cv,
           load_ms, first_inference_ms, peak_mem_bytes, energy_per_inference_mj, avg_power_mw, started_utc,
           finished_utc, note
  samples  job_key, iteration, latency_ms (every raw latency); the view ``samples_v`` adds run_id, job_id,
           device, model, variant and runtime
  skipped  run_id, path, reason: job files of indexed runs that could not be read (named on every query)

Consistency: each run's rows are replaced inside one DuckDB transaction, so a reader never sees half a
run; a job file is written atomically by the store, so a job of a run still running is either whole or
absent. A run folder whose manifest.json cannot be read (corrupt, half-written) is skipped with one line
naming it, and dropped from the catalogue if it was there. One process at a time holds the file: a second
``bench history`` waits up to ``LOCK_WAIT_S`` for it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from .data import LoadedRun, Log, job_record, read_run, stderr_log, utc_time
from ..paths import results_root

SCHEMA_VERSION = "1"
CATALOG_NAME = "catalog.duckdb"
#: Longest wait for another process that holds the catalogue (DuckDB allows one writer process).
LOCK_WAIT_S = 60.0
#: Runs read before their rows are written in one transaction (bounds memory while building).
BATCH_JOBS = 500

JOB_COLUMNS: List[Tuple[str, str]] = [
    ("job_key", "BIGINT"), ("run_id", "VARCHAR"), ("job_id", "VARCHAR"), ("config_key", "VARCHAR"),
    ("device", "VARCHAR"), ("model", "VARCHAR"), ("variant", "VARCHAR"), ("runtime", "VARCHAR"),
    ("runtime_version", "VARCHAR"), ("options", "VARCHAR"), ("seq_len", "INTEGER"), ("round", "INTEGER"),
    ("status", "VARCHAR"), ("valid", "BOOLEAN"), ("validity_warnings", "VARCHAR"), ("n", "INTEGER"),
    ("p50_ms", "DOUBLE"), ("p50_ci95_low_ms", "DOUBLE"), ("p50_ci95_high_ms", "DOUBLE"), ("p90_ms", "DOUBLE"),
    ("p95_ms", "DOUBLE"), ("p99_ms", "DOUBLE"), ("mean_ms", "DOUBLE"), ("min_ms", "DOUBLE"), ("std_ms", "DOUBLE"),
    ("cv", "DOUBLE"), ("load_ms", "DOUBLE"), ("first_inference_ms", "DOUBLE"), ("peak_mem_bytes", "BIGINT"),
    ("energy_per_inference_mj", "DOUBLE"), ("avg_power_mw", "DOUBLE"), ("started_utc", "TIMESTAMP"),
    ("finished_utc", "TIMESTAMP"), ("note", "VARCHAR")]
RUN_COLUMNS: List[Tuple[str, str]] = [
    ("run_id", "VARCHAR"), ("path", "VARCHAR"), ("fingerprint", "VARCHAR"), ("created_utc", "TIMESTAMP"),
    ("updated_utc", "TIMESTAMP"), ("state", "VARCHAR"), ("command", "VARCHAR"), ("planned_jobs", "INTEGER"),
    ("stored_jobs", "INTEGER"), ("skipped_files", "INTEGER"), ("indexed_utc", "TIMESTAMP")]
ARROW = {"BIGINT": pa.int64(), "INTEGER": pa.int32(), "VARCHAR": pa.string(), "DOUBLE": pa.float64(),
         "BOOLEAN": pa.bool_(), "TIMESTAMP": pa.timestamp("us")}
FILTER_FIELDS = ("device", "model", "variant", "runtime")


class CatalogError(RuntimeError):
    """The catalogue cannot be opened (held by another process past the wait); the message says what to do."""


@dataclass
class Filters:
    """Which configurations and times a query covers; each list matches any of its values (empty: all)."""

    device: List[str] = field(default_factory=list)
    model: List[str] = field(default_factory=list)
    variant: List[str] = field(default_factory=list)
    runtime: List[str] = field(default_factory=list)
    since: Optional[datetime.datetime] = None
    until: Optional[datetime.datetime] = None

    def where(self, alias: str = "j", times: bool = True) -> Tuple[str, List[Any]]:
        """A SQL condition over ``alias`` (jobs) and ``r`` (runs), and its parameters."""
        parts: List[str] = []
        params: List[Any] = []
        for name in FILTER_FIELDS:
            values = getattr(self, name)
            if values:
                parts.append("%s.%s IN (%s)" % (alias, name, ", ".join("?" * len(values))))
                params.extend(values)
        when = "coalesce(%s.started_utc, r.created_utc)" % alias
        if times and self.since is not None:
            parts.append("%s >= ?" % when)
            params.append(self.since)
        if times and self.until is not None:
            parts.append("%s <= ?" % when)
            params.append(self.until)
        return (" AND ".join(parts) or "TRUE"), params


@dataclass
class UpdateReport:
    """What one incremental update did."""

    indexed: List[str] = field(default_factory=list)
    unchanged: int = 0
    dropped: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    seconds: float = 0.0


def catalog_path(base: Optional[Path] = None) -> Path:
    return (Path(base) if base is not None else results_root()) / CATALOG_NAME


def config_key(device: Any, model: Any, variant: Any, runtime: Any, options: str) -> str:
    """What makes two jobs measure the same thing: device, model, variant, runtime, runtime options."""
    return json.dumps([device, model, variant, runtime, json.loads(options)], sort_keys=True)


def job_key(run_id: str, job_id: str) -> int:
    """A stable 63-bit key for one job of one run."""
    return int.from_bytes(hashlib.blake2b(("%s\0%s" % (run_id, job_id)).encode(), digest_size=8).digest(), "big") >> 1


def fingerprint(root: Path) -> str:
    """Name, size and mtime (ns) of manifest.json and every jobs/*.json: changes whenever the store writes."""
    h = hashlib.sha256()
    files = [root / "manifest.json"] + sorted((root / "jobs").glob("*.json"))
    for p in files:
        st = p.stat()
        h.update(("%s\0%d\0%d\n" % (p.name, st.st_size, st.st_mtime_ns)).encode())
    return h.hexdigest()


def _coerce(value: Any, sql_type: str) -> Any:
    if value is None:
        return None
    try:
        if sql_type == "VARCHAR":
            return str(value)
        if sql_type in ("BIGINT", "INTEGER"):
            return int(value)
        if sql_type == "DOUBLE":
            v = float(value)
            return v if np.isfinite(v) else None
        if sql_type == "BOOLEAN":
            return bool(value)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, datetime.datetime) else None


def _arrow(rows: Sequence[Dict[str, Any]], columns: Sequence[Tuple[str, str]]) -> pa.Table:
    return pa.Table.from_arrays([pa.array([_coerce(r.get(c), t) for r in rows], type=ARROW[t]) for c, t in columns],
                                names=[c for c, _ in columns])


def _job_rows(run: LoadedRun) -> Tuple[List[Dict[str, Any]], List[np.ndarray], List[int]]:
    rows, lats, keys = [], [], []
    for r in run.results:
        rec = job_record(r, run)
        key = job_key(run.run_id, str(r.get("job_id")))
        rec.update(job_key=key, config_key=config_key(rec["device"], rec["model"], rec["variant"], rec["runtime"],
                                                      rec["options"]))
        rows.append(rec)
        lat = r.get("latencies_ms") if r.get("status") == "ok" else None
        if isinstance(lat, list) and lat:
            lats.append(np.asarray(lat, dtype=np.float64))
            keys.append(key)
    return rows, lats, keys


class Catalog:
    """An open catalogue; use ``open_catalog`` (a context manager) to get one."""

    def __init__(self, path: Path, base: Path, con: "duckdb.DuckDBPyConnection") -> None:
        self.path = path
        self.base = base
        self.con = con
        #: Lines naming what the last update skipped (whole run folders).
        self.skipped_runs: List[str] = []

    # -- schema -----------------------------------------------------------------------------
    def _ensure_schema(self) -> bool:
        """Create the tables when the schema is missing or of another version; True when it did (the
        catalogue is empty and needs a full scan)."""
        tables = {t[0] for t in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        version = None
        if "meta" in tables:
            row = self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = row[0] if row else None
        if version == SCHEMA_VERSION:
            return False
        self.con.execute("BEGIN TRANSACTION")
        for view in ("samples_v",):
            self.con.execute("DROP VIEW IF EXISTS %s" % view)
        for table in ("meta", "runs", "jobs", "samples", "skipped"):
            self.con.execute("DROP TABLE IF EXISTS %s" % table)
        self.con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        self.con.execute("CREATE TABLE runs (%s, PRIMARY KEY (run_id))" % ", ".join("%s %s" % c for c in RUN_COLUMNS))
        self.con.execute("CREATE TABLE jobs (%s, PRIMARY KEY (job_key))" % ", ".join("%s %s" % c for c in JOB_COLUMNS))
        self.con.execute("CREATE TABLE samples (job_key BIGINT, iteration INTEGER, latency_ms DOUBLE)")
        self.con.execute("CREATE TABLE skipped (run_id VARCHAR, path VARCHAR, reason VARCHAR)")
        self.con.execute("CREATE VIEW samples_v AS SELECT j.run_id, j.job_id, j.device, j.model, j.variant, "
                         "j.runtime, s.iteration, s.latency_ms FROM samples s JOIN jobs j USING (job_key)")
        self.con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])
        self.con.execute("COMMIT")
        return True

    # -- building ---------------------------------------------------------------------------
    def _scan(self, log: Log) -> Tuple[Dict[str, Path], List[str]]:
        """Run folders under the base by run id, and lines for folders that look like half-written runs."""
        runs: Dict[str, Path] = {}
        lines: List[str] = []
        if not self.base.is_dir():
            return runs, lines
        for p in sorted(self.base.iterdir()):
            if not p.is_dir():
                continue
            if (p / "manifest.json").is_file():
                runs[p.name] = p
            elif (p / "jobs").is_dir():
                lines.append("skipped run folder %s: no manifest.json (half-written, or not a run)" % p)
        return runs, lines

    def _delete(self, run_ids: Sequence[str]) -> None:
        if not run_ids:
            return
        marks = ", ".join("?" * len(run_ids))
        ids = list(run_ids)
        self.con.execute("DELETE FROM samples WHERE job_key IN (SELECT job_key FROM jobs WHERE run_id IN (%s))"
                         % marks, ids)
        for table in ("jobs", "skipped", "runs"):
            self.con.execute("DELETE FROM %s WHERE run_id IN (%s)" % (table, marks), ids)

    def _write_batch(self, batch: List[Tuple[LoadedRun, str]]) -> None:
        """Replace the rows of every run in ``batch`` (run, fingerprint) in one transaction."""
        run_rows, job_rows, skipped_rows = [], [], []
        lats: List[np.ndarray] = []
        keys: List[int] = []
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        for run, fp in batch:
            rows, l, k = _job_rows(run)
            job_rows += rows
            lats += l
            keys += k
            m = run.manifest
            run_rows.append({"run_id": run.run_id, "path": str(run.root), "fingerprint": fp,
                             "created_utc": utc_time(m.get("created_at")), "updated_utc": utc_time(m.get("updated_at")),
                             "state": m.get("state") if isinstance(m.get("state"), str) else None,
                             "command": " ".join(str(c) for c in m["command"]) if isinstance(m.get("command"), list)
                             else m.get("command") if isinstance(m.get("command"), str) else None,
                             "planned_jobs": len(m.get("jobs") or []), "stored_jobs": len(run.results),
                             "skipped_files": len(run.skipped), "indexed_utc": now})
            skipped_rows += [{"run_id": run.run_id, "path": line.split(" (", 1)[0], "reason": line}
                             for line in run.skipped]
        counts = np.array([len(x) for x in lats], dtype=np.int64)
        samples = pa.table({
            "job_key": pa.array(np.repeat(np.array(keys, dtype=np.int64), counts), type=pa.int64()),
            "iteration": pa.array(np.concatenate([np.arange(c, dtype=np.int32) for c in counts])
                                  if len(counts) else np.array([], dtype=np.int32), type=pa.int32()),
            "latency_ms": pa.array(np.concatenate(lats) if lats else np.array([], dtype=np.float64), type=pa.float64())})
        tables = {"runs": _arrow(run_rows, RUN_COLUMNS), "jobs": _arrow(job_rows, JOB_COLUMNS), "samples": samples,
                  "skipped": _arrow(skipped_rows, [("run_id", "VARCHAR"), ("path", "VARCHAR"), ("reason", "VARCHAR")])}
        self.con.execute("BEGIN TRANSACTION")
        try:
            self._delete([run.run_id for run, _ in batch])
            for name, table in tables.items():
                self.con.register("_new_%s" % name, table)
                self.con.execute("INSERT INTO %s SELECT * FROM _new_%s" % (name, name))
                self.con.unregister("_new_%s" % name)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def update(self, log: Log = stderr_log) -> UpdateReport:
        """Bring the catalogue up to date with every run folder (a full scan: each folder is fingerprinted,
        only changed runs are read; runs whose folder is gone are dropped). ``bench history`` does this."""
        t0 = time.perf_counter()
        report = UpdateReport()
        folders, report.skipped = self._scan(log)
        stored = dict(self.con.execute("SELECT run_id, fingerprint FROM runs").fetchall())
        gone = sorted(set(stored) - set(folders))
        self._refresh(folders, stored, report, gone)
        self.skipped_runs = list(report.skipped)
        for line in report.skipped:
            log(line)
        report.seconds = time.perf_counter() - t0
        return report

    def update_runs(self, run_ids: Sequence[str], log: Log = stderr_log) -> UpdateReport:
        """Bring only the runs ``run_ids`` up to date (the run that just finished, for its report): their
        folders are fingerprinted and read if changed, a run whose folder is gone is dropped; no other folder
        is touched, so the cost does not grow with the history (``update`` is the full scan)."""
        t0 = time.perf_counter()
        report = UpdateReport()
        folders: Dict[str, Path] = {}
        gone: List[str] = []
        ids = sorted({str(r) for r in run_ids})
        for run_id in ids:
            root = self.base / run_id
            if not run_id or run_id in (".", "..") or "/" in run_id or "\\" in run_id or "\0" in run_id:
                report.skipped.append("skipped run id %r: not a run folder name" % run_id[:120])
            elif (root / "manifest.json").is_file():
                folders[run_id] = root
            elif (root / "jobs").is_dir():
                report.skipped.append("skipped run folder %s: no manifest.json (half-written, or not a run)" % root)
                gone.append(run_id)
            else:
                gone.append(run_id)
        marks = ", ".join("?" * len(ids)) or "NULL"
        stored = dict(self.con.execute("SELECT run_id, fingerprint FROM runs WHERE run_id IN (%s)" % marks,
                                       ids).fetchall())
        self._refresh(folders, stored, report, [r for r in gone if r in stored])
        self.skipped_runs = list(report.skipped)
        for line in report.skipped:
            log(line)
        report.seconds = time.perf_counter() - t0
        return report

    def _refresh(self, folders: Dict[str, Path], stored: Dict[str, str], report: UpdateReport,
                 gone: List[str]) -> None:
        """Index the runs of ``folders`` whose fingerprint differs from ``stored``; drop ``gone`` and the
        folders found broken (in ``report``: indexed, unchanged, dropped, skipped)."""
        batch: List[Tuple[LoadedRun, str]] = []
        batch_jobs = 0
        broken: List[str] = []
        for run_id, root in folders.items():
            try:
                fp = fingerprint(root)  # before reading: a write during the read changes it for next time
            except OSError as exc:
                report.skipped.append("skipped run folder %s: cannot be listed (%s)" % (root, exc))
                broken.append(run_id)
                continue
            if stored.get(run_id) == fp:
                report.unchanged += 1
                continue
            problem = manifest_problem(root)
            run = read_run(root, log=lambda line: None) if problem is None else None
            if run is None and problem is not None:
                report.skipped.append("skipped run folder %s: %s" % (root, problem))
                broken.append(run_id)
                continue
            if run is None:
                try:
                    reason = "manifest.json unreadable"
                    json.loads((root / "manifest.json").read_text())
                    reason = "manifest.json is not a run manifest"
                except (OSError, ValueError) as exc:
                    reason = "manifest.json unreadable (%s)" % exc
                report.skipped.append("skipped run folder %s: %s" % (root, reason))
                broken.append(run_id)
                continue
            batch.append((run, fp))
            report.indexed.append(run_id)
            batch_jobs += len(run.results)
            if batch_jobs >= BATCH_JOBS:
                self._write_batch(batch)
                batch, batch_jobs = [], 0
        if batch:
            self._write_batch(batch)
        drop = list(gone) + [r for r in broken if r in stored]
        if drop:
            self.con.execute("BEGIN TRANSACTION")
            self._delete(drop)
            self.con.execute("COMMIT")
        report.dropped = drop

    # -- queries ----------------------------------------------------------------------------
    def sql(self, query: str, params: Optional[Sequence[Any]] = None) -> pd.DataFrame:
        """Any SQL over runs, jobs, samples, samples_v and skipped, as a DataFrame."""
        return self.con.execute(query, list(params or [])).fetchdf()

    def skipped(self) -> List[str]:
        """One line per thing left out: run folders skipped by the last update, job files of indexed runs."""
        files = [r[0] for r in self.con.execute("SELECT reason FROM skipped ORDER BY path").fetchall()]
        return self.skipped_runs + ["skipped job file %s" % f for f in files]

    def runs(self, filters: Optional[Filters] = None) -> pd.DataFrame:
        """Runs with at least one job matching ``filters`` (all runs without filters), oldest first."""
        f = filters or Filters()
        cond, params = f.where()
        return self.sql("SELECT r.* FROM runs r WHERE r.run_id IN (SELECT j.run_id FROM jobs j JOIN runs r "
                        "USING (run_id) WHERE %s) ORDER BY r.created_utc, r.run_id" % cond, params)

    def jobs(self, filters: Optional[Filters] = None) -> pd.DataFrame:
        """Job rows matching ``filters``, with the run's created_utc and state, oldest first."""
        f = filters or Filters()
        cond, params = f.where()
        return self.sql("SELECT j.*, r.created_utc AS run_created_utc, r.state AS run_state FROM jobs j JOIN runs r "
                        "USING (run_id) WHERE %s ORDER BY coalesce(j.started_utc, r.created_utc), j.run_id, j.job_id"
                        % cond, params)

    def samples(self, filters: Optional[Filters] = None) -> pd.DataFrame:
        """Raw latencies (latency_ms) of the jobs matching ``filters``, with run_id and job_id."""
        f = filters or Filters()
        cond, params = f.where()
        return self.sql("SELECT j.run_id, j.device, j.model, j.variant, j.runtime, j.job_id, s.iteration, s.latency_ms "
                        "FROM samples s JOIN jobs j USING (job_key) JOIN runs r USING (run_id) WHERE %s "
                        "ORDER BY j.run_id, j.job_id, s.iteration" % cond, params)

    def points(self, filters: Optional[Filters] = None, times: bool = True) -> pd.DataFrame:
        """One point per (configuration, run): the p50 over time with its 95 % CI.

        The rounds of a ``--rounds`` run are one point: p50_ms is the median of the round medians and
        the CI spans the lowest round's low end to the highest round's high end (conservative); the point is
        valid only if every round is (null when no round has a verdict). Only measured (ok) jobs count.
        ``times=False`` ignores since/until (the regression test needs the history before ``since``)."""
        f = filters or Filters()
        cond, params = f.where(times=times)
        return self.sql(
            "SELECT j.config_key, any_value(j.device) AS device, any_value(j.model) AS model, "
            "any_value(j.variant) AS variant, any_value(j.runtime) AS runtime, any_value(j.options) AS options, "
            "j.run_id, min(coalesce(j.started_utc, r.created_utc)) AS time_utc, any_value(r.state) AS run_state, "
            "count(*) AS jobs, sum(j.n) AS n, median(j.p50_ms) AS p50_ms, min(j.p50_ci95_low_ms) AS p50_ci95_low_ms, "
            "max(j.p50_ci95_high_ms) AS p50_ci95_high_ms, "
            "CASE WHEN bool_or(j.valid = false) THEN false WHEN bool_and(j.valid IS NULL) THEN NULL ELSE true END "
            "AS valid, string_agg(DISTINCT j.validity_warnings, ', ') AS validity_warnings "
            "FROM jobs j JOIN runs r USING (run_id) WHERE j.status = 'ok' AND j.p50_ms IS NOT NULL AND %s "
            "GROUP BY j.config_key, j.run_id ORDER BY j.config_key, time_utc, j.run_id" % cond, params)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def manifest_problem(root: Path) -> Optional[str]:
    """Why a run folder's manifest cannot be indexed (one line), or None: the catalogue reads only manifests
    whose fields have the types the store writes (a hand-edited or hostile one is skipped, not a crash)."""
    try:
        m = json.loads((root / "manifest.json").read_text())
    except RecursionError:
        return "manifest.json is nested too deeply to read"
    except (OSError, ValueError) as exc:
        return "manifest.json unreadable (%s)" % exc
    if not isinstance(m, dict):
        return "manifest.json is not a run manifest (a JSON %s)" % type(m).__name__
    jobs = m.get("jobs", [])
    if not isinstance(jobs, list) or not all(isinstance(j, dict) and isinstance(j.get("job_id"), str) for j in jobs):
        return "manifest.json is not a run manifest: 'jobs' must be a list of planned jobs"
    for key, types in (("command", (list, str, type(None))), ("state", (str, type(None))),
                       ("created_at", (str, type(None))), ("updated_at", (str, type(None)))):
        if not isinstance(m.get(key), types):
            return "manifest.json is not a run manifest: %r is a %s" % (key, type(m.get(key)).__name__)
    return None


def _connect(path: Path, wait_s: float) -> "duckdb.DuckDBPyConnection":
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise CatalogError("the catalogue %s is held by another process (%s) for more than %.0f s; try again "
                                   "when it finishes" % (path, str(exc).splitlines()[0][:200], wait_s))
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def open_catalog(base: Optional[Path] = None, update: bool = True, rebuild: bool = False,
                 log: Log = stderr_log, wait_s: float = LOCK_WAIT_S,
                 runs: Optional[Sequence[str]] = None) -> Catalog:
    """The catalogue of the runs under ``base`` (default: the results folder), brought up to date unless
    ``update`` is false: with ``runs`` (the run that just finished, for its report) only those runs are
    updated (``Catalog.update_runs``, cheap whatever the history's size); without, every folder is scanned
    (``Catalog.update``). A catalogue that is new, of an older schema, or rebuilt is always scanned in full.
    ``rebuild`` deletes it first. A catalogue file DuckDB cannot read is deleted and built again, with one
    line saying so (it is derived data)."""
    base = Path(base) if base is not None else results_root()
    path = catalog_path(base)
    base.mkdir(parents=True, exist_ok=True)
    if rebuild:
        _remove(path)
    try:
        con = _connect(path, wait_s)
    except CatalogError:
        raise
    except duckdb.Error as exc:
        log("catalogue %s unreadable (%s): building it again from the run folders" % (path, str(exc).splitlines()[0]))
        _remove(path)
        con = _connect(path, wait_s)
    cat = Catalog(path, base, con)
    try:
        fresh = cat._ensure_schema()
        if update and runs is not None and not fresh:
            cat.update_runs(runs, log)
        elif update:
            cat.update(log)
    except duckdb.Error as exc:  # corrupt pages met only now (e.g. deleting a vanished run): derived data, rebuild
        cat.close()
        if rebuild:
            raise
        log("catalogue %s corrupt (%s): building it again from the run folders"
            % (path, str(exc).splitlines()[0][:200]))
        return open_catalog(base, update=update, rebuild=True, log=log, wait_s=wait_s, runs=runs)
    except BaseException:
        cat.close()
        raise
    return cat


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass

