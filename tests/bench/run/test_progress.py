"""Run progress lines: elapsed time and an ETA from the finished jobs; other lines untouched."""

from __future__ import annotations

from typing import List

from bench.run.progress import ProgressPrinter


def test_job_lines_get_elapsed_and_eta() -> None:
    now = [100.0]
    lines: List[str] = []
    p = ProgressPrinter(4, out=lines.append, tty=False, clock=lambda: now[0])
    p("ceilings: measuring local …")
    p("[1/4] local  tinybert-4  onnx-fp32  onnxruntime …")
    now[0] = 130.0
    p("[1/4] local  tinybert-4  onnx-fp32  onnxruntime  ok  p50 13.37 ms")
    now[0] = 131.0
    p("[2/4] local  tinybert-4  tflite-fp32  litert …")
    assert lines[0] == "ceilings: measuring local …"
    assert lines[1] == "[1/4 0:00] local  tinybert-4  onnx-fp32  onnxruntime …"
    assert lines[2] == "[1/4 0:30 ETA 1:30] local  tinybert-4  onnx-fp32  onnxruntime  ok  p50 13.37 ms"
    assert lines[3].startswith("[2/4 0:31 ETA 1:33] ")


def test_two_devices_count_by_throughput_and_the_last_job_has_no_eta() -> None:
    now = [0.0]
    lines: List[str] = []
    p = ProgressPrinter(2, out=lines.append, tty=False, clock=lambda: now[0])
    now[0] = 10.0
    p("[1/2] a  m  v  r  ok")
    now[0] = 12.0
    p("[2/2] b  m  v  r  ok")
    assert lines == ["[1/2 0:10 ETA 0:10] a  m  v  r  ok", "[2/2 0:12] b  m  v  r  ok"]


def test_a_terminal_gets_a_live_device_table() -> None:
    import io

    from rich.console import Console

    now = [0.0]
    p = ProgressPrinter(3, tty=True, clock=lambda: now[0])
    p._console = Console(file=io.StringIO(), force_terminal=True, width=120)
    p("[1/3] local  tinybert-4  onnx-fp32  onnxruntime …")
    p("[2/3] board  tinybert-4  onnx-fp32  onnxruntime …")
    now[0] = 12.0
    p("[1/3] local  tinybert-4  onnx-fp32  onnxruntime  ok  p50 13.37 ms")
    assert p.devices["local"]["done"] == 1 and p.devices["local"]["job"] is None
    assert p.devices["board"]["job"] == "tinybert-4  onnx-fp32  onnxruntime"
    text = io.StringIO()
    Console(file=text, width=120).print(p.table())
    table = text.getvalue()
    assert "1 of 3 job(s) done, 0:12 elapsed, about 0:24 left" in table
    assert "board" in table and "0:12" in table and "ok  p50 13.37 ms" in table
    p.close()
    assert "local  tinybert-4  onnx-fp32  onnxruntime  ok" in p._console.file.getvalue()


def test_the_runner_speaks_in_typed_events_that_say_themselves(tmp_path, tiny_onnx) -> None:
    """Issue 22: the progress printer subscribes to the runner's events instead of parsing its lines; every event
    still says itself as the plain line (CI logs, tests)."""
    import hashlib

    from bench.run.events import CeilingsMeasured, JobFinished, JobStarted, RunFinished, RunStarted, counts
    from bench.plan.inventory import local_device
    from bench.plan.jobs import ArtifactRef, plan_jobs
    from bench.run.progress import ProgressPrinter
    from bench.run.runner import run_plan
    from bench.results.store import RunStore

    art = ArtifactRef(model="tiny", variant="onnx-file", format="onnx", runtime="onnxruntime", path=str(tiny_onnx),
                      sha256=hashlib.sha256(tiny_onnx.read_bytes()).hexdigest())
    device = local_device()
    jobs = plan_jobs([device.name], [art], None, {}, {"min_runs": 5, "min_seconds": 0.0, "warmup_runs": 1,
                                                      "sample_rate_hz": 0}, 120.0)
    store = RunStore.create(jobs, ["test"], base=tmp_path / "results")
    seen, lines = [], []
    printer = ProgressPrinter(len(jobs), out=lines.append, tty=False)

    def both(event) -> None:
        seen.append(event)
        printer.handle(event)

    run_plan(store, jobs, {device.name: device}, events=both)
    started = [e for e in seen if isinstance(e, JobStarted)]
    finished = [e for e in seen if isinstance(e, JobFinished)]
    assert len(started) == len(finished) == 1 and counts(seen) == {"ok": 1}
    assert finished[0].line().startswith("[1/1] local  tiny  onnx-file  onnxruntime  ok")
    assert printer.finished == 1 and any(ln.startswith("[1/1 ") and " ok " in ln for ln in lines)
    # the run itself: started first, finished last with the stored counts; no ceilings asked for (skip), none said;
    # these records print nothing in the terminal
    assert isinstance(seen[0], RunStarted) and seen[0].run_id == store.run_id and seen[0].jobs == 1
    assert seen[0].devices == ("local",)
    assert isinstance(seen[-1], RunFinished) and seen[-1].counts == {"ok": 1} and seen[-1].stopped == ""
    assert seen[-1].seconds > 0 and not any(isinstance(e, CeilingsMeasured) for e in seen)
    assert not any(ln.strip() == "" for ln in lines)
