"""No import cycles in the host side or the agent (issue 22): an ``ast`` walk of every import, at module level and
inside functions (tests/import_graph.py). Four pairs imported each other before: columnar/store,
analysis.roofline/ceilings, cli/lab.cli, runtimes.tensorrt/trtexec_run."""

from __future__ import annotations

from tests.import_graph import cycles, edges, modules


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
