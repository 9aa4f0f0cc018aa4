"""Run the checklist on the fleet as a user does, and compare what it reports.

>>> seen = run_checks("post", fleet.inventory_path, tmp, change="CHG-1")
>>> seen.cell("7.1", "web-01")
[Cell(item='7.1', host='web-01', test='test_expected_services_active', outcome='passed', ...)]

A run is a subprocess, ``python -m pytest checks/<phase> --inventory ... --no-prompt``, from the
repository root with no terminal, exactly the README's command; what it reports is read back
from its evidence JSON, never from its output.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import pytest
import yaml
from fleet import Fleet

from maintcheck import runs
from maintcheck.catalog import load as load_catalog

ROOT = Path(__file__).resolve().parents[2]
ALL_TYPES = "security,application,infrastructure"
RUN_TIMEOUT = 240.0
# What a healthy fleet may report for an automated check: it passed, or the inventory gives
# it no target (with the reason shown).
HEALTHY = frozenset({"passed", "not applicable"})


@dataclass(frozen=True)
class Cell:
    """One check's outcome on one host, as the evidence records it."""

    item: str
    host: str
    test: str
    outcome: str
    message: str
    manual: bool

    @property
    def key(self) -> tuple[str, str, str]:
        return self.item, self.host, self.test


@dataclass(frozen=True)
class Seen:
    """One run: its evidence, its cells by (item, host, test), its exit status and duration."""

    document: Mapping[str, Any] = field(repr=False)
    cells: Mapping[tuple[str, str, str], Cell] = field(repr=False)
    returncode: int
    seconds: float
    output: str = field(repr=False)

    def cell(self, item: str, host: str) -> list[Cell]:
        return [c for c in self.cells.values() if c.item == item and c.host == host]

    def automated(self) -> list[Cell]:
        return [c for c in self.cells.values() if not c.manual]

    def explain(self, cells: Iterable[Cell] | None = None) -> str:
        """The cells (by default every automated one not passed), one line each, for messages."""
        shown = cells if cells is not None else [
            c for c in self.automated() if c.outcome != "passed"]
        return "\n".join(f"  {c.item} {c.host} {c.test}: {c.outcome}: {c.message[:300]}"
                         for c in shown) or "  (none)"


def checks_argv(phase: str, inventory: Path, reports: Path, *, change: str,
                window: str | None = None, types: str = ALL_TYPES, limit: str | None = None,
                select: str | None = None, verbose: bool = False,
                extra: Sequence[str] = ()) -> list[str]:
    """The README's command line: ``pytest checks/<phase> --inventory ... --no-prompt``, and
    ``extra`` options (``--wait 60s``)."""
    argv = [sys.executable, "-m", "pytest", f"checks/{phase}", "--inventory", str(inventory),
            "--no-prompt", "--change", change, "-o", f"maintcheck_reports={reports}",
            "-v" if verbose else "-q"]
    if types:
        argv += ["--maintenance-type", types]
    if window:
        argv += ["--window", window]
    if limit:
        argv += ["--limit", limit]
    if select:
        argv += ["-k", select]
    return [*argv, *extra]


def user_env() -> dict[str, str]:
    """This environment without the outer pytest's variables, output unbuffered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_checks(phase: str, inventory: Path, reports: Path, *, change: str,
               window: str | None = None, types: str = ALL_TYPES, limit: str | None = None,
               select: str | None = None, timeout: float = RUN_TIMEOUT,
               extra: Sequence[str] = ()) -> Seen:
    """``pytest checks/<phase>`` against ``inventory``, evidence under ``reports``; its outcomes."""
    argv = checks_argv(phase, inventory, reports, change=change, window=window, types=types,
                       limit=limit, select=select, extra=extra)
    started = time.monotonic()
    r = subprocess.run(argv, cwd=ROOT, env=user_env(), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout, check=False)
    return read_seen(reports / change / f"{phase}.json", r.returncode,
                     time.monotonic() - started, r.stdout, r.stderr)


def read_seen(path: Path, returncode: int, seconds: float, stdout: str, stderr: str) -> Seen:
    """A finished run's outcomes, read back from its evidence JSON at ``path``
    (``reports/<change>/<phase>.json``: the latest run of that phase, ``pre.2.json`` for a
    second run, since each run writes its own files)."""
    path = runs.latest(path.parent, path.stem) or path
    if not path.exists():
        raise AssertionError(f"no evidence at {path}; exit {returncode}\n{stdout[-3000:]}\n"
                             f"{stderr[-3000:]}")
    document = json.loads(path.read_text(encoding="utf-8"))
    cells = {}
    for item in document["items"]:
        for o in item["outcomes"]:
            cell = Cell(item["id"], o["host"], o["test"], o["outcome"], o["message"], o["manual"])
            cells[cell.key] = cell
    return Seen(document, cells, returncode, seconds, stdout[-5000:])


class Running:
    """A run started in the background (:func:`start_checks`), read line by line as it goes.

    >>> with start_checks("pre", inv, tmp, change="CHG-1") as running:
    ...     running.wait_for_line(lambda line: "test_capacity" in line, timeout=60)
    ...     seen = running.finish()
    """

    def __init__(self, argv: list[str], evidence: Path, timeout: float) -> None:
        self.evidence = evidence
        self.timeout = timeout
        self.started = time.monotonic()
        self.lines: list[str] = []
        # stderr into stdout: one pipe, read by one thread, can never fill up and block the run
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=user_env(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, wanted: Callable[[str], bool], timeout: float) -> str:
        """The first line the run printed for which ``wanted`` holds (bounded wait)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                if wanted(line):
                    return line
            seen = len(self.lines)
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"the run never printed the line waited for (within {timeout:g} s)"
                             ":\n" + "\n".join(self.lines[-40:]))

    def finish(self) -> Seen:
        """Wait (bounded by the run's timeout) for the end; its outcomes."""
        left = self.timeout - (time.monotonic() - self.started)
        try:
            returncode = self.proc.wait(timeout=max(1.0, left))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            raise AssertionError(f"the run went on past {self.timeout:g} s:\n"
                                 + "\n".join(self.lines[-40:])) from None
        seconds = time.monotonic() - self.started
        self._reader.join(timeout=10)
        output = "\n".join(self.lines)
        return read_seen(self.evidence, returncode, seconds, output, "")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:  # the test gave up: leave no run behind
            self.proc.kill()
            self.proc.wait(timeout=30)


def start_checks(phase: str, inventory: Path, reports: Path, *, change: str,
                 window: str | None = None, types: str = ALL_TYPES, limit: str | None = None,
                 timeout: float = RUN_TIMEOUT) -> Running:
    """:func:`run_checks` in the background, verbose: each test's line as pytest prints it."""
    argv = checks_argv(phase, inventory, reports, change=change, window=window, types=types,
                       limit=limit, verbose=True)
    return Running(argv, reports / change / f"{phase}.json", timeout)


def window_around(now: dt.datetime, before: dt.timedelta, after: dt.timedelta) -> str:
    """A ``START/END`` window, UTC, from ``now - before`` to ``now + after``."""
    def stamp(t: dt.datetime) -> str:
        return t.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")

    return f"{stamp(now - before)}/{stamp(now + after)}"


def unhealthy(seen: Seen, phase: str) -> list[str]:
    """Why a healthy fleet's run is not all green: automated items failed, in error, missing."""
    catalog = load_catalog(ROOT / "checks" / "checklist.yml")
    problems = [f"{c.item} {c.host} {c.test}: {c.outcome}: {c.message[:300]}"
                for c in seen.automated() if c.outcome not in HEALTHY]
    problems += [f"{c.item} {c.test}: not applicable without a reason"
                 for c in seen.automated() if c.outcome == "not applicable" and not c.message]
    for item in catalog.items:
        if item.phase == phase and item.automated and not any(
                c.item == item.id and not c.manual for c in seen.cells.values()):
            problems.append(f"{item.id}: automated, yet no check of it ran")
    return problems


def run_healthy(phase: str, inventory: Path, reports: Path, *, change: str) -> Seen:
    """:func:`run_checks` on the healthy fleet, which must pass every automated item (or give
    it no target): what fault runs are compared with, or the pre run a post run needs."""
    seen = run_checks(phase, inventory, reports, change=change)
    assert unhealthy(seen, phase) == [], seen.explain()
    return seen


def not_applicable(seen: Seen) -> dict[str, str]:
    """Automated items reported not applicable, with the reason each gives."""
    return {c.item: c.message for c in seen.automated() if c.outcome == "not applicable"}


@dataclass(frozen=True)
class Expect:
    """A fault's expected effect: ``item`` FAILS on ``host``, the message naming all ``says``.

    ``outcome="error"``: the item could not be checked there (its service does not answer).
    """

    item: str
    host: str
    says: Sequence[str] = ()
    outcome: str = "failed"


@dataclass(frozen=True)
class Case:
    """A fault and what it must do: ``inject(fleet)`` gives a context manager (a Fault) that
    holds the fault for one run; every ``expect`` FAILS, nothing else changes."""

    id: str
    inject: Callable[[Fleet], AbstractContextManager[Any]]
    expect: tuple[Expect, ...]
    window: str | None = None
    limit: str | None = None
    drop_variable: str | None = None  # run with a copy of the inventory that lacks it
    # true consequences that depend on timing (a round robin's turn): allowed, not required
    maybe: tuple[Allow, ...] = ()
    types: str = ALL_TYPES  # --maintenance-type ("" for none)
    extra: tuple[str, ...] = ()  # more options for the run (--declare ...)

    def param(self) -> Any:
        return pytest.param(self, id=self.id)


def no_fault(fleet: Fleet) -> AbstractContextManager[None]:
    """For cases whose fault is in the run's options, not in the fleet."""
    return contextlib.nullcontext()


def assert_fails_exactly(healthy: Seen, seen: Seen, expected: Sequence[Expect], *,
                         limited: bool = False, maybe: Sequence[Allow] = ()) -> None:
    """Each expected (item, host) FAILS with a message naming host, expectation and finding;
    every other check reports what it reported on the healthy fleet (each one that ran there
    ran again, unless the run was ``limited`` to some hosts), or a change ``maybe`` admits."""
    problems = []
    if not limited:
        problems += [f"{c.item} {c.host} {c.test}: ran on the healthy fleet, not in this run"
                     for key, c in healthy.cells.items() if key not in seen.cells]
    wanted = {(e.item, e.host) for e in expected}
    for e in expected:
        cells = seen.cell(e.item, e.host)
        failed = [c for c in cells if c.outcome == e.outcome]
        if not failed:
            problems.append(f"{e.item} on {e.host}: expected {e.outcome.upper()}, got "
                            f"{sorted({c.outcome for c in cells}) or 'no outcome'}")
        others = [c for c in cells if c.outcome not in (e.outcome, healthy_outcome(healthy, c))]
        problems += [f"{c.item} {c.host} {c.test}: {c.outcome} ({c.message[:200]})"
                     for c in others]
        # an ERROR names the endpoint that did not answer, which the says name
        run_wide = e.host in ("-", "n/a") or e.outcome == "error"
        problems += [f"{c.item} {c.host} {c.test}: message does not name {e.host}: "
                     f"{c.message[:300]!r}" for c in failed
                     if not run_wide and e.host not in c.message]
        said = "\n".join(c.message for c in failed).lower()
        missing = [s for s in e.says if s.lower() not in said]
        if failed and missing:
            problems.append(f"{e.item} on {e.host}: the messages lack {missing}:\n"
                            + seen.explain(failed))
    for key, cell in seen.cells.items():
        if (cell.item, cell.host) in wanted:
            continue
        before = healthy.cells.get(key)
        if before is None and cell.outcome == "not applicable":
            continue  # a --limit left the item no host: the healthy run has it on another
        if (before is None or before.outcome != cell.outcome) and any(
                a.admits(cell) for a in maybe):
            continue
        if before is None:
            problems.append(f"{cell.item} {cell.host} {cell.test}: {cell.outcome}, not in the "
                            "healthy run")
        elif before.outcome != cell.outcome:
            problems.append(f"collateral: {cell.item} {cell.host} {cell.test}: "
                            f"{before.outcome} -> {cell.outcome}: {cell.message[:300]}")
    assert not problems, "\n".join(problems) + "\nnot passed in this run:\n" + seen.explain()


def healthy_outcome(healthy: Seen, cell: Cell) -> str:
    before = healthy.cells.get(cell.key)
    return before.outcome if before else "passed"


def assert_unreachable(seen: Seen, host: str) -> None:
    """Every check of ``host`` is an ERROR with one cause, and the evidence names the host."""
    mine = [c for c in seen.automated() if c.host == host]
    assert mine, f"no check ran on {host}\n{seen.output}"
    wrong = [c for c in mine if c.outcome != "error"]
    assert not wrong, f"checks of unreachable {host} not in ERROR:\n" + seen.explain(wrong)
    assert host in seen.document["unreachable"], seen.document["unreachable"]
    cause = seen.document["unreachable"][host]
    causes = {c.message for c in mine}
    assert all(cause in m for m in causes), (
        f"{host}: one cause expected ({cause!r}), the checks say:\n" + seen.explain(mine))


def inventory_of(case: Case, inventory: Path, scratch: Path) -> Path:
    """The inventory a case runs with: the fleet's, or a copy without one variable."""
    if case.drop_variable is None:
        return inventory
    return inventory_without(inventory, scratch / "inventory", case.drop_variable)


def inventory_without(inventory: Path, dest: Path, variable: str) -> Path:
    """A copy of the fleet's inventory folder with ``variable`` removed from group_vars/all."""
    src = inventory.parent
    for path in src.rglob("*"):
        if path.is_file():
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    all_yml = dest / "group_vars" / "all.yml"
    data = yaml.safe_load(all_yml.read_text())
    data.pop(variable)
    all_yml.write_text(yaml.safe_dump(data, sort_keys=False))
    return dest / inventory.name


# What an ERROR says when the network, not the system, stood in the way.
NETWORK_CAUSES = ("timed out", "timeout", "ran past", "no answer within", "connection",
                  "refused", "reset", "unreachable", "no route", "closed", "broken pipe")


@dataclass(frozen=True)
class Allow:
    """A change a fault may cause, depending on timing, that is still an honest outcome.

    ``item=None``: any check of ``host``. The changed cell must be ``outcome``, its message
    naming all of ``says`` and (when given) at least one of ``any_of``.
    """

    host: str
    outcome: str
    item: str | None = None
    says: Sequence[str] = ()
    any_of: Sequence[str] = ()

    def admits(self, cell: Cell) -> bool:
        said = cell.message.lower()
        return (cell.host == self.host and cell.outcome == self.outcome
                and self.item in (None, cell.item)
                and all(s.lower() in said for s in self.says)
                and (not self.any_of or any(s.lower() in said for s in self.any_of)))


def network_errors(host: str) -> Allow:
    """Any check of ``host`` may be an ERROR that names a timeout or a connection failure."""
    return Allow(host, "error", any_of=NETWORK_CAUSES)


def assert_only_allowed(healthy: Seen, seen: Seen, allowed: Sequence[Allow]) -> list[Cell]:
    """Every check that ran healthy ran again; each reports what it reported healthy, or a
    change some ``allowed`` admits. Returns the changed cells (for the test to show)."""
    problems = [f"{c.item} {c.host} {c.test}: ran on the healthy fleet, not in this run"
                for key, c in healthy.cells.items() if key not in seen.cells]
    changed = []
    for key, cell in seen.cells.items():
        before = healthy.cells.get(key)
        if before is not None and before.outcome == cell.outcome:
            continue
        changed.append(cell)
        if not any(a.admits(cell) for a in allowed):
            problems.append(f"{cell.item} {cell.host} {cell.test}: "
                            f"{before.outcome if before else 'not in the healthy run'} -> "
                            f"{cell.outcome}: {cell.message[:300]}")
    assert not problems, "\n".join(problems) + "\nnot passed in this run:\n" + seen.explain()
    return changed


def assert_evidence_written(reports: Path, change: str, phase: str) -> None:
    """The run's evidence JSON and its self-contained HTML report are on disk."""
    latest = runs.latest(reports / change, phase) or reports / change / f"{phase}.json"
    for suffix in (".json", ".html"):
        path = latest.with_suffix(suffix)
        assert path.is_file() and path.stat().st_size > 0, f"{path} was not written"
