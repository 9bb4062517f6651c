"""Real runs for the data/history tests: made once per test session with ``python -m bench run`` on copies of
the tiny ONNX model, then copied into each test's own results folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

REPO = Path(__file__).resolve().parents[3]
QUICK = ["--runs", "30", "--min-seconds", "0", "--warmup", "1", "--ceilings", "skip", "--sample-rate", "0",
         "--threads", "1"]


def bench(args: List[str], results: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, EDGEBENCH_RESULTS=str(results))
    return subprocess.run([sys.executable, "-m", "bench"] + args, cwd=str(REPO), capture_output=True, text=True,
                          timeout=timeout, env=env)


def model_files(folder: Path, tiny_onnx: Path, names: List[str]) -> List[str]:
    """``--model-file`` arguments for copies of the tiny model named ``names`` (the model names in results)."""
    folder.mkdir(parents=True, exist_ok=True)
    args: List[str] = []
    for name in names:
        p = folder / ("%s.onnx" % name)
        if not p.exists():
            p.write_bytes(tiny_onnx.read_bytes())
        args += ["--model-file", str(p)]
    return args


def make_runs(cache: Path, tiny_onnx: Path, count: int = 3) -> Path:
    """``count`` real runs of two models (``tiny-a``, ``tiny-b``) under ``cache/results`` (made once)."""
    results = cache / "results"
    done = cache / "done"
    if done.exists():
        return results
    shutil.rmtree(results, ignore_errors=True)
    files = model_files(cache / "models", tiny_onnx, ["tiny-a", "tiny-b"])
    for _ in range(count):
        proc = bench(["run"] + QUICK + files, results)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    done.write_text("ok")
    return results


def copy_runs(src: Path, dst: Path) -> List[Path]:
    """The run folders of ``src`` copied into ``dst`` (oldest first)."""
    dst.mkdir(parents=True, exist_ok=True)
    out = []
    for p in sorted(src.iterdir()):
        if (p / "manifest.json").is_file():
            shutil.copytree(p, dst / p.name)
            out.append(dst / p.name)
    return out


def rewrite_jobs(run: Path, change: Callable[[Dict[str, Any]], None]) -> None:
    """Apply ``change`` to every stored job of ``run`` and write it back (the test says why it does this)."""
    for path in sorted((run / "jobs").glob("*.json")):
        job = json.loads(path.read_text())
        change(job)
        path.write_text(json.dumps(job))


def force_valid(job: Dict[str, Any]) -> None:
    """The shared 2-core host makes these ms-scale runs noisy, so their stored verdicts are often 'not valid';
    tests of the regression logic set a valid verdict to have a usable baseline."""
    job["validity"] = {"valid": True, "warnings": []}


def slow_down(factor: float, like: Path) -> Callable[[Dict[str, Any]], None]:
    """Turn a real job into an injected slow one: its latencies become those of the same job in run ``like``
    × ``factor``, statistics recomputed. (Relative to another run rather than to itself: on the shared host
    these 0.01-0.03 ms jobs differ by up to 2-3x between runs, so "x factor of itself" would not be a step
    of known size.)"""
    from bench.analysis.stats import summarize

    def change(job: Dict[str, Any]) -> None:
        if job.get("status") == "ok":
            ref = json.loads((like / "jobs" / (job["job_id"] + ".json")).read_text())
            job["latencies_ms"] = [x * factor for x in ref["latencies_ms"]]
            job["timing"]["runs"] = len(job["latencies_ms"])
            job["stats"] = summarize(job["latencies_ms"])
    return change
