"""``python -m fleet up|down|status|clean``: the demo fleet from a shell (``make demo``)."""

from __future__ import annotations

import argparse
import json
import sys

from .harness import Fleet, FleetError, down_slot, preflight, status
from .spec import DEMO, DEMO_SLOT, TEST_SLOTS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fleet", description=__doc__)
    ap.add_argument("command", choices=["up", "down", "status", "clean"])
    ap.add_argument("--slot", type=int, default=DEMO_SLOT,
                    help=f"fleet slot (default {DEMO_SLOT}, the demo fleet)")
    ap.add_argument("--keep-on-error", action="store_true",
                    help="leave a fleet that failed to come up running, for inspection")
    args = ap.parse_args(argv)
    try:
        if args.command == "up":
            problems = preflight()
            if problems:
                print("fleet: cannot boot here: " + "; ".join(problems), file=sys.stderr)
                return 2
            fleet = Fleet(DEMO, slot=args.slot, persistent=True,
                          keep_on_error=args.keep_on_error).up()
            print(fleet.inventory_path)
        elif args.command == "down":
            for line in down_slot(args.slot):
                print(f"fleet: {line}", file=sys.stderr)
        elif args.command == "clean":
            # Leftovers of crashed test runs: slots whose lock nobody holds.
            for slot in [*TEST_SLOTS, DEMO_SLOT]:
                try:
                    for line in down_slot(slot) if slot != DEMO_SLOT else []:
                        print(f"fleet: slot {slot}: {line}", file=sys.stderr)
                except FleetError as e:
                    print(f"fleet: slot {slot}: {e}", file=sys.stderr)
        else:
            print(json.dumps(status(args.slot), indent=1, sort_keys=True))
    except FleetError as e:
        print(f"fleet: {e}", file=sys.stderr)
        return 1
    return 0
