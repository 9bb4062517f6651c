"""Command lines for the vendor benchmark binaries, built from the job, and the CPU pinning mask.

Flags as documented by each tool (verified against their READMEs, not against a binary here):
LiteRT ``benchmark_model`` (tensorflow/lite/tools/benchmark/README.md): ``--graph --num_threads
--warmup_runs --warmup_min_secs --num_runs --min_secs --max_secs --use_xnnpack --use_gpu --use_nnapi
--external_delegate_path --external_delegate_options --enable_op_profiling``;
``onnxruntime_perf_test`` (onnxruntime/test/perftest/README.md): ``-m times -r N | -m duration -t S``,
``-x`` intra-op threads, ``-e cpu|xnnpack|nnapi|qnn``, ``-i`` provider options, ``-I`` generated inputs,
``-p`` profile file.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

#: Delegates / execution providers a job may ask for, per runner.
LITERT_DELEGATES = ("cpu", "xnnpack", "gpu", "nnapi", "qnn")
ORT_PROVIDERS = ("cpu", "xnnpack", "nnapi", "qnn")
#: The QNN external delegate (LiteRT) and the QNN HTP backend library (ORT), looked up on the phone's
#: library path unless the job names another.
QNN_DELEGATE = "libQnnTFLiteDelegate.so"
QNN_BACKEND = "libQnnHtp.so"


class BadNativeJob(ValueError):
    """The job asks for something the runner cannot do; the message names the option and the choices."""


def clusters(max_khz: Dict[int, int]) -> List[Tuple[int, List[int]]]:
    """Cores grouped by ``cpuinfo_max_freq`` (kHz), slowest cluster first: [(khz, [cpu, ...]), ...]."""
    by: Dict[int, List[int]] = {}
    for cpu, khz in sorted(max_khz.items()):
        by.setdefault(khz, []).append(cpu)
    return sorted(by.items())


def core_mask(max_khz: Dict[int, int], cores: Any) -> Optional[int]:
    """The ``taskset`` mask for ``cores``: a list of core numbers, or ``"little"`` (slowest cluster),
    ``"big"`` (every cluster but the slowest; the only one on a one-cluster phone), ``"prime"`` (fastest
    cluster), ``"all"``/None (no pinning: None)."""
    if cores is None or cores == "all":
        return None
    groups = clusters(max_khz)
    if isinstance(cores, list):
        if not cores or not all(isinstance(c, int) and c in max_khz for c in cores):
            raise BadNativeJob("cores %r: the phone has cores %s" % (cores, sorted(max_khz)))
        chosen = cores
    elif cores in ("little", "big", "prime"):
        if not groups:
            raise BadNativeJob("cores %r: the phone shows no cpufreq cpuinfo_max_freq to find its clusters" % cores)
        chosen = (groups[0][1] if cores == "little" else groups[-1][1] if cores == "prime"
                  else [c for _, cs in (groups[1:] or groups) for c in cs])
    else:
        raise BadNativeJob("cores %r: give a list of core numbers or one of little, big, prime, all" % (cores,))
    mask = 0
    for c in chosen:
        mask |= 1 << c
    return mask


def _delegate(options: Dict[str, Any], choices: Tuple[str, ...], runner: str) -> str:
    """The delegate/provider the job asks for: ``delegate``, or the first of ORT's ``providers``
    (``NnapiExecutionProvider`` -> nnapi), or LiteRT's ``xnnpack: true``; default cpu."""
    providers = options.get("providers")
    first = providers[0] if isinstance(providers, list) and providers else providers
    name = options.get("delegate") or options.get("provider") or first
    if name is None and options.get("xnnpack"):
        name = "xnnpack"
    name = str(name or "cpu").lower().replace("executionprovider", "")
    if name not in choices:
        raise BadNativeJob("%s: delegate %r is not one of %s" % (runner, name, ", ".join(choices)))
    return name


def litert_argv(binary: str, model: str, measure: Dict[str, Any], options: Dict[str, Any]) -> List[str]:
    """``benchmark_model`` for one job: threads, warm-up runs and seconds, runs, minimum and maximum
    seconds from ``measure``; ``options``: delegate (cpu, xnnpack, gpu, nnapi, qnn), threads, op_profiling,
    qnn_delegate (library path), qnn_options (``key:value;...``)."""
    d = _delegate(options, LITERT_DELEGATES, "benchmark_model")
    argv = [binary, "--graph=%s" % model, "--num_threads=%d" % int(options.get("threads") or 1),
            "--warmup_runs=%d" % int(measure.get("warmup_runs", 5)),
            "--warmup_min_secs=%g" % float(measure.get("warmup_min_s", 0.2)),
            "--num_runs=%d" % int(measure.get("min_runs", 50)),
            "--min_secs=%g" % float(measure.get("min_seconds", 1.0)),
            "--max_secs=%g" % float(measure.get("max_seconds", 60.0)),
            "--use_xnnpack=%s" % ("true" if d == "xnnpack" else "false")]
    if d == "gpu":
        argv.append("--use_gpu=true")
    elif d == "nnapi":
        argv.append("--use_nnapi=true")
    elif d == "qnn":
        argv += ["--external_delegate_path=%s" % (options.get("qnn_delegate") or QNN_DELEGATE),
                 "--external_delegate_options=%s" % (options.get("qnn_options") or "backend_type:htp")]
    if options.get("op_profiling"):
        argv.append("--enable_op_profiling=true")
    return argv


def ort_argv(binary: str, model: str, measure: Dict[str, Any], options: Dict[str, Any]) -> Tuple[List[str], List[str]]:
    """(``onnxruntime_perf_test`` argv, warnings). ``-m times -r <min_runs>``: the tool runs either a count or
    a duration, not both, and has no warm-up count (its first inference is its warm-up), which the
    warnings say. ``options``: provider (cpu, xnnpack, nnapi, qnn), threads, qnn_backend, profile."""
    p = _delegate(options, ORT_PROVIDERS, "onnxruntime_perf_test")
    argv = [binary, "-m", "times", "-r", str(int(measure.get("min_runs", 50))),
            "-x", str(int(options.get("threads") or 1)), "-e", p, "-I"]
    if p == "qnn":
        argv += ["-i", "backend_path|%s" % (options.get("qnn_backend") or QNN_BACKEND)]
    if options.get("profile"):
        argv += ["-p", "ort_profile"]
    argv.append(model)
    warnings = []
    if float(measure.get("min_seconds", 0) or 0) > 0:
        warnings.append("onnxruntime_perf_test runs a fixed count (-r %s): min_seconds %.3g s is not applied"
                        % (argv[4], float(measure["min_seconds"])))
    if int(measure.get("warmup_runs", 0) or 0) > 1:
        warnings.append("onnxruntime_perf_test has no warm-up count: one first inference, not %d warm-up runs"
                        % int(measure["warmup_runs"]))
    return argv, warnings
