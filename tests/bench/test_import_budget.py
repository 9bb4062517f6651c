"""The run path's import budget (issue 26): planning, running, judging and describing a job import neither the
report package, matplotlib, pandas, DuckDB, pyarrow nor scipy — those load only to render or to test. Held as
a property of the import graph (which modules are loaded), not as a timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Heavy packages the run path must not load (about 3 s of imports together on a 2-core machine).
FORBIDDEN = ("matplotlib", "pandas", "scipy", "duckdb", "pyarrow", "torch", "bench.report.render",
             "bench.report.plots", "bench.history.catalogue")

SCRIPT = r'''
import json, sys
import numpy as np
from bench.cli.main import build_parser
from bench.cli.plan_args import measure_spec
from bench.run.runner import describe_outcome, DeviceWorker, run_plan  # noqa: F401
from bench.run.progress import ProgressPrinter
from bench.analysis.stats import summarize
from bench.analysis.validity import verdict, level_shift
from bench.results.store import RunStore  # noqa: F401
from bench.plan.jobs import plan_jobs, ArtifactRef
from bench.results.schema import check_agent_result  # noqa: F401

args = build_parser().parse_args(["run", "--runs", "20"])
art = ArtifactRef(model="m", variant="onnx-fp32", format="onnx", runtime="onnxruntime", path="/x.onnx", sha256="0" * 64)
(job,) = plan_jobs(["local"], [art], None, {}, measure_spec(args), 60.0)
rng = np.random.default_rng(0)
lat = list(10.0 + rng.random(400))
result = {"status": "ok", "latencies_ms": lat, "timing": {"window_s": 4.0, "runs": 400}}
result["stats"] = summarize(lat)
result["validity"] = verdict(result, result["stats"])
level_shift(lat[:200] + [x * 1.3 for x in lat[200:]])
lines = []
p = ProgressPrinter(1, out=lines.append, tty=False)
p("[1/1] " + describe_outcome(job, result))
print(json.dumps(sorted(m for m in sys.modules)))
'''


def test_run_path_imports_nothing_it_does_not_use() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=str(REPO), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    heavy = sorted({m for m in loaded for f in FORBIDDEN if m == f or m.startswith(f + ".")})
    assert not heavy, "the run path imported %s" % ", ".join(heavy[:20])
