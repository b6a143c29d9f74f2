"""``python -m dlbook.data fetch|check|stand-ins``: the full profile's archives.

* ``fetch [NAME ...]``: download what ``DLBOOK_DATA`` lacks (torchvision
  checks every file's MD5 sum); run once before ``DLBOOK_PROFILE=full make
  book``.
* ``check [NAME ...]``: exit 1 and list what is missing.
* ``stand-ins DIR``: write the rehearsal's small random stand-ins into DIR.

Names: ``cifar10``, ``cifar100``, ``mnist`` (default: all).
"""

from __future__ import annotations

import argparse
import sys

from dlbook.data.archives import (
    ARCHIVES,
    FETCH_COMMAND,
    fetch,
    missing,
    write_stand_ins,
)
from dlbook.data.vision import data_root


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m dlbook.data", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("fetch", "check"):
        sub = commands.add_parser(name)
        sub.add_argument(
            "names",
            nargs="*",
            metavar="NAME",
            help=f"any of {', '.join(ARCHIVES)} (default: all)",
        )
    stand = commands.add_parser("stand-ins")
    stand.add_argument("folder")
    args = parser.parse_args(argv)
    if args.command == "stand-ins":
        print(f"stand-ins written to {write_stand_ins(args.folder)}")
        return 0
    names = list(args.names) or None
    unknown = sorted(set(args.names) - set(ARCHIVES))
    if unknown:
        parser.error(f"unknown archive(s) {unknown}; known: {list(ARCHIVES)}")
    root = data_root()
    if args.command == "fetch":
        fetched = fetch(names)
        print(f"{root}: fetched {fetched or 'nothing'}; all present")
        return 0
    absent = missing(names)
    for name in absent:
        archive = ARCHIVES[name]
        print(f"missing: {archive.title} ({archive.size}) under {root}")
    if absent:
        print(f"fetch them with: DLBOOK_DATA={root} {FETCH_COMMAND}")
        return 1
    print(f"{root}: all present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
