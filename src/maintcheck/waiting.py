"""``--wait`` and ``maintcheck_wait``: during and after the window, a failing automated check is
looked at again until it passes or its time runs out (a service still starting is not broken).

:class:`Schedule` decides when, without pytest; :class:`WaitLoop` re-runs the checks through
pytest's own protocol, says on the terminal what it retries and for how long, and leaves each
check's last outcome in the summary.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from maintcheck.inventory import Host
from maintcheck.session import Run
from maintcheck.stash import ITEM_ID

MAX_POLL_SECONDS = 10.0
RETRIED = ("failed", "error")


@dataclass
class Schedule:
    """How long each check (by node id) may take to converge, counted from the start of the
    checks, and when each first failed."""

    waits: dict[str, float] = field(default_factory=dict)
    started: float = 0.0
    failed_at: dict[str, float] = field(default_factory=dict)

    def start(self, waits: dict[str, float], now: float) -> None:
        self.waits, self.started = waits, now

    @property
    def longest(self) -> float:
        return max(self.waits.values(), default=0.0)

    @property
    def interval(self) -> float:
        """Seconds between looks: a tenth of the longest wait, within 1 to 10 s."""
        return min(MAX_POLL_SECONDS, max(1.0, self.longest / 10))

    @property
    def rounds(self) -> int:
        """An upper bound on the looks, whatever the clock does."""
        return int(self.longest / self.interval) + 2

    def left(self, nodeid: str, now: float) -> float:
        return self.started + self.waits.get(nodeid, 0.0) - now

    def note(self, nodeid: str, outcome: str, now: float) -> float | None:
        """Record an outcome; for the pass of a check that may wait, the seconds it took to
        converge (0: it passed at its first look)."""
        if outcome in RETRIED:
            self.failed_at.setdefault(nodeid, now)
        elif outcome == "passed" and self.waits.get(nodeid):
            return round(now - self.started, 1) if nodeid in self.failed_at else 0.0
        return None


def wait_of(run: Run, item: pytest.Item) -> float:
    """How long this check may take to converge (inventory's maintcheck_wait, or --wait)."""
    if ITEM_ID not in item.stash or item.get_closest_marker("manual") is not None:
        return 0.0
    callspec = getattr(item, "callspec", None)
    target = callspec.params.get("target") if callspec else None
    return run.wait_for(item.stash[ITEM_ID], target if isinstance(target, Host) else None)


def retrying_line(cells: list[str], seconds_left: float) -> str:
    """``--wait: retrying 2 check(s): 5.3 web-02 test_endpoints_answer, 7.1 lb-01
    test_load_balancer_routes_to_every_backend (72 s left)``."""
    shown = ", ".join(cells[:6]) + (f" and {len(cells) - 6} more" if len(cells) > 6 else "")
    return f"--wait: retrying {len(cells)} check(s): {shown} ({seconds_left:.0f} s left)"


class WaitLoop:
    """After pytest's own loop, re-runs the automated checks still failing."""

    def __init__(self, run: Run, schedule: Schedule,
                 failing: Callable[[Iterable[pytest.Item]], list[tuple[pytest.Item, str]]]
                 ) -> None:
        self.run = run
        self.schedule = schedule
        self.failing = failing  # items whose latest outcome is failed or error, with their host

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Any:
        schedule = self.schedule
        schedule.start({item.nodeid: wait_of(self.run, item) for item in session.items},
                       time.monotonic())
        result = yield
        if not schedule.longest or session.shouldstop or session.shouldfail:
            return result
        retried: set[str] = set()
        for _ in range(schedule.rounds):
            left = [schedule.left(i.nodeid, time.monotonic()) for i, _ in
                    self.failing(session.items)]
            if not any(s > 0 for s in left):
                break
            time.sleep(min(schedule.interval, max(left)))
            now = time.monotonic()
            due = [(i, host) for i, host in self.failing(session.items)
                   if schedule.left(i.nodeid, now) > 0]
            if not due:
                continue
            self.say(session, retrying_line([f"{i.stash[ITEM_ID]} {host} "
                                             f"{getattr(i, 'originalname', i.name)}"
                                             for i, host in due],
                                            max(schedule.left(i.nodeid, now) for i, _ in due)))
            self.run.targets.forget({host for _, host in due})
            for item, _ in due:
                retried.add(item.nodeid)
                item.ihook.pytest_runtest_protocol(item=item, nextitem=None)
        still = {i.nodeid for i, _ in self.failing(session.items)}
        keep_last_reports(session, retried, still)
        session.testsfailed = len(still)
        return result

    @staticmethod
    def say(session: pytest.Session, line: str) -> None:
        reporter = session.config.pluginmanager.getplugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line, yellow=True)


def keep_last_reports(session: pytest.Session, retried: set[str], still: set[str]) -> None:
    """After --wait re-runs, the summary shows each check once: its last outcome."""
    reporter = session.config.pluginmanager.getplugin("terminalreporter")
    if reporter is None or not retried:
        return
    for category in ("failed", "error"):
        kept: dict[str, Any] = {}
        others = []
        for report in reporter.stats.get(category, []):
            nodeid = getattr(report, "nodeid", None)
            if nodeid in retried:
                if nodeid in still:
                    kept[nodeid] = report  # the latest failure of a check that never passed
            else:
                others.append(report)
        reporter.stats[category] = others + list(kept.values())
