"""Issue 20's first promise, on the fleet: with three faults at once, the terminal's
``maintcheck`` section alone tells, for each, the host, the item, what was expected and what
was found, in at most 10 lines of findings, and no line of the run's output is a Python repr.

The phase is run as a user runs it (``pytest checks/pre --inventory ...``, no terminal), and
the proof reads its terminal output, not its evidence.  A fault may have more than one true
consequence (on a slow run, a stopped exporter also fires an alert): each fault's own line
must be there, and every FAILED line must be one of the consequences listed here.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from fleet import Fleet, faults
from fleet import roles as r
from fleet_tests.checkfaults import lb_server_weight_zero, stop_scrape_target, together
from fleet_tests.checkrun import (
    NETWORK_CAUSES,
    ROOT,
    RUN_TIMEOUT,
    checks_argv,
    read_seen,
    user_env,
)

pytestmark = pytest.mark.fleet
PHASE = "pre"
CHANGE = "CHG-OPERATOR-SUMMARY"
MOST_LINES = 10
# What a line of the output must never be: a Python object's repr, or a traceback.
REPRS = re.compile(r"object at 0x|=Facts\(|Expectations\(|HttpObservation\(|Traceback")
FINDING = re.compile(r"(FAILED|ERROR) (\S+) (\S+?): (.+)")


@dataclass(frozen=True)
class Finding:
    """A line of the maintcheck section: ``FAILED <item> <host>: ...`` naming all ``says``."""

    item: str
    host: str
    says: Sequence[str]

    def matches(self, line: str) -> bool:
        m = FINDING.fullmatch(line)
        return bool(m and m[1] == "FAILED" and (m[2], m[3]) == (self.item, self.host)
                    and all(s.lower() in m[4].lower() for s in self.says))


@dataclass(frozen=True)
class Fault:
    """A fault, the line it must give, and the other lines it may truly give."""

    id: str
    inject: Callable[[Fleet], faults.Fault]
    line: Finding
    also: tuple[Finding, ...] = ()


FAULTS = [
    # A stopped service: db-02's node exporter. Prometheus sees its target down (2.5, on
    # mon-01, naming db-02); a run longer than the rule's minute also fires InstanceDown (2.1).
    Fault("exporter-stopped", lambda fl: stop_scrape_target(fl, "db-02"),
          Finding("2.5", "mon-01", ("db-02", "is down", "expected up")),
          also=(Finding("2.1", "mon-01", ("alert InstanceDown", "expected none")),)),
    # A threshold: web-01's data filesystem 97% full.
    Fault("disk-full", lambda fl: faults.fill_filesystem(fl, "web-01"),
          Finding("2.2", "web-01", (f"disk {r.DATA_MOUNT}", "% used", "expected at most 90%"))),
    # The load balancer: web-02 at weight 0, UP to its health checks, out of rotation.
    Fault("lb-weight-0", lambda fl: lb_server_weight_zero(fl, "web-02"),
          Finding("2.6", "lb-01", ("web/web-02", "weight 0", "expected UP, READY"))),
]


def maintcheck_section(output: str) -> list[str]:
    """The lines between the ``= maintcheck =`` rule and the next ``=`` rule."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines)
                  if re.fullmatch(r"=+ maintcheck =+", line.strip())), None)
    assert start is not None, f"no maintcheck section in the output:\n{output[-4000:]}"
    section = []
    for line in lines[start + 1:]:
        if line.startswith("="):
            break
        section.append(line)
    return section


def test_three_faults_read_from_the_terminal_summary_alone(fleet: Fleet, tmp_path: Path
                                                           ) -> None:
    argv = checks_argv(PHASE, fleet.inventory_path, tmp_path, change=CHANGE)
    held = together(fleet, "three-faults",
                    *[lambda f=f: f.inject(fleet) for f in FAULTS])
    try:
        run = subprocess.run(argv, cwd=ROOT, env=user_env(), stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
    finally:
        held.undo()  # every fault reverted, then the fleet healthy again for the next test
    output = run.stdout + run.stderr
    seen = read_seen(tmp_path / CHANGE / f"{PHASE}.json", run.returncode, 0.0,
                     run.stdout, run.stderr)
    section = maintcheck_section(run.stdout)
    listed = "\n".join(section)
    shown = f"\nmaintcheck section:\n{listed}\nevidence, not passed:\n{seen.explain()}"
    found = [line for line in section if FINDING.fullmatch(line)]
    missing = [f"{f.id}: no line FAILED {f.line.item} {f.line.host} naming {list(f.line.says)}"
               for f in FAULTS if not any(f.line.matches(line) for line in found)]
    assert not missing, "\n".join(missing) + shown

    allowed = [a for f in FAULTS for a in (f.line, *f.also)]
    stray = [line for line in found if line.startswith("FAILED ")
             and not any(a.matches(line) for a in allowed)]
    assert not stray, "FAILED lines no fault explains:\n" + "\n".join(stray) + shown
    # an ERROR is no consequence of these faults; on a loaded machine a probe may time out,
    # and then its line must say so
    errors = [line for line in found if line.startswith("ERROR ")
              and not any(c in line.lower() for c in NETWORK_CAUSES)]
    assert not errors, "ERROR lines:\n" + "\n".join(errors) + shown
    assert len(found) <= MOST_LINES, (f"{len(found)} FAILED/ERROR lines, at most "
                                      f"{MOST_LINES} wanted" + shown)

    reprs = [line for line in output.splitlines() if REPRS.search(line)]
    assert not reprs, "Python reprs in the output:\n" + "\n".join(reprs)
    assert seen.document["verdict"] == "FAILED", shown
    print(listed)
