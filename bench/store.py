"""The results store: ``results/<run-id>/`` with the manifest, one JSON per job and tidy tables.

  manifest.json      run id, command, state (running|interrupted|complete), the planned jobs
  jobs/<job-id>.json one result per finished job (agent result + host-side fields), written atomically
  samples.csv        every raw latency: run_id, device, model, variant, runtime, job_id, iteration, latency_ms
  summary.csv        one row per job with its statistics
Results are written as each job finishes, so an interrupted run keeps everything it measured.
"""

from __future__ import annotations

import csv
import datetime
import json
import os
import secrets
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from .paths import results_root
from .plan import PlannedJob

FINISHED = ("ok", "unavailable")


class StoreError(ValueError):
    pass


def new_run_id() -> str:
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, allow_nan=False))
    os.replace(tmp, path)


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.run_id = root.name

    # -- creation and loading ---------------------------------------------------------------
    @classmethod
    def create(cls, jobs: List[PlannedJob], command: List[str], base: Optional[Path] = None,
               run_id: Optional[str] = None) -> "RunStore":
        store = cls((base or results_root()) / (run_id or new_run_id()))
        store.root.mkdir(parents=True, exist_ok=False)
        (store.root / "jobs").mkdir()
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
        path = self.root / "jobs" / (result["job_id"] + ".json")
        _write_json(path, result)
        return path

    def results(self) -> List[Dict[str, Any]]:
        """Every stored job result, in plan order (results of jobs not in the plan last)."""
        found = {}
        for path in sorted((self.root / "jobs").glob("*.json")):
            try:
                data = json.loads(path.read_text())
            except ValueError:
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
        """samples.csv (raw latencies, tidy) and summary.csv (one row per job)."""
        results = self.results()
        with open(self.root / "samples.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["run_id", "device", "model", "variant", "runtime", "job_id", "iteration", "latency_ms"])
            for r in results:
                for i, v in enumerate(r.get("latencies_ms") or []):
                    w.writerow([self.run_id, r.get("device_name"), r.get("model_name"), r.get("variant"),
                                r.get("runtime_name"), r["job_id"], i, "%.6f" % v])
        rows = list(rows)
        if rows:
            keys: List[str] = []
            for row in rows:
                keys.extend(k for k in row if k not in keys)
            with open(self.root / "summary.csv", "w", newline="") as fh:
                w2 = csv.DictWriter(fh, fieldnames=keys)
                w2.writeheader()
                for row in rows:
                    w2.writerow({k: ("" if v is None else v) for k, v in row.items()})


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
