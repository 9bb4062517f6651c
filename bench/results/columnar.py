"""A run's tidy tables as Parquet (zstd): ``samples.parquet`` and ``summary.parquet`` beside the CSVs.

Host side only (pyarrow); the agent still speaks JSON. Each file is written to a temporary sibling,
then renamed over the target (``os.replace``), so a reader sees the old file or the new one, never a
half-written one.

  samples.parquet   run_id, device, model, variant, runtime, job_id (strings), iteration (int32),
                    latency_ms (float64, milliseconds) — the same rows as samples.csv
  summary.parquet   the rows of summary.csv with typed columns: a column whose values are all numbers
                    is float64 (int64 when all are integers), all booleans is bool, anything else is a
                    string; missing values are null (never 0 or "")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

COMPRESSION = "zstd"
SAMPLE_KEYS = ("run_id", "device", "model", "variant", "runtime", "job_id")


def samples_table(run_id: str, results: Iterable[Dict[str, Any]]) -> pa.Table:
    """Every raw latency of ``results`` (stored job results) as a tidy Arrow table (latency_ms in ms)."""
    cols: Dict[str, List[Any]] = {k: [] for k in SAMPLE_KEYS}
    iterations: List[int] = []
    latencies: List[float] = []
    for r in results:
        lat = r.get("latencies_ms") or []
        if not lat:
            continue
        n = len(lat)
        values = (run_id, r.get("device_name"), r.get("model_name"), r.get("variant"), r.get("runtime_name"),
                  r.get("job_id"))
        for k, v in zip(SAMPLE_KEYS, values):
            cols[k].extend([None if v is None else str(v)] * n)
        iterations.extend(range(n))
        latencies.extend(float(x) for x in lat)
    arrays = [pa.array(cols[k], type=pa.string()) for k in SAMPLE_KEYS]
    arrays += [pa.array(iterations, type=pa.int32()), pa.array(latencies, type=pa.float64())]
    return pa.Table.from_arrays(arrays, names=list(SAMPLE_KEYS) + ["iteration", "latency_ms"])


def _column(values: Sequence[Any]) -> pa.Array:
    present = [v for v in values if v is not None and v != ""]
    if present and all(isinstance(v, bool) for v in present):
        return pa.array([v if isinstance(v, bool) else None for v in values], type=pa.bool_())
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.array([v if isinstance(v, int) else None for v in values], type=pa.int64())
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pa.array([float(v) if isinstance(v, (int, float)) else None for v in values], type=pa.float64())
    return pa.array([None if v is None or v == "" else str(v) for v in values], type=pa.string())


def rows_table(rows: Sequence[Dict[str, Any]]) -> pa.Table:
    """Summary rows (dicts, units in the column names) as an Arrow table with one type per column."""
    keys: List[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    return pa.Table.from_arrays([_column([row.get(k) for row in rows]) for k in keys], names=keys)


def write_parquet(path: Path, table: pa.Table) -> None:
    """``table`` as a zstd-compressed Parquet file at ``path``, written atomically."""
    from ..atomic import atomic_write_path

    atomic_write_path(path, lambda tmp: pq.write_table(table, str(tmp), compression=COMPRESSION))


def write_csv(path: Path, table: pa.Table) -> None:
    """``table`` as CSV at ``path`` (a header row; floats in their shortest exact form), written atomically by
    Arrow's C++ writer: hundreds of thousands of samples in a fraction of a second."""
    import pyarrow.csv as pacsv

    from ..atomic import atomic_write_path

    options = pacsv.WriteOptions(quoting_style="needed")
    atomic_write_path(path, lambda tmp: pacsv.write_csv(table, str(tmp), write_options=options))


def write_run_tables(root: Path, run_id: str, results: Sequence[Dict[str, Any]],
                     rows: Sequence[Dict[str, Any]]) -> None:
    """``root/samples.csv`` and ``root/samples.parquet`` from the job results (one table, two files) and
    ``root/summary.parquet`` from the summary rows (not written when there are no rows, like summary.csv)."""
    samples = samples_table(run_id, results)
    write_csv(root / "samples.csv", samples)
    write_parquet(root / "samples.parquet", samples)
    if rows:
        write_parquet(root / "summary.parquet", rows_table(rows))
