"""Room 3, results: one run on disk and the one schema a device's answer must pass.

  schema.py    the result schema: what an agent may return, checked before the host believes any of it
  store.py     ``results/<run-id>/``: manifest, one JSON per job, summary and samples CSV (atomic writes)
  columnar.py  the same tables as Parquet (zstd)

May import: the base modules and bench.plan (a stored run records its planned jobs). Never analysis, run or
report: what is stored does not depend on how it is judged."""
