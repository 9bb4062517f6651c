"""``python -m device_agents.sensors parse KIND FILE`` (one JSON object per sample) and ``list``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    from .replay import PARSERS, parse_log

    parser = argparse.ArgumentParser(prog="python -m device_agents.sensors",
                                     description="edgebench sensors: list what this device has, or replay a log")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("parse", help="parse a log captured on a device; prints one JSON object per sample")
    p.add_argument("kind", help="one of: " + ", ".join(sorted(PARSERS)))
    p.add_argument("file", help="the log ('-' for standard input)")
    sub.add_parser("list", help="every sensor source and whether this device has it (JSON)")
    args = parser.parse_args(argv)
    if args.command == "parse":
        if args.kind not in PARSERS:
            print("error: unknown log kind %r; known: %s" % (args.kind, ", ".join(sorted(PARSERS))), file=sys.stderr)
            return 2
        try:
            data = sys.stdin.buffer.read() if args.file == "-" else open(args.file, "rb").read()
        except OSError as exc:
            print("error: cannot read %s: %s" % (args.file, exc), file=sys.stderr)
            return 2
        samples = parse_log(args.kind, data)
        for s in samples:
            sys.stdout.write(json.dumps(s.to_json(), sort_keys=True) + "\n")
        if not samples:
            print("warning: no %s samples found in %s" % (args.kind, args.file), file=sys.stderr)
            return 1
        return 0
    if args.command == "list":
        from . import availability

        print(json.dumps(availability(), indent=1, sort_keys=True))
        return 0
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
