"""Issue 25: plots a person can read and tables that fit — the parts of it a unit test can hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import pytest
from matplotlib.text import Text

from bench.report import plots


def _capture(monkeypatch: pytest.MonkeyPatch) -> List[Any]:
    """The figures the plot functions save (drawn, before they are closed)."""
    figs: List[Any] = []
    real = plots._save

    def save(fig: Any, out: Path, layout: bool = True) -> Path:
        fig.canvas.draw()
        figs.append(fig)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"")
        return out

    monkeypatch.setattr(plots, "_save", save)
    assert real is not save
    return figs


def _number_boxes(fig: Any) -> List[Any]:
    renderer = fig.canvas.get_renderer()
    return [Text.get_window_extent(t, renderer) for ax in fig.axes for t in ax.texts  # the text, not its leader line
            if t.get_text().strip().isdigit()]


def _overlaps(boxes: List[Any]) -> List[tuple]:
    return [(i, j) for i, a in enumerate(boxes) for j, b in enumerate(boxes) if i < j and a.overlaps(b)]


def test_variants_of_one_model_share_its_fp32_parameter_count() -> None:
    """An old stored run counted more parameters for INT8 (scales, zero points): every precision of a model sits
    on its FP32 x; a pruned FP32 variant (another network) keeps its own count."""
    pts = [{"model": "m", "precision": "fp32", "params": 22565381},
           {"model": "m", "precision": "int8", "params": 22606859},
           {"model": "m", "precision": "int8", "params": 22503160},
           {"model": "m", "precision": "fp16", "params": 22565999},
           {"model": "m", "precision": "fp32", "params": 17241989},  # onnx-fp32-layers50
           {"model": "m", "precision": "int8", "params": 17300000},  # its quantised copy: nearest FP32 count
           {"model": "q", "precision": "int8", "params": 1000}, {"model": "q", "precision": "fp16", "params": 990}]  # no
    # FP32 of q: its FP16 count stands for it
    assert plots.shared_params(pts) == [22565381, 22565381, 22565381, 22565381, 17241989, 17241989, 990, 990]


def _roof_point(i: int) -> Dict[str, Any]:
    return {"model": "model-%d" % (i % 4), "variant": ["onnx-fp32", "onnx-int8-dynamic", "tflite-fp32"][i % 3],
            "runtime": ["onnxruntime", "onnxruntime", "litert"][i % 3], "precision": ["fp32", "int8", "fp32"][i % 3],
            "arithmetic_intensity": 9.0 + 0.4 * (i % 5), "attained_gops": 40.0 + 3.0 * (i % 6),
            "attained_gbps": 4.0 + 0.2 * (i % 6), "params": 14.35e6, "efficiency": 0.3, "bandwidth_gbps": 16.0,
            "run_id": "run-%d" % (i // 8)}


def test_roofline_numbers_never_overlap_at_sixteen_clustered_points(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    figs = _capture(monkeypatch)
    measured = {"bandwidth_gbps": 16.2, "peaks": {"onnxruntime/fp32": {"gops": 102.0, "precision": "fp32",
                                                                        "runtime": "onnxruntime"}}}
    plots.roofline("local", [_roof_point(i) for i in range(16)], measured, None, tmp_path / "r.png")
    boxes = _number_boxes(figs[0])
    assert len(boxes) == 16 and not _overlaps(boxes)
    key = [t.get_text() for t in figs[0].axes[0].texts if "\n" in t.get_text()][0]
    assert "run-0" in key and "run-1" in key  # two runs' alike points say their run


def test_bandwidth_plot_numbers_both_axes_alike_without_overlap(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "b.png"
    plots.bandwidth_bottleneck("local", [_roof_point(i) for i in range(12)], out)
    assert out.stat().st_size > 0
    figs: List[Any] = []
    monkeypatch.setattr(plots.plt, "close", lambda fig: figs.append(fig))
    plots.bandwidth_bottleneck("local", [_roof_point(i) for i in range(12)], out)
    ax1, ax2 = figs[0].axes
    figs[0].canvas.draw()
    renderer = figs[0].canvas.get_renderer()
    for ax in (ax1, ax2):
        boxes = [Text.get_window_extent(t, renderer) for t in ax.texts if t.get_text().strip().isdigit()]
        assert len(boxes) == 12 and not _overlaps(boxes)
        assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] > max(y for c in ax.collections for _, y in c.get_offsets())


def test_energy_plot_marks_invalid_points_and_the_front(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    figs = _capture(monkeypatch)
    pts = [{"model": "m", "variant": "v%d" % i, "runtime": "onnxruntime", "p50_ms": 10.0 + i, "energy_mj": 50.0 - 2 * i,
            "valid": i != 3} for i in range(10)]
    plots.energy_efficiency("local", pts, "", tmp_path / "e.png")
    ax = figs[0].axes[0]
    labels = ax.get_legend().get_texts()
    assert any("not valid" in t.get_text() for t in labels) and any("Pareto" in t.get_text() for t in labels)
    boxes = _number_boxes(figs[0])
    assert len(boxes) == 10 and not _overlaps(boxes)


def test_no_energy_panel_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    figs = _capture(monkeypatch)
    plots.energy_efficiency("local", [], "no power or energy sensor on this device", tmp_path / "e.png")
    assert any("no power or energy sensor" in t.get_text() for t in figs[0].axes[0].texts)


def test_comparison_axis_is_fitted_to_the_largest_bar(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Issue 25: the axis ran to 6.7 for a largest bar of 2.57; a whisker past the edge is said in the text."""
    figs = _capture(monkeypatch)
    rows = [{"device": "local", "model": "m", "variant": v, "runtime": "onnxruntime", "speedup": s, "speedup_low": s / 2,
             "speedup_high": s * 2.3, "p50_ms": 10.0 / s, "valid": "NO", "run_id": "r"}
            for v, s in (("onnx-fp32", 1.0), ("onnx-int8-dynamic", 2.57))]
    plots.framework_comparison(rows, tmp_path / "c.png")
    ax = figs[0].axes[0]
    assert 2.57 < ax.get_xlim()[1] <= 2.57 * 1.15
    assert any("CI to 5.91x" in t.get_text() for t in ax.texts)


def test_history_table_shows_the_ci_as_bench_history_prints_it() -> None:
    """The report's History table had "—" for every CI95 (report_rows carries the low and high, not ``ci95``)."""
    from bench.report.render import history_table

    hist = [{"time_utc": "2026-12-07T04:40:58", "run_id": "r1", "device": "local", "model": "m", "variant": "v",
             "runtime": "onnxruntime", "options": "{}", "n": 30, "p50_ms": 32.93, "p50_ci95_low_ms": 15.734,
             "p50_ci95_high_ms": 37.571, "valid": False, "validity_warnings": "high_cv", "baseline_p50_ms": None,
             "band_pct": None, "change_pct": None, "verdict": "invalid"}]
    rows, columns, folded = history_table(hist)
    assert rows[0]["ci95"] == "15.73–37.57" and rows[0]["time_utc"] == "2026-12-07 04:40"
    keys = [k for k, _ in columns]
    assert "ci95" in keys and "options" not in keys and "baseline_p50_ms" not in keys  # empty in every row
    assert [k for k, _ in folded] == ["validity_warnings"]


def test_roofline_bound_keeps_the_verdict_and_points_to_the_doubts_once() -> None:
    from bench.report.render import short_bound

    assert short_bound("memory; roof not trusted: fp32 peak still moving by 25 %; STREAM moving") == (
        "memory; roof not trusted (see Device ceilings)")
    assert short_bound("compute") == "compute" and short_bound(None) is None


def test_a_run_id_breaks_only_after_its_date() -> None:
    from bench.report.render import _break_id

    assert str(_break_id("20261207-043950-6750")) == '20261207-<wbr><span class="nw">043950-6750</span>'
    assert str(_break_id("2026-12-07 04:40")) == "2026-12-07 04:40" and str(_break_id("<r>")) == "&lt;r&gt;"


def test_log_axes_write_plain_numbers_not_mathtext() -> None:
    """0.2, 10, 1000 on a log axis — not 2×10⁻¹ (mathtext, whose parser was most of a report's plotting time)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    plots.log_axis(ax, "x")
    plots.log_axis(ax, "y", base=2)
    ax.set_xlim(0.15, 2000)
    ax.set_ylim(1, 64)
    fig.canvas.draw()
    xs = [t.get_text() for t in ax.get_xticklabels() + ax.get_xticklabels(minor=True) if t.get_text()]
    ys = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    plt.close(fig)
    assert {"1", "10", "100", "1000"} <= set(xs) and not any("$" in t or "e" in t for t in xs)
    assert {"2", "8", "32"} <= set(ys) and not any("$" in t for t in ys)
