"""The ``maintcheck`` command: list the checklist, make a signing key, verify evidence."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from maintcheck import catalog as catalog_module
from maintcheck.catalog import KINDS, MAINTENANCE_TYPES, PHASES
from maintcheck.errors import InputError
from maintcheck.suite import scan


def checklist(args: argparse.Namespace) -> int:
    """Print every item with its id, title, phase, kind and implementing tests."""
    cat = catalog_module.load(args.catalog)
    refs = scan(Path(args.checks), Path.cwd())
    phases = set(args.phase.split(",")) if args.phase else None
    types = set(args.type.split(",")) if args.type else None
    kinds = set(args.kind.split(",")) if args.kind else None
    items = [i for i in cat.items
             if (phases is None or i.phase in phases)
             and (kinds is None or i.kind in kinds)
             and (types is None or (i.maintenance_type or "general") in types)]
    width = max((len(i.title) for i in items), default=10)
    for item in items:
        tests = [r for r in refs if r.item == item.id]
        where = ", ".join(f"{r.nodeid}{' (manual)' if r.manual else ''}" for r in tests)
        mtype = f" [{item.maintenance_type}]" if item.maintenance_type else ""
        print(f"{item.id:>5}  {item.title:<{width}}  {item.phase:<6}  {item.kind:<9}"
              f"{mtype}  {where or 'NO TEST'}")
    print(f"{len(items)} item(s)")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="maintcheck", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    lister = sub.add_parser("checklist", help="list the checklist items and their tests")
    lister.add_argument("--catalog", default="checks/checklist.yml")
    lister.add_argument("--checks", default="checks")
    lister.add_argument("--phase", help=f"comma list of {','.join(PHASES)}")
    lister.add_argument("--kind", help=f"comma list of {','.join(KINDS)}")
    lister.add_argument("--type", help=f"comma list of general,{','.join(MAINTENANCE_TYPES)}")
    lister.set_defaults(func=checklist)
    return top


def validate(args: argparse.Namespace) -> list[str]:
    problems = []
    for name, allowed in (("phase", PHASES), ("kind", KINDS),
                          ("type", ("general", *MAINTENANCE_TYPES))):
        value = getattr(args, name, None)
        bad = [v for v in (value or "").split(",") if value and v not in allowed]
        if bad:
            problems.append(f"--{name} {','.join(bad)}: choose from {','.join(allowed)}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    problems = validate(args)
    if problems:
        print("maintcheck: " + "; ".join(problems), file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"maintcheck: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `maintcheck checklist | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
