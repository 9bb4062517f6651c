"""Results as pandas DataFrames: load one run, several, or every run under ``results/``.

    from bench import data
    jobs = data.jobs()                       # every run: one row per job, run_id first
    s = data.samples(["20261122-204543-4b32"])  # raw latencies of one run (latency_ms)
    s.groupby(["run_id", "model", "variant"]).latency_ms.quantile(0.99)

Tables (every one has a ``run_id`` column, units in the column names):

- ``jobs``     one row per stored job: the columns of summary.csv (``bench.analysis.rows.job_row``; p50_ms,
               p50_ci95_low_ms/high_ms, cv, load_ms, peak_mem_mb, energy_per_inference_mj, avg_power_mw, …)
               with ``valid`` as a nullable boolean (null: no verdict), plus job_id, group, options (the
               runtime options as canonical JSON), seq_len, peak_mem_bytes, started_utc / finished_utc /
               run_created_utc (UTC timestamps) and run_state.
- ``samples``  one row per timed inference: run_id, device, model, variant, runtime, job_id, iteration,
               latency_ms. From samples.parquet when it is at least as new as every job file, else from the
               job JSON (the job files are the source of truth).
- ``power``    one row per job and power source (``agent``: the device's own sensor; ``log``: an attached
               ``--power-log``): energy_per_inference_mj, energy_per_inference_idle_subtracted_mj,
               avg_power_mw, idle_power_mw, inferences_per_j, gops_per_w, sensor, boundary, method,
               sample_rate_hz, sample_count, throttled and the reason where a figure is null. The agent
               keeps the window's figures, not its raw power samples, so this table is per job.
- ``devices``  one row per (run, device): OS, kernel, arch, CPU, cores, memory_total_bytes, governor,
               Python, agent, runtime versions and the sensors found.

Bad input never crashes: a run folder whose manifest.json cannot be read is skipped with one line naming
it, a job file that is unreadable or does not fit the result schema is skipped with one line naming it
(``log``, default: standard error). Host side only (pandas); the device agent never imports this.
"""

from __future__ import annotations

import datetime
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

import pandas as pd

from ..paths import results_root
from ..results.store import RunStore

Log = Callable[[str], None]
RunsArg = Union[None, str, Path, RunStore, Iterable[Union[str, Path, RunStore]]]

SAMPLE_COLUMNS = ["run_id", "device", "model", "variant", "runtime", "job_id", "iteration", "latency_ms"]
POWER_FIELDS = ["energy_per_inference_mj", "energy_per_inference_idle_subtracted_mj", "avg_power_mw",
                "idle_power_mw", "inferences_per_j", "gops_per_w"]
DEVICE_FACTS = ["hostname", "os", "kernel", "arch", "cpu_model", "board_model", "cpu_cores_logical",
                "memory_total_bytes", "cpu_governor", "python_version", "agent_version", "numpy_version"]


def stderr_log(line: str) -> None:
    print(line, file=sys.stderr)


@dataclass
class LoadedRun:
    """One run folder read once: its manifest and every job result that parsed (each with ``run_id``)."""

    run_id: str
    root: Path
    manifest: Dict[str, Any]
    results: List[Dict[str, Any]]
    skipped: List[str] = field(default_factory=list)


def run_dirs(base: Optional[Path] = None) -> List[Path]:
    """Every run folder (a folder with manifest.json) directly under ``base`` (default: the results
    folder), sorted by name (run ids start with their creation time)."""
    base = Path(base) if base is not None else results_root()
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and (p / "manifest.json").is_file())


def _as_paths(runs: RunsArg, base: Optional[Path]) -> List[Path]:
    if runs is None:
        return run_dirs(base)
    if isinstance(runs, (str, Path, RunStore)):
        runs = [runs]
    out = []
    for r in runs:
        out.append(r.root if isinstance(r, RunStore) else RunStore.open(str(r), base).root)
    return out


def read_run(root: Path, log: Log = stderr_log) -> Optional[LoadedRun]:
    """The run at ``root``, or None (after one line naming it) when its manifest cannot be read. Job files
    that do not parse or fit the schema are left out, each named in one line."""
    store = RunStore(root)
    try:
        manifest = store.manifest()
        if not isinstance(manifest, dict) or not isinstance(manifest.get("jobs", []), list):
            raise ValueError("not a run manifest (no job list)")
        results = store.results()
    except (OSError, ValueError) as exc:
        log("skipped run folder %s: manifest.json unreadable (%s)" % (root, exc))
        return None
    for line in store.skipped:
        log("skipped job file %s" % line)
    return LoadedRun(store.run_id, root, manifest, [dict(r, run_id=store.run_id) for r in results],
                     list(store.skipped))


def load_runs(runs: RunsArg = None, base: Optional[Path] = None, log: Log = stderr_log) -> List[LoadedRun]:
    """The runs named by ``runs`` (ids, paths, RunStores; None: every run under ``base``)."""
    out = []
    for root in _as_paths(runs, base):
        run = read_run(root, log)
        if run is not None:
            out.append(run)
    return out


def utc_time(text: Any) -> Optional[datetime.datetime]:
    """An ISO time string as a naive UTC datetime (None when missing or unreadable; a time without a zone
    is taken as UTC, which is how the store writes them)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return dt


def options_json(result: Dict[str, Any]) -> str:
    """The job's runtime options as canonical JSON (the key ``bench compare`` and the history pair on)."""
    plan = result.get("plan") if isinstance(result.get("plan"), dict) else {}
    return json.dumps(plan.get("runtime_options") or {}, sort_keys=True)


def job_record(result: Dict[str, Any], run: LoadedRun) -> Dict[str, Any]:
    """One job's row: the summary.csv columns plus identifiers, times and typed validity."""
    from ..analysis.rows import job_row

    row = job_row(result, run.run_id)
    plan = result.get("plan") if isinstance(result.get("plan"), dict) else {}
    measure = plan.get("measure") if isinstance(plan.get("measure"), dict) else {}
    memory = result.get("memory") if isinstance(result.get("memory"), dict) else {}
    row["valid"] = {"yes": True, "NO": False}.get(row.get("valid"))
    row.update({
        "job_id": result.get("job_id"),
        "group": plan.get("group") or result.get("job_id"),
        "options": options_json(result),
        "seq_len": measure.get("seq_len"),
        "peak_mem_bytes": memory.get("peak_over_baseline_bytes"),
        "started_utc": utc_time(result.get("started_at")),
        "finished_utc": utc_time(result.get("finished_at")),
        "run_created_utc": utc_time(run.manifest.get("created_at")),
        "run_state": run.manifest.get("state"),
    })
    return row


def _frame(rows: List[Dict[str, Any]], columns: Optional[Sequence[str]] = None) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(columns) if columns is not None and not rows else None)
    if "run_id" in df.columns:
        df = df[["run_id"] + [c for c in df.columns if c != "run_id"]]
    return df


def jobs(runs: RunsArg = None, base: Optional[Path] = None, log: Log = stderr_log) -> pd.DataFrame:
    """One row per stored job of ``runs`` (see the module docstring for the columns)."""
    rows = [job_record(r, run) for run in load_runs(runs, base, log) for r in run.results]
    df = _frame(rows, ["run_id", "job_id"])
    if "valid" in df.columns:
        df["valid"] = df["valid"].astype("boolean")
    for col in ("started_utc", "finished_utc", "run_created_utc"):
        if col in df.columns:
            df[col] = pd.to_datetime(df[col])
    return df


def _samples_from_parquet(run: LoadedRun) -> Optional[pd.DataFrame]:
    """samples.parquet if it is at least as new as the manifest and every job file; else None."""
    path = run.root / "samples.parquet"
    try:
        written = path.stat().st_mtime_ns
        newest = max([p.stat().st_mtime_ns for p in (run.root / "jobs").glob("*.json")] +
                     [(run.root / "manifest.json").stat().st_mtime_ns])
    except (OSError, ValueError):
        return None
    if written < newest:
        return None
    try:
        df = pd.read_parquet(path)
    except Exception:  # a damaged Parquet file: the job JSON has the same numbers
        return None
    return df if list(df.columns) == SAMPLE_COLUMNS else None


def _samples_from_json(run: LoadedRun) -> pd.DataFrame:
    from ..results.columnar import samples_table

    return samples_table(run.run_id, run.results).to_pandas()


def samples(runs: RunsArg = None, base: Optional[Path] = None, log: Log = stderr_log) -> pd.DataFrame:
    """Every raw latency (ms) of ``runs``, one row per timed inference, with run_id and job_id."""
    frames = []
    for run in load_runs(runs, base, log):
        df = _samples_from_parquet(run) if not run.skipped else None
        frames.append(df if df is not None else _samples_from_json(run))
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c == "latency_ms" else "int32" if c == "iteration"
                                          else "object") for c in SAMPLE_COLUMNS})
    return pd.concat(frames, ignore_index=True)


def _power_row(base: Dict[str, Any], source: str, p: Dict[str, Any], throttle: Dict[str, Any]) -> Dict[str, Any]:
    row = dict(base, source=source)
    for k in POWER_FIELDS:
        row[k] = p.get(k)
    row.update({"sensor": p.get("sensor"), "boundary": p.get("boundary"), "method": p.get("method"),
                "sample_rate_hz": p.get("sample_rate_hz"), "sample_count": p.get("sample_count"),
                "is_estimate": p.get("is_estimate"), "throttled": throttle.get("throttled"),
                "reason": p.get("reason"), "warnings": "; ".join(p.get("warnings") or []) or None})
    return row


def power(runs: RunsArg = None, base: Optional[Path] = None, log: Log = stderr_log) -> pd.DataFrame:
    """Power and energy per job and source (mJ per inference, mW); null figures carry ``reason``."""
    rows = []
    for run in load_runs(runs, base, log):
        for r in run.results:
            if r.get("status") != "ok":
                continue
            ids = {"run_id": run.run_id, "device": r.get("device_name"), "model": r.get("model_name"),
                   "variant": r.get("variant"), "runtime": r.get("runtime_name"), "job_id": r.get("job_id")}
            throttle = r.get("throttle") if isinstance(r.get("throttle"), dict) else {}
            if isinstance(r.get("power"), dict):
                rows.append(_power_row(ids, "agent", r["power"], throttle))
            if isinstance(r.get("power_log"), dict):
                rows.append(_power_row(ids, "log", r["power_log"], throttle))
    return _frame(rows, ["run_id", "job_id", "source"] + POWER_FIELDS)


def device_record(run_id: str, name: str, facts: Dict[str, Any]) -> Dict[str, Any]:
    """The facts of one device as one flat row (runtime versions as ``<runtime>_version``)."""
    row: Dict[str, Any] = {"run_id": run_id, "device": name}
    for k in DEVICE_FACTS:
        row[k] = facts.get(k)
    for rt, info in sorted((facts.get("runtimes") or {}).items()):
        if isinstance(info, dict):
            row["%s_version" % rt] = info.get("version") if info.get("available") else None
    sensors = facts.get("sensors") if isinstance(facts.get("sensors"), dict) else {}
    row["sensors"] = ", ".join(k for k, v in sorted(sensors.items()) if isinstance(v, dict) and v.get("available"))
    return row


def devices(runs: RunsArg = None, base: Optional[Path] = None, log: Log = stderr_log) -> pd.DataFrame:
    """One row per (run, device) with the facts the agent probed on the device."""
    rows = []
    for run in load_runs(runs, base, log):
        seen = set()
        for r in run.results:
            name = r.get("device_name")
            if name in seen or not isinstance(r.get("device"), dict):
                continue
            seen.add(name)
            rows.append(device_record(run.run_id, name, r["device"]))
    return _frame(rows, ["run_id", "device"] + DEVICE_FACTS)
