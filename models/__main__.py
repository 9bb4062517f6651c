"""``python -m models list | build``: the zoo from the command line."""

from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional

from .zoo import UnknownModel, load_zoo


def _split(values: Optional[List[str]]) -> List[str]:
    out: List[str] = []
    for v in values or []:
        out.extend(x for x in v.split(",") if x)
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models", description="edgebench model zoo")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("list", help="models, sets and variants in the zoo")
    p_build = sub.add_parser("build", help="build models into the artifact cache (offline)")
    p_build.add_argument("--models", action="append", help="model or set names, comma separated (default: default)")
    p_build.add_argument("--variants", action="append", help="variant names, comma separated, or 'all'")
    p_build.add_argument("--force", action="store_true", help="rebuild even if cached")
    p_an = sub.add_parser("analyze", help="MACs, FLOPs and bytes of any ONNX file, per operator")
    p_an.add_argument("file")
    p_an.add_argument("--json", action="store_true", help="print the summary as JSON")
    p_an.add_argument("--per-op", action="store_true", help="include per-operator-type and per-node counts")
    p_an.add_argument("--seq-len", type=int, default=128, help="value for dynamic non-batch dimensions")
    args = parser.parse_args(argv)

    if args.command == "analyze":
        import json

        from .analyze import AnalyzeError, analyze_file

        try:
            counts = analyze_file(args.file, seq_len=args.seq_len)
        except AnalyzeError as exc:
            print("error: %s" % exc, file=sys.stderr)
            return 2
        out = counts.to_json(per_node=args.per_op)
        if not args.per_op:
            out.pop("per_op_type")
        if args.json:
            print(json.dumps(out, sort_keys=True))
        else:
            for k in ("params", "macs", "flops", "weight_bytes", "activation_bytes"):
                print("%-17s %15s" % (k, format(out[k], ",")))
            print("unknown_ops       %s" % (", ".join(out["unknown_ops"]) or "none"))
        return 0
    zoo = load_zoo()
    if args.command == "list":
        rows = [("model", "family", "task", "params (published)")] + [
            (name, m.family, m.task, "%s M" % m.published_params_m) for name, m in zoo.models.items()]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        print("\nsets:")
        for k, v in zoo.sets.items():
            print("  %-8s %s" % (k, ", ".join(v)))
        print("\nvariants (format, runtime; * = default):")
        vw = max(len(v) for v in zoo.variants)
        for name, v in zoo.variants.items():
            print("  %s %-*s %-7s %s" % ("*" if name in zoo.default_variants else " ", vw, name, v.format, v.runtime))
        return 0
    if args.command == "build":
        from .build import build_all

        start = time.perf_counter()
        try:
            arts = build_all(_split(args.models) or ["default"], _split(args.variants) or None, force=args.force)
        except UnknownModel as exc:
            print("error: %s" % exc, file=sys.stderr)
            return 2
        print("%-18s %-20s %-7s %9s %9s %8s  %s" % ("model", "variant", "state", "size", "params", "cosine",
                                                     "file or error"))
        for a in arts:
            state = "cached" if a.cached else a.status
            size = "%.1f MB" % (a.file_bytes / 1e6) if a.file_bytes else "-"
            fid = (a.stats or {}).get("fidelity") or {}
            cos = "%.4f" % fid["cosine_mean"] if fid.get("cosine_mean") is not None else "-"
            params = "%.2fM" % (a.params / 1e6) if a.params else "-"
            print("%-18s %-20s %-7s %9s %9s %8s  %s" % (a.model, a.variant, state, size, params, cos,
                                                         a.path or (a.error or "").splitlines()[0][:160]))
        print("built %d artifact(s) in %.1f s" % (len(arts), time.perf_counter() - start))
        return 1 if any(a.status != "built" for a in arts) else 0
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
