"""Run progress lines: elapsed time and an ETA from the finished jobs; other lines untouched."""

from __future__ import annotations

from typing import List

from bench.progress import ProgressPrinter


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
