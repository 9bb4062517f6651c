"""Plots as PNG files (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def latency_distribution(results: List[Dict[str, Any]], device: str, out: Path) -> Path:
    """One horizontal box-and-strip plot per device: every raw latency of every measured job."""
    ok = [r for r in results if r.get("status") == "ok" and r.get("latencies_ms")]
    labels = ["%s · %s · %s" % (r["model_name"], r["variant"], r["runtime_name"]) for r in ok]
    data = [r["latencies_ms"] for r in ok]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.55 * max(1, len(ok))))
    if data:
        ax.boxplot(data, vert=False, whis=(1, 99), showfliers=False, widths=0.5)
        for i, d in enumerate(data, start=1):
            jitter = [i + (k % 7 - 3) * 0.04 for k in range(len(d))]
            ax.scatter(d, jitter, s=4, alpha=0.35, color="tab:blue", linewidths=0)
        ax.set_yticks(range(1, len(labels) + 1))
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_xlabel("latency per inference (ms) — box: quartiles, whiskers: p1–p99, dots: every run")
        lo = min(min(d) for d in data)
        hi = max(max(d) for d in data)
        if hi / max(lo, 1e-9) > 20:
            ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "no successful measurements on this device", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_yticks([])
    ax.invert_yaxis()  # plan order from the top
    ax.set_title("Latency distribution on %s" % device, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
