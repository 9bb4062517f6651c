"""The agent must run on Python 3.8 (JetPack 5) and must not import the host package."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

AGENT = Path(__file__).resolve().parents[2] / "device_agents"
ALLOWED_THIRD_PARTY = {"numpy", "onnxruntime", "ai_edge_litert", "tflite_runtime", "tensorflow", "psutil", "pynvml", "coremltools",
                       "torch", "executorch", "tensorrt"}


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_agent_imports_only_stdlib_and_runtimes() -> None:
    stdlib = set(sys.stdlib_module_names)
    for path in AGENT.rglob("*.py"):
        for name in _imports(path):
            assert name not in ("bench", "models"), "%s imports %s" % (path, name)
            assert name in stdlib or name in ALLOWED_THIRD_PARTY or name == "device_agents", (path, name)


def test_agent_syntax_and_stdlib_fit_python_38() -> None:
    for path in AGENT.rglob("*.py"):
        ast.parse(path.read_text(), feature_version=(3, 8))
    pytest.importorskip("vermin")
    proc = subprocess.run([str(Path(sys.executable).parent / "vermin"), "--no-tips", "--violations", "-t=3.8-",
                           "--backport", "dataclasses", str(AGENT)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
