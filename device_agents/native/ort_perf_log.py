"""Parse ``onnxruntime_perf_test`` output into the harness's terms (ms, bytes).

The tool prints (onnxruntime/test/perftest/performance_runner.cc) ``Session creation time cost: X s``,
``First inference time cost: X ms`` (newer builds), ``Total inference requests: N``, ``Average inference
time cost[ total]: X ms``, ``Total inference run time: X s``, ``Peak working set size: N bytes`` and
``Min/Max/P50/P90/P95/P99/P999 Latency: X s`` (older builds: ``Min Latency is X sec``). No standard
deviation and no per-run samples: those stay null, with the reason.
"""

from __future__ import annotations

import re
from typing import Any, Dict

_NUM = r"([0-9.eE+-]+)"


class OrtPerfLogError(ValueError):
    """The output has no timed run; the message says why."""


#: (pattern, where, key, conversion, first match only): one line of output each.
_LINES = [
    (r"Session creation time cost: ?%s s" % _NUM, "out", "load_ms", lambda v: float(v) * 1e3, False),
    (r"First inference time cost: ?%s ms" % _NUM, "out", "first_inference_ms", float, False),
    (r"Total inference requests: ?(\d+)", "summary", "n", int, False),
    (r"Average inference time cost(?: total)?: ?%s ms" % _NUM, "summary", "mean_ms", float, False),
    (r"Total inference run time: ?%s s" % _NUM, "out", "window_s", float, False),
    (r"Peak working set size: ?(\d+)", "out", "peak_memory_bytes", int, True),
    (r"(?:Avg|Total) CPU usage: ?(\d+)", "out", "cpu_usage_pct", int, True),
    (r"Setting intra_op_num_threads to (\d+)", "out", "num_threads", int, False),
]
_PERCENTILE = re.compile(r"(Min|Max|P50|P90|P95|P99|P999) Latency(?::| is) ?%s s" % _NUM)


def parse_output(text: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {"load_ms": None, "first_inference_ms": None, "summary_ms": None, "window_s": None,
                           "peak_memory_bytes": None, "cpu_usage_pct": None, "num_threads": None}
    summary: Dict[str, Any] = {}
    for raw in text.splitlines():
        ln = raw.strip()
        for pattern, where, key, conv, first_only in _LINES:
            m = re.match(pattern, ln)
            target = out if where == "out" else summary
            if m and not (first_only and target.get(key) is not None):
                target[key] = conv(m.group(1))
        m = _PERCENTILE.match(ln)
        if m:
            summary[m.group(1).lower() + "_ms"] = float(m.group(2)) * 1e3
    if "n" not in summary or "mean_ms" not in summary:
        tail = [ln for ln in text.splitlines() if ln.strip()][-1:] or ["no output"]
        raise OrtPerfLogError("onnxruntime_perf_test printed no timed run (last line: %s)" % tail[0].strip()[:200])
    out["summary_ms"] = summary
    return out
