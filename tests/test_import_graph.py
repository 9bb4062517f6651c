"""No import cycles in the host side or the agent (issue 22): an ``ast`` walk of every import, at module level and
inside functions (tests/import_graph.py). Four pairs imported each other before: columnar/store,
analysis.roofline/ceilings, cli/lab.cli, runtimes.tensorrt/trtexec_run."""

from __future__ import annotations

from tests.import_graph import ROOMS, cycles, edges, modules, room_of, upward


def test_no_module_imports_itself_round_about() -> None:
    for package in ("bench", "device_agents", "models"):
        found = cycles(edges(modules(package)))
        assert not found, "import cycles in %s: %s" % (package, "; ".join(" <-> ".join(c) for c in found))


def test_the_walk_finds_a_cycle_when_there_is_one(tmp_path) -> None:
    pkg = tmp_path / "p"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import x\n")
    (pkg / "c.py").write_text("import p.a\n")
    assert cycles(edges(modules("p", tmp_path))) == [["p.a", "p.b"]]


def test_host_rooms_import_only_rooms_before_them() -> None:
    graph = edges(modules("bench"))
    unplaced = sorted(m for m in graph if room_of(m)[0] < 0)
    assert not unplaced, "modules in no room: %s (add the folder to tests/import_graph.ROOMS)" % unplaced
    up = upward(graph)
    assert not up, "imports into a later room: %s" % "; ".join("%s -> %s" % mt for mt in up)
    assert room_of("bench.run.runner")[0] > room_of("bench.results.store")[0] > room_of("bench.plan.jobs")[0]
    assert room_of("bench.report.render")[0] > room_of("bench.run.runner")[0]


def test_the_walk_finds_an_import_into_a_later_room(tmp_path) -> None:
    pkg = tmp_path / "bench"
    (pkg / "results").mkdir(parents=True)
    (pkg / "report").mkdir()
    for init in (pkg / "__init__.py", pkg / "results" / "__init__.py", pkg / "report" / "__init__.py"):
        init.write_text("")
    (pkg / "report" / "render.py").write_text("from ..results import store\n")
    (pkg / "results" / "store.py").write_text("def f():\n    from bench.report.render import x\n")
    assert upward(edges(modules("bench", tmp_path))) == [("bench.results.store", "bench.report.render")]
    assert len(ROOMS) == 9


def test_public_names_stay_importable() -> None:
    """``from bench import data`` (the pandas API) and ``bench.history``'s catalogue names, as the README shows."""
    import bench.data
    import bench.history.data
    from bench.history import Catalog, Filters, open_catalog

    assert bench.data is bench.history.data and callable(bench.data.jobs)
    assert Catalog.__module__ == Filters.__module__ == open_catalog.__module__ == "bench.history.catalogue"
