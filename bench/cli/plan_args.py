"""The plan flags ``bench run`` and ``lab submit`` share, and planning from them: every flag defined once, every
value checked before any work (a UsageError or an argparse error names the flag and the fix), models built or
found, files checked, jobs planned. ``bench.cli.main`` (the commands) and ``bench.lab`` (the lab's commands) both
import from here, so neither imports the other."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..paths import slug_name
from ..plan.jobs import ArtifactRef, plan_jobs


FORMAT_RUNTIME = {".onnx": ("onnx", "onnxruntime"), ".tflite": ("tflite", "litert"), ".zip": ("coreml", "coreml"),
                  ".pt2": ("pt2", "torch"), ".pte": ("pte", "executorch"),
                  ".engine": ("engine", "tensorrt"), ".plan": ("engine", "tensorrt")}


class UsageError(ValueError):
    pass


class OutOfRange(argparse.ArgumentTypeError, ValueError):
    """A flag's number outside what it can mean (argparse reports it before any work starts)."""


def at_least(kind: type, low: float, strict: bool = False, what: str = "") -> Any:
    """An argparse ``type`` that parses ``kind`` and refuses values below ``low`` (or equal to it when
    ``strict``), naming the smallest value that works and what the flag is for."""
    def parse(text: Any) -> Any:
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise OutOfRange("%r is not %s" % (text, "a whole number" if kind is int else "a number"))
        if value != value or value < low or (strict and value == low):
            raise OutOfRange("%s is out of range: give %s %s%s" % (
                text, "more than" if strict else "at least", low if kind is float else int(low),
                " (%s)" % what if what else ""))
        return value

    parse.__name__ = "%s %s %s" % (kind.__name__, ">" if strict else ">=", low)
    return parse


def _split(values: Optional[List[str]]) -> List[str]:
    out: List[str] = []
    for v in values or []:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {"true": True, "false": False}.get(text.lower(), text)


def runtime_options(args: argparse.Namespace) -> Dict[str, Dict[str, Any]]:
    """``--threads`` for every runtime, then ``--option runtime.key=value`` on top."""
    from device_agents.runtimes import canonical_name, runtime_names

    opts: Dict[str, Dict[str, Any]] = {name: {} for name in runtime_names()}
    if args.threads is not None:
        for name in opts:
            opts[name]["threads"] = args.threads
    for item in args.option or []:
        key, sep, value = item.partition("=")
        rt, dot, opt = key.partition(".")
        if not sep or not dot:
            raise UsageError("--option %r: write RUNTIME.KEY=VALUE, e.g. onnxruntime.graph_optimization_level=basic"
                             % item)
        try:
            name = canonical_name(rt)
        except KeyError as exc:
            raise UsageError("--option %r: %s" % (item, exc.args[0]))
        opts[name][opt] = check_option(name, opt, _parse_value(value), item)
    return {k: v for k, v in opts.items() if v}


#: Options whose default is None, and the type a value must have.
#: Options whose default is None, and the type a value must have.
_NONE_DEFAULT_TYPES = {"threads": int, "inter_op_threads": int}


def check_option(runtime: str, key: str, value: Any, item: str) -> Any:
    """A runtime option checked on the host before anything runs: a known key (typos are refused with the
    list) and a value of the default's type (providers: a name or a list of names)."""
    from device_agents.runtimes import runtime_class

    defaults = runtime_class(runtime).default_options
    if key not in defaults:
        raise UsageError("--option %r: %s has no option %r; its options: %s"
                         % (item, runtime, key, ", ".join(sorted(defaults))))
    default = defaults[key]
    if key == "providers":
        value = [value] if isinstance(value, str) else value
        ok = isinstance(value, list) and value and all(isinstance(v, str) for v in value)
        want = "a provider name or a JSON list of names, e.g. '[\"CUDAExecutionProvider\"]'"
    elif default is None:
        typ = _NONE_DEFAULT_TYPES.get(key)
        ok = typ is None or (isinstance(value, typ) and not isinstance(value, bool))
        want = "an integer"
    elif isinstance(default, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(default, (int, float)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        want = "a number"
    else:
        ok, want = isinstance(value, type(default)), "a %s" % type(default).__name__
    if not ok:
        raise UsageError("--option %r: %s.%s must be %s, not %r" % (item, runtime, key, want, value))
    return value


def check_model_file(path: Path, fmt: str) -> None:
    """Refuse, before any work, a model file that is missing, empty or not of its format (UsageError)."""
    if not path.is_file():
        raise UsageError("--model-file %s does not exist; check the path" % path)
    size = path.stat().st_size
    if size == 0:
        raise UsageError("--model-file %s is empty (0 bytes); export the model again" % path)
    with open(path, "rb") as fh:
        head = fh.read(8)
    if fmt == "tflite" and head[4:8] != b"TFL3":
        raise UsageError("--model-file %s is not a TFLite flatbuffer (no 'TFL3' identifier); check that it is the "
                         "converter's output" % path)
    if fmt in ("coreml", "pt2"):
        import zipfile

        if not zipfile.is_zipfile(path):
            raise UsageError("--model-file %s is not a %s" % (path, "zipped .mlpackage" if fmt == "coreml"
                                                              else "torch.export archive (torch.export.save)"))
    if fmt == "onnx":
        import onnx

        try:
            onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # protobuf's DecodeError and friends
            raise UsageError("--model-file %s is not a readable ONNX model (%s: %s); export it again"
                             % (path, type(exc).__name__, str(exc)[:200]))


def _stats_cache(sha256: str, seq_len: int) -> Path:  # noqa: D401
    """Where the operation/byte counts of a model file with this content are kept (content-addressed: a file
    read and counted once is neither parsed nor counted again, in this run or a later one)."""
    from models.cache import cache_root
    from models.stats import STATS_VERSION

    return cache_root() / "file-stats" / ("%s-s%d-v%s.json" % (sha256, seq_len, STATS_VERSION))


def _file_artifact(path_text: str, seq_len: Optional[int] = None) -> ArtifactRef:
    """A user's model file as an artifact: checked, hashed, and (ONNX) its FLOPs and bytes counted at the sequence
    length the jobs will run at (``--seq-len``; 128 by default)."""
    path = Path(path_text).expanduser()
    fmt, runtime = FORMAT_RUNTIME.get(path.suffix.lower(), (None, None))
    if fmt is None:
        raise UsageError("--model-file %s: unknown format %r; edgebench runs .onnx and .tflite files"
                         % (path, path.suffix))
    if not path.is_file() or path.stat().st_size == 0:
        check_model_file(path, fmt)  # says which
    from device_agents.hashing import sha256_file

    sha256 = sha256_file(str(path))
    ref = ArtifactRef(model=slug_name(path.stem), variant="%s-file" % fmt, format=fmt, runtime=runtime,
                      path=str(path.resolve()), sha256=sha256)
    if seq_len:
        ref.seq_len = seq_len
    ref.file_bytes = path.stat().st_size
    cached = _stats_cache(sha256, ref.seq_len)
    try:
        ref.stats = json.loads(cached.read_text()) if fmt == "onnx" else None
    except (OSError, ValueError):
        ref.stats = None
    if isinstance(ref.stats, dict):  # this exact content was read and counted before
        ref.params = ref.stats.get("params")
        return ref
    ref.stats = None
    check_model_file(path, fmt)
    if fmt == "onnx":
        from models.analyze import AnalyzeError
        from models.stats import onnx_stats

        try:
            ref.stats = onnx_stats(path, ref.seq_len)
            ref.stats["file_bytes"] = ref.file_bytes
            ref.params = ref.stats.get("params")
        except (AnalyzeError, ValueError, KeyError) as exc:
            print("note: %s: no FLOPs/bytes analysis (%s); the roofline will skip it" % (path, exc))
        else:
            from ..results.store import atomic_write

            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(cached, lambda fh: fh.write(json.dumps(ref.stats)))
            except OSError:
                pass  # no cache: counted again next time
    return ref


def zoo_artifacts(models: List[str], variants: List[str]) -> List[ArtifactRef]:
    from models.build import build_all

    print("models: building or finding %s in the cache …" % ", ".join(models))
    arts = build_all(models, variants or None, log=lambda s: print(s))
    return [ArtifactRef(model=a.model, variant=a.variant, format=a.format, runtime=a.runtime, path=a.path,
                        sha256=a.sha256, file_bytes=a.file_bytes, params=a.params, status=a.status,
                        error=a.error, input_hints=a.input_hints, seq_len=a.seq_len, stats=a.stats,
                        runtime_options=a.runtime_options) for a in arts]


def parse_shapes(items: List[str]) -> Dict[str, List[int]]:
    """``--shapes input_ids:1x64,pixel_values:1x3x224x224`` → {name: [dims]}; UsageError names a bad item."""
    out: Dict[str, List[int]] = {}
    for item in _split(items):
        name, sep, dims = item.rpartition(":")
        try:
            shape = [int(d) for d in dims.lower().split("x")]
        except ValueError:
            shape = []
        if not sep or not name or not shape or any(d < 1 for d in shape):
            raise UsageError("--shapes %r: write NAME:DIMxDIM…, e.g. input_ids:1x64 (positive sizes)" % item)
        out[name] = shape
    return out


def measure_spec(args: argparse.Namespace) -> Dict[str, Any]:
    m: Dict[str, Any] = {"min_runs": args.runs, "min_seconds": args.min_seconds, "warmup_runs": args.warmup,
                         "max_seconds": args.max_seconds, "max_runs": max(args.max_runs, args.runs), "seed": args.seed}
    if args.pin_cores:
        m["pin_cores"] = [int(c) for c in _split([args.pin_cores])]
    for flag, value in (("--seq-len", args.seq_len), ("--batch", args.batch)):
        if value is not None and value < 1:
            raise UsageError("%s %d: give a positive size" % (flag, value))
    if args.seq_len is not None:
        m["seq_len"] = args.seq_len
    if args.batch is not None:
        m["batch"] = args.batch
    if args.shapes:
        m["input_shapes"] = parse_shapes(args.shapes)
    if args.sample_rate is not None:
        m["sample_rate_hz"] = args.sample_rate
    if args.target_ci is not None:
        if not args.target_ci > 0:
            raise UsageError("--target-ci %s: give the median CI half-width as a positive percentage, e.g. 1"
                             % args.target_ci)
        m["target_ci_pct"] = args.target_ci
    if args.cooldown_temp is not None:
        m["cooldown_temp_c"] = args.cooldown_temp
        m["cooldown_max_s"] = args.cooldown_max_s
    m.update(scenario_spec(args))
    return m


def scenario_spec(args: argparse.Namespace) -> Dict[str, Any]:
    """The scenario's settings for the job's measure spec, each checked before any work (UsageError)."""
    name = getattr(args, "scenario", None) or "single"
    out: Dict[str, Any] = {"scenario": name} if name != "single" else {}
    fps = _numbers(args.fps, float, "--fps") if getattr(args, "fps", None) else []
    if name in ("sustained", "stream") and not args.duration:
        raise UsageError("--scenario %s needs --duration SECONDS (how long to run it, e.g. --duration 600)" % name)
    if name == "stream" and not fps:
        raise UsageError("--scenario stream needs --fps F (the frame rate; several, comma separated, make a sweep)")
    if fps and name != "stream":
        raise UsageError("--fps is the frame rate of --scenario stream; add --scenario stream")
    if args.duration and name not in ("sustained", "stream"):
        raise UsageError("--duration is for --scenario sustained or stream (the single scenario's window is set by "
                         "--runs/--min-seconds)")
    if args.deadline_ms is not None and name != "stream":
        raise UsageError("--deadline-ms is for --scenario stream")
    if name in ("sustained", "stream"):
        out["duration_s"] = args.duration
    if name == "sustained":
        out["interval_s"] = args.interval
        if args.interval > args.duration:
            raise UsageError("--interval %g is longer than --duration %g: give a shorter interval"
                             % (args.interval, args.duration))
    if name == "stream":
        out["fps"] = fps[0]
        if args.deadline_ms is not None:
            out["deadline_ms"] = args.deadline_ms
    if name == "offline":
        out["offline_batches"] = _numbers(args.batches, int, "--batches") if args.batches else [1, 2, 4, 8, 16]
    return out


def _numbers(items: Any, kind: type, flag: str) -> List[Any]:
    """``1,2,4`` (or repeated flags) as positive numbers; UsageError naming the flag and the bad value."""
    out = []
    for text in _split(items if isinstance(items, list) else [str(items)]):
        try:
            value = kind(text)
        except ValueError:
            raise UsageError("%s %s: not a number" % (flag, text))
        if not value > 0:
            raise UsageError("%s %s: give positive values" % (flag, text))
        out.append(value)
    return out


def sweep_of(args: argparse.Namespace) -> Optional[tuple]:
    """``--sweep NAME=V1,V2`` (or several ``--fps``) as (name, values); UsageError for an unknown name or value."""
    from ..plan.jobs import SWEEPS

    fps = _numbers(args.fps, float, "--fps") if getattr(args, "fps", None) else []
    if not getattr(args, "sweep", None):
        return ("fps", fps) if len(fps) > 1 else None
    if len(fps) > 1:
        raise UsageError("several --fps values are a sweep already; give either them or --sweep")
    name, sep, values = args.sweep.partition("=")
    if not sep or name not in SWEEPS:
        raise UsageError("--sweep %s: write NAME=V1,V2,… with NAME one of %s (e.g. --sweep seq-len=16,64,128)"
                         % (args.sweep, ", ".join(sorted(SWEEPS))))
    vals = _numbers([values], float if name == "fps" else int, "--sweep %s" % name)
    if name == "fps" and (getattr(args, "scenario", None) or "single") != "stream":
        raise UsageError("--sweep fps needs --scenario stream")
    if len(set(vals)) != len(vals):
        raise UsageError("--sweep %s: a value is given twice" % args.sweep)
    return (name, vals)


def scenario_timeout(args: argparse.Namespace, measure: Dict[str, Any]) -> float:
    """A job's timeout: --job-timeout, raised for a long scenario (its duration plus loading and margins) — a
    30-minute sustained run is not killed at the default 300 s."""
    timeout = float(args.job_timeout)
    if measure.get("scenario") in ("sustained", "stream"):
        timeout = max(timeout, 1.2 * float(measure["duration_s"]) + 120.0)
    if measure.get("scenario") == "offline":
        timeout = max(timeout, len(measure.get("offline_batches") or []) * (max(args.min_seconds, 0.5) + 30.0) + 120)
    return timeout


def _runtimes(args: argparse.Namespace) -> List[str]:
    """``--runtimes`` as canonical runtime names (aliases such as ``ort`` accepted); UsageError if unknown."""
    from device_agents.runtimes import canonical_name

    out = []
    for name in _split(args.runtimes):
        try:
            out.append(canonical_name(name))
        except KeyError as exc:
            raise UsageError("--runtimes %s: %s" % (name, exc.args[0]))
    return out


def wanted_variants(args: argparse.Namespace) -> List[str]:
    """``--variants``, or the variants ``--runtimes`` stands for when no variant is named."""
    variants = _split(args.variants)
    runtimes = _runtimes(args)
    if not variants and runtimes:
        from models.zoo import load_zoo

        variants = load_zoo().variants_for_runtimes(runtimes)
    return variants


def refuse_unrunnable(variants: List[str], device_classes: Dict[str, str]) -> None:
    """Before any conversion: a variant that none of the selected devices can run at all (a Core ML program on
    Linux) is refused with the devices' classes and the fix (UsageError)."""
    from models.zoo import load_zoo

    zoo = load_zoo()
    for name in variants:
        try:
            only = zoo.variant(name).only_on
        except KeyError:
            continue  # an unknown name is reported by the zoo with its list
        if only and device_classes and not any(c in only for c in device_classes.values()):
            raise UsageError("--variants %s runs only on %s devices, and %s: leave it out, or add such a device "
                             "with --device (nothing was built or run)" % (
                                 name, "/".join(only), "the selected device %s is %s" % next(iter(device_classes.items()))
                                 if len(device_classes) == 1 else "none of the selected devices is (%s)" % ", ".join(
                                     "%s: %s" % kv for kv in sorted(device_classes.items()))))


def onnx_input_dims(path: str) -> Optional[Dict[str, List[Any]]]:
    """Each graph input's dims (an int, or the name of a dynamic axis) of an ONNX file; None if unreadable."""
    try:
        import onnx

        model = onnx.load(path, load_external_data=False)
    except Exception:
        return None
    inits = {i.name for i in model.graph.initializer}
    return {i.name: [d.dim_param or (d.dim_value if d.HasField("dim_value") else "?") for d in
                     i.type.tensor_type.shape.dim] for i in model.graph.input if i.name not in inits}


def refuse_static_sweep(name: str, artifacts: List[ArtifactRef]) -> None:
    """A ``--sweep seq-len`` or ``--sweep batch`` over a model whose inputs are fixed on that axis would run the
    same shape for every value and draw a false real-time boundary: refused before any work, naming the model, its
    shapes and the fix (UsageError). ONNX files are read here; other formats are checked on the device (the job
    whose shape did not change is marked not valid)."""
    axis = 1 if name == "seq-len" else 0
    for art in artifacts:
        if art.format != "onnx" or not art.path:
            continue
        dims = onnx_input_dims(art.path)
        if not dims:
            continue
        if not any(len(d) > axis and isinstance(d[axis], str) for d in dims.values()):
            raise UsageError(
                "--sweep %s: %s/%s has fixed input shapes (%s): its %s cannot change, so every swept job would run "
                "the same shape. Sweep a model exported with a dynamic %s axis (e.g. --model-file of your own export "
                "with dynamic axes), or leave %s out (nothing was run)" % (
                    name, art.model, art.variant, ", ".join("%s %s" % (k, "x".join(str(x) for x in v))
                                                           for k, v in dims.items()),
                    "sequence length" if axis else "batch", "sequence" if axis else "batch", art.model))


def plan_from_args(args: argparse.Namespace, device_names: List[str],
                   device_classes: Optional[Dict[str, str]] = None) -> List[Any]:
    """The jobs that the plan flags (``add_plan_flags``) ask for on ``device_names``: models built or found,
    files checked, runtime options checked (UsageError names a bad flag). Shared by ``run`` and ``lab submit``.
    ``device_classes`` (device name -> class), where known, refuses variants none of them can run."""
    options = runtime_options(args)
    measure = measure_spec(args)  # every number and scenario setting checked before a model is built
    sweep = sweep_of(args)
    models = _split(args.models)
    runtimes = _runtimes(args)
    variants = wanted_variants(args)
    if device_classes:
        refuse_unrunnable(variants, device_classes)
    artifacts: List[ArtifactRef] = [_file_artifact(p, args.seq_len) for p in args.model_file or []]
    if models or not artifacts:
        artifacts = zoo_artifacts(models or ["default"], variants) + artifacts
    if args.rounds < 1:
        raise UsageError("--rounds %d: need at least 1" % args.rounds)
    if sweep is not None and sweep[0] in ("seq-len", "batch"):
        refuse_static_sweep(sweep[0], artifacts)
    todo = plan_jobs(device_names, artifacts, runtimes or None, options, measure,
                     scenario_timeout(args, measure), rounds=args.rounds, sweep=sweep)
    if not todo:
        raise UsageError("nothing to run: no model matches the runtimes %s" % ",".join(_split(args.runtimes)))
    for job in todo:
        job.budget_ms = getattr(args, "budget_ms", None)
    if getattr(args, "dataset", None):
        from ..plan.dataset import DatasetError, attach_dataset

        try:
            todo = attach_dataset(todo, args.dataset, args.metric, args.max_accuracy_drop, artifacts)
        except DatasetError as exc:
            raise UsageError(str(exc))
    return todo


def _power_log_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--power-log", metavar="FILE", help="a power log captured on the device during the run "
                   "(e.g. tegrastats --logfile); energy per job is computed from it by timestamps")
    p.add_argument("--power-log-kind", metavar="KIND", help="tegrastats, powermetrics, macmon, um25c, …")


def _variant_names() -> tuple:
    """(the default variants, every variant) for --help; never fails the parser (a broken zoo file shows
    up when a run loads it)."""
    try:
        from models.zoo import load_zoo

        zoo = load_zoo()
        return ",".join(zoo.default_variants), ", ".join(zoo.variants)
    except Exception as exc:
        return "the zoo's", "see python -m models list (%s)" % type(exc).__name__


def add_plan_flags(p: argparse.ArgumentParser) -> None:
    """The flags that say what to run and how to measure it: ``run`` and ``lab submit`` share them."""
    p.add_argument("--device", "-d", action="append", help="device name(s) from devices.yaml, comma separated "
                   "(default: local)")
    p.add_argument("--models", "-m", action="append", help="zoo model or set names (default: the 'default' set)")
    p.add_argument("--variants", action="append", help="variants, comma separated (default: %s). Known: %s"
                   % _variant_names())
    p.add_argument("--runtimes", action="append", help="only these runtimes (onnxruntime, litert, torch, "
                   "executorch, tensorrt, coreml)")
    p.add_argument("--model-file", action="append", help="benchmark your own .onnx/.tflite/.pt2/.pte/.engine file "
                   "(repeatable)")
    p.add_argument("--threads", type=at_least(int, 1, what="threads per runtime"), help="threads for every runtime (default: the runtime's own default)")
    p.add_argument("--option", action="append", help="runtime option RUNTIME.KEY=VALUE, e.g. "
                   "onnxruntime.providers=CUDAExecutionProvider or litert.xnnpack=false (repeatable)")
    p.add_argument("--runs", type=at_least(int, 1, what="timed runs per job"), default=50, help="minimum timed runs per job (default 50)")
    p.add_argument("--min-seconds", type=at_least(float, 0.0, what="seconds; 0 = no minimum"), default=1.0, help="minimum timed seconds per job (default 1)")
    p.add_argument("--max-seconds", type=at_least(float, 0.0, strict=True), default=60.0, help="stop a job's timed window after this (default 60)")
    p.add_argument("--max-runs", type=at_least(int, 1), default=10000, help="stop a job's timed window after this many runs "
                   "(default 10000)")
    p.add_argument("--warmup", type=at_least(int, 0, what="warm-up runs"), default=5, help="warm-up runs (default 5, at least 0.2 s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated inputs")
    p.add_argument("--seq-len", type=at_least(int, 1), metavar="N", help="sequence length for a dynamic sequence axis (default: "
                   "the zoo model's, 128)")
    p.add_argument("--batch", type=at_least(int, 1), metavar="N", help="batch size for a dynamic batch axis (default 1)")
    p.add_argument("--shapes", action="append", metavar="NAME:DIMS", help="explicit input shapes, e.g. "
                   "input_ids:1x64,attention_mask:1x64 (win over --seq-len/--batch)")
    p.add_argument("--pin-cores", help="pin the agent to these cores, e.g. 0,1")
    p.add_argument("--job-timeout", type=at_least(float, 0.0, strict=True), default=300.0, help="kill a job after this many seconds (default 300)")
    p.add_argument("--ceilings", choices=("measure", "remeasure", "keep", "skip"), default="measure",
                   help="device ceilings for the roofline: measure (cached; stale or suspect ones are measured "
                   "again), remeasure, keep (use the cache as it is, never re-measure), or skip")
    p.add_argument("--target-ci", type=at_least(float, 0.0, strict=True), metavar="PCT", help="run each job until its median's 95%% CI "
                   "half-width is at most PCT %% of the median (up to --max-seconds / --max-runs)")
    p.add_argument("--rounds", type=at_least(int, 1), default=1, metavar="N", help="run the whole job list N times, "
                   "interleaved, and report the between-round spread beside the within-run one")
    p.add_argument("--cooldown-temp", type=float, metavar="C", help="before each job wait until every thermal "
                   "zone is below C °C (recorded in the result)")
    p.add_argument("--cooldown-max-s", type=at_least(float, 0.0), default=300.0, metavar="S", help="longest cool-down wait "
                   "(default 300 s)")
    p.add_argument("--scenario", choices=("single", "sustained", "stream", "offline"), default="single",
                   help="single: one quiet timed window (default); sustained: back-to-back for --duration with "
                   "per-interval figures, the steady state, any step and its cause; stream: frames at --fps for "
                   "--duration, deadline misses and drops; offline: most inferences/s over --batches")
    p.add_argument("--duration", type=at_least(float, 0.0, strict=True), metavar="S",
                   help="sustained/stream: seconds to run (the job timeout follows)")
    p.add_argument("--interval", type=at_least(float, 0.0, strict=True), default=10.0, metavar="S",
                   help="sustained: interval length in seconds (default 10)")
    p.add_argument("--fps", action="append", metavar="F", help="stream: frames per second (several, comma "
                   "separated: one job per rate)")
    p.add_argument("--deadline-ms", type=at_least(float, 0.0, strict=True), metavar="MS",
                   help="stream: a frame's deadline from its arrival (default 1000/fps)")
    p.add_argument("--batches", action="append", metavar="B,B", help="offline: batch sizes to sweep "
                   "(default 1,2,4,8,16)")
    p.add_argument("--sweep", metavar="NAME=V,V", help="one job per value: seq-len, batch, threads or fps, e.g. "
                   "--sweep seq-len=16,64,128,256,512")
    p.add_argument("--budget-ms", type=at_least(float, 0.0, strict=True), metavar="MS",
                   help="latency budget: each job is marked meets_budget (p99 <= MS), and per swept configuration "
                   "the report names the largest value that meets it (the real-time boundary)")
    p.add_argument("--sample-rate", type=at_least(float, 0.0, what="Hz; 0 turns sampling off"), help="sensor sampling rate in Hz (default 50; 0 turns sampling off)")
    p.add_argument("--dataset", metavar="FILE", help="an .npz of your own examples (arrays named after the model's "
                   "inputs, first axis = examples, optional 'labels'): every job also runs them on the device, "
                   "outside the timed window, and reports its accuracy")
    p.add_argument("--metric", choices=("accuracy", "top5", "f1", "mse", "cosine", "pairs"), help="accuracy metric "
                   "(default: accuracy with integer labels, mse with float ones, agreement with the FP32 "
                   "reference without labels)")
    p.add_argument("--max-accuracy-drop", type=at_least(float, 0.0), metavar="PCT", help="accuracy budget: the "
                   "headline picks the fastest configuration that loses at most PCT points against FP32 (default 1)")
