"""Run configuration files: flags from YAML, command line wins, bad keys refused, run.yaml saved and reusable."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.cli.main import _subparser, build_parser
from bench.plan.runconfig import ConfigError, load
from tests.bench.cli.test_cli_run import QUICK, bench, only_run


def run_parser():
    return _subparser(build_parser(), "run")


def test_settings_take_flag_names_and_types(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("models: [tinybert-4, mobilevit-xs]\nmin-seconds: 2\nruns: 10\nstrict: true\n"
                   "option: [onnxruntime.threads=2]\nshapes: input_ids:1x64\n")
    got = load(cfg, run_parser())
    assert got == {"models": ["tinybert-4", "mobilevit-xs"], "min_seconds": 2.0, "runs": 10, "strict": True,
                   "option": ["onnxruntime.threads=2"], "shapes": ["input_ids:1x64"]}


@pytest.mark.parametrize("text,why", [("rusn: 5\n", "unknown setting 'rusn'"), ("runs: many\n", "runs must be int"),
                                      ("ceilings: always\n", "ceilings must be one of"), ("- a\n", "a mapping"),
                                      ("runs: [\n", "not valid YAML"), ("strict: 1\n", "true or false")])
def test_bad_settings_are_refused_naming_the_key(tmp_path: Path, text: str, why: str) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=why):
        load(cfg, run_parser())


@pytest.mark.slow  # over 7 s: make test, not the edit loop
def test_a_run_from_a_config_saves_what_reproduces_it(tmp_path: Path, tiny_onnx: Path) -> None:
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("model_file: [%s]\nceilings: skip\nruns: 5\nmin_seconds: 0\nwarmup: 1\nbatch: 2\n" % tiny_onnx)
    proc = bench(["run", "--config", str(cfg), "--runs", "7"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = only_run(tmp_path / "results")
    saved = yaml.safe_load((run / "run.yaml").read_text())
    assert saved["runs"] == 7 and saved["batch"] == 2 and saved["model_file"] == [str(tiny_onnx)]  # the flag won
    assert "python -m bench run --config results/%s/run.yaml" % run.name in (run / "run.yaml").read_text()
    again = bench(["run", "--config", str(run / "run.yaml")])
    assert again.returncode == 0, again.stdout + again.stderr
    assert "inputs 2x64" in again.stdout.split("device: local")[-1]  # said once in the device heading
    proc = bench(["run", "--config", str(tmp_path / "missing.yaml")])
    assert proc.returncode == 2 and "cannot read it" in proc.stderr
