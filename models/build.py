"""Build zoo artifacts (model × variant) into the cache; failures are recorded with the converter's error."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from . import cache
from .zoo import ModelEntry, Variant, Zoo, load_zoo

#: Bump a recipe's revision when its converter changes what it writes (only its artifacts rebuild).
RECIPE_REVISIONS = {"ort-dynamic-int8-per-channel": 2}
#: Bump a family's revision when its representative weights change (only its artifacts rebuild).
#: mobilebert 2: NoNorm scales calibrated (outputs were ~1e12 with plain random weights).
WEIGHTS_REVISIONS = {"mobilebert": 2}
_EXT = {"onnx": ".onnx", "tflite": ".tflite", "coreml": ".mlpackage.zip", "pt2": ".pt2", "pte": ".pte"}
SEED = 0


@dataclass
class Artifact:
    """A built (or failed) model file and what the harness needs to run it. Sizes in bytes."""

    model: str
    variant: str
    format: str
    runtime: str
    status: str                       # built | failed
    path: Optional[str] = None
    sha256: Optional[str] = None
    file_bytes: Optional[int] = None
    params: Optional[int] = None
    build_s: Optional[float] = None
    error: Optional[str] = None
    cached: bool = False
    input_hints: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    seq_len: int = 128
    stats: Dict[str, Any] = field(default_factory=dict)
    #: The variant's runtime options (models/zoo.yaml ``options``), e.g. {"precision": "fp16"}.
    runtime_options: Dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)


class _Builds:
    """Per-process memo of built PyTorch modules (and fidelity inputs), so variants share them."""

    def __init__(self) -> None:
        self._built: Dict[Any, Any] = {}
        self.feeds: Dict[str, Any] = {}
        self.references: Dict[str, Any] = {}

    def forget(self, entry: ModelEntry) -> None:
        """Drop a model's modules once its variants are done (BERT-base is 440 MB each)."""
        for key in [k for k in self._built if k[0] == entry.name]:
            del self._built[key]
        self.feeds.pop(entry.name, None)
        self.references.pop(entry.name, None)

    def get(self, entry: ModelEntry, prune: Optional[Dict[str, float]] = None) -> Any:
        key = (entry.name, tuple(sorted((prune or {}).items())))
        if key not in self._built:
            from .builders import build
            from .builders.weights import check_reference

            built = build(entry, SEED, prune)
            # fail loudly: a non-finite or exploded reference output means the weights describe no real model
            check_reference(built.module, built.example_kwargs, "%s%s" % (entry.name, " %s" % prune if prune else ""))
            self._built[key] = built
        return self._built[key]


#: Seconds between "still converting" lines when the output is not a terminal (CI, logs).
HEARTBEAT_S = 30.0


def _size(nbytes: int) -> str:
    return "%.1f MB" % (nbytes / 1e6) if nbytes >= 1e5 else "%d bytes" % nbytes


@contextlib.contextmanager
def _heartbeat(what: str) -> Any:
    """While a conversion runs (its own output goes to build.log), show that it is alive: on a terminal
    one line updated every second with the elapsed time; elsewhere a plain line every HEARTBEAT_S s.
    Writes to a copy of the terminal's stdout taken before the converters' output is redirected."""
    import threading

    out = os.fdopen(os.dup(1), "w", buffering=1)
    tty = out.isatty()
    stop = threading.Event()
    start = time.monotonic()

    def beat() -> None:
        while not stop.wait(1.0 if tty else HEARTBEAT_S):
            elapsed = time.monotonic() - start
            if tty:
                out.write("\r  converting %s … %d s" % (what, elapsed))
            else:
                out.write("  … still converting %s (%d s)\n" % (what, elapsed))
            out.flush()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)
        if tty and time.monotonic() - start >= 1.0:
            out.write("\r\033[K")
        out.close()


@contextlib.contextmanager
def _quiet(log_path: Path) -> Any:
    """Send the converters' chatter (they write to the C-level stdout/stderr) to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _recipe(entry: ModelEntry, variant: Variant) -> Dict[str, Any]:
    recipe = {"model": entry.name, "family": entry.family, "config": entry.config, "seq_len": entry.seq_len,
              "variant": variant.name, "format": variant.format, "recipe": variant.recipe, "seed": SEED,
              "prune": variant.prune}
    if RECIPE_REVISIONS.get(variant.recipe):  # only revised recipes change their key
        recipe["recipe_revision"] = RECIPE_REVISIONS[variant.recipe]
    if WEIGHTS_REVISIONS.get(entry.family):
        recipe["weights_revision"] = WEIGHTS_REVISIONS[entry.family]
    return recipe


def build_artifact(zoo: Zoo, entry: ModelEntry, variant: Variant, force: bool = False,
                   builds: Optional[_Builds] = None, log: Callable[[str], None] = lambda s: None) -> Artifact:
    """The artifact for ``entry`` × ``variant``: from the cache if there, else built now."""
    builds = builds or _Builds()
    key = cache.cache_key(_recipe(entry, variant))
    directory = cache.artifact_dir(entry.name, variant.name, key)
    out = directory / ("model" + _EXT[variant.format])
    base = Artifact(model=entry.name, variant=variant.name, format=variant.format, runtime=variant.runtime,
                    status="failed", input_hints=entry.input_hints(), seq_len=entry.seq_len,
                    runtime_options=dict(variant.options))
    record = None if force else cache.read_record(directory)
    if record is not None and (record["status"] == "failed" or out.exists()):
        return Artifact(**{**record, "cached": True, "runtime_options": dict(variant.options)})
    with cache.build_lock(directory):  # another process building the same artifact: wait for it, then read its record
        record = None if force else cache.read_record(directory)
        if record is not None and (record["status"] == "failed" or out.exists()):
            return Artifact(**{**record, "cached": True, "runtime_options": dict(variant.options)})
        return _build_locked(zoo, entry, variant, base, directory, out, builds, log)


def _build_locked(zoo: Zoo, entry: ModelEntry, variant: Variant, base: Artifact, directory: Path, out: Path,
                  builds: _Builds, log: Callable[[str], None]) -> Artifact:
    """Build ``entry`` x ``variant`` into ``out`` under its build lock; the record written last."""
    from .convert import recipe as get_recipe

    convert, parent_name = get_recipe(variant.recipe)
    start = time.perf_counter()
    try:
        if parent_name is not None:
            parent = build_artifact(zoo, entry, zoo.variant(parent_name), force=False, builds=builds, log=log)
            if parent.status != "built":
                raise RuntimeError("needs %s, which failed: %s" % (parent_name, parent.error))
            directory.mkdir(parents=True, exist_ok=True)
            log("  converting %s/%s from %s" % (entry.name, variant.name, parent_name))
            with _heartbeat("%s/%s" % (entry.name, variant.name)), _quiet(directory / "build.log"):
                convert(Path(parent.path), out, entry)
            params = parent.params
        else:
            directory.mkdir(parents=True, exist_ok=True)
            log("  converting %s/%s" % (entry.name, variant.name))
            with _heartbeat("%s/%s" % (entry.name, variant.name)), _quiet(directory / "build.log"):
                built = builds.get(entry, variant.prune)
                convert(built, out, entry)
            params = int(sum(p.numel() for p in built.module.parameters()))
        if _INTERRUPTED.is_set():  # Ctrl-C swallowed inside the converter (a finaliser, a broad except): the
            raise KeyboardInterrupt()  # output may be whatever was written then, so it is never recorded as built
        base.status = "built"
        base.path = str(out)
        base.sha256 = cache.sha256_file(out)
        base.file_bytes = out.stat().st_size
        base.params = params
    except Exception as exc:  # converters raise anything; the error is the record
        if _INTERRUPTED.is_set():  # Ctrl-C inside a converter that turned it into another error (transformers'
            raise KeyboardInterrupt() from exc  # lazy imports do): an interruption, never a cached failure
        base.error = "%s: %s" % (type(exc).__name__, str(exc).strip()[:2000])
        base.path = None
        log("  FAILED %s/%s: %s (log: %s)" % (entry.name, variant.name, base.error.splitlines()[0][:200],
                                               directory / "build.log"))
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / "build.log", "a") as fh:
            traceback.print_exc(file=fh)
    base.build_s = round(time.perf_counter() - start, 3)
    if base.status == "built":
        log("  built %s/%s in %.1f s (%s)" % (entry.name, variant.name, base.build_s,
                                            _size(base.file_bytes or 0)))
    cache.write_record(directory, base.to_json())
    return base


#: Set by Ctrl-C while build_all runs: a converter that swallows KeyboardInterrupt (and raises something
#: else) must not get its "failure" recorded in the cache.
_INTERRUPTED = threading.Event()


@contextlib.contextmanager
def _note_interrupts() -> Any:
    """Remember a SIGINT — or a SIGTERM that the caller turns into KeyboardInterrupt (the CLI does) — then do
    what the signal did before, while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: Any) -> None:
        _INTERRUPTED.set()
        before = previous[signum]
        if callable(before):
            before(signum, frame)
        else:
            raise KeyboardInterrupt()

    _INTERRUPTED.clear()
    # a SIGTERM left to its default still ends the process; a handler set outside Python (None) is left alone
    replaced = [signum for signum, before in previous.items()
                if before is not None and (signum == signal.SIGINT or callable(before))]
    for signum in replaced:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum in replaced:
            signal.signal(signum, previous[signum])


def build_all(names: List[str], variants: Optional[List[str]] = None, force: bool = False,
              log: Callable[[str], None] = print) -> List[Artifact]:
    """Build every named model (or set) in every variant; returns one Artifact per pair."""
    with _note_interrupts():
        return _build_all(names, variants, force, log)


def _build_all(names: List[str], variants: Optional[List[str]], force: bool,
               log: Callable[[str], None]) -> List[Artifact]:
    zoo = load_zoo()
    entries = zoo.expand(names)
    wanted = variants or zoo.default_variants
    if wanted == ["all"]:
        wanted = list(zoo.variants)
    chosen = [zoo.variant(v) for v in wanted]
    builds = _Builds()
    out = []
    for entry in entries:
        for variant in chosen:
            if variant.applies_to(entry.task):
                out.append(build_artifact(zoo, entry, variant, force=force, builds=builds, log=log))
        add_stats(zoo, entry, [a for a in out if a.model == entry.name], builds, log)
        builds.forget(entry)
    return out


def add_stats(zoo: Zoo, entry: ModelEntry, arts: List[Artifact], builds: _Builds,
              log: Callable[[str], None]) -> None:
    """Attach stats.json (size, params, MACs/FLOPs, bytes) to each built artifact of one model."""
    from .stats import load_or_make

    reference: Optional[Path] = None
    if any(a.status == "built" and a.format != "onnx" for a in arts):
        ref = build_artifact(zoo, entry, zoo.variant("onnx-fp32"), builds=builds, log=log)
        reference = Path(ref.path) if ref.status == "built" and ref.path else None
    for a in arts:
        if a.status == "built" and a.path:
            a.stats = load_or_make(Path(a.path).parent, Path(a.path), a.format, a.seq_len, reference)
            if "fidelity" not in a.stats:
                a.stats["fidelity"] = _fidelity(entry, a, builds)
                (Path(a.path).parent / "stats.json").write_text(json.dumps(a.stats, indent=1, sort_keys=True))


def _fidelity(entry: ModelEntry, art: Artifact, builds: _Builds) -> Dict[str, Any]:
    """Fidelity of one artifact against the fp32 PyTorch reference; an error is recorded, not raised."""
    from .calibration import feeds_for
    from .fidelity import fidelity, reference_outputs

    from .fidelity import RUNTIME_OF_FORMAT

    if RUNTIME_OF_FORMAT.get(art.format, art.runtime) != art.runtime:
        return {"cosine_mean": None, "reason": (
            "%s runs this %s file in an engine built on the device (per GPU and %s version); the host cannot "
            "run it, so its fidelity is not measured here (the file's own, under %s: variant %s)"
            % (art.runtime, art.format, art.runtime, RUNTIME_OF_FORMAT[art.format], art.variant))}
    try:
        with _quiet(Path(art.path).parent / "build.log"):
            built = builds.get(entry)
            if entry.name not in builds.feeds:
                builds.feeds[entry.name] = feeds_for(entry, 8)
                builds.references[entry.name] = reference_outputs(built, builds.feeds[entry.name])
            return fidelity(built, entry, art.path, art.format, builds.feeds[entry.name], builds.references[entry.name])
    except Exception as exc:
        return {"cosine_mean": None, "reason": "fidelity run failed: %s: %s" % (type(exc).__name__, str(exc)[:300])}
