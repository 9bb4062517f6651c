"""Run configuration files: ``bench run --config run.yaml`` holds the same settings as the run flags
(``models: [tinybert-4]``, ``runs: 100``, ``option: [onnxruntime.threads=2]``, ``shapes: [input_ids:1x64]``);
flags given on the command line win. Every run saves its effective settings as ``run.yaml`` beside its
results, with the command that reproduces it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, List

import yaml

#: Settings that describe the run rather than what to run (never written to, or read from, a config).
NOT_CONFIG = {"func", "command", "resume", "config", "inventory", "lab_command"}


class ConfigError(ValueError):
    """The config file is unreadable or names an unknown setting; the message says which and how to fix it."""


def settings(parser: argparse.ArgumentParser) -> Dict[str, argparse.Action]:
    """The run parser's settings a config may hold, by name (dest: ``min_seconds``; ``min-seconds`` also works)."""
    return {a.dest: a for a in parser._actions if a.dest not in NOT_CONFIG and a.option_strings
            and a.dest != "help"}


def load(path: Path, parser: argparse.ArgumentParser) -> Dict[str, Any]:
    """The settings in ``path`` as parser defaults; ConfigError names an unknown key or a wrong type."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError("--config %s: cannot read it (%s)" % (path, exc.strerror))
    except yaml.YAMLError as exc:
        raise ConfigError("--config %s: not valid YAML (%s)" % (path, str(exc).splitlines()[0]))
    if not isinstance(data, dict):
        raise ConfigError("--config %s: expected a mapping of settings (e.g. models: [tinybert-4])" % path)
    known = settings(parser)
    out: Dict[str, Any] = {}
    for key, value in data.items():
        dest = str(key).replace("-", "_")
        if dest not in known:
            raise ConfigError("--config %s: unknown setting %r (known: %s)" % (path, key, ", ".join(sorted(known))))
        action = known[dest]
        if value is None:  # as saved for a flag that was not given
            out[dest] = None
            continue
        if isinstance(action, argparse._AppendAction):
            value = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        elif isinstance(action, argparse._StoreTrueAction):
            if not isinstance(value, bool):
                raise ConfigError("--config %s: %s must be true or false, not %r" % (path, key, value))
        else:
            try:
                value = action.type(value) if action.type else value
            except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
                raise ConfigError("--config %s: %s must be %s, not %r%s" % (path, key, action.type.__name__, value,
                                                                            " (%s)" % exc if str(exc) else ""))
            if action.choices and value not in action.choices:
                raise ConfigError("--config %s: %s must be one of %s, not %r"
                                  % (path, key, ", ".join(map(str, action.choices)), value))
        out[dest] = value
    return out


def effective(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Dict[str, Any]:
    """What the run used, every setting (defaults included), as a config file would hold it."""
    return {dest: getattr(args, dest) for dest in sorted(settings(parser)) if hasattr(args, dest)}


def dump(config: Dict[str, Any], run_id: str) -> str:
    header = ("# edgebench run %s: its effective settings. Reproduce with:\n"
              "#   python -m bench run --config results/%s/run.yaml\n" % (run_id, run_id))
    return header + yaml.safe_dump(config, sort_keys=True, default_flow_style=False)


def flag_names(parser: argparse.ArgumentParser) -> List[str]:
    return sorted(settings(parser))
