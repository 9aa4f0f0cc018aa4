"""Recording a run on the controller: each check's outcome as its reports arrive, then the
evidence document at the end, and the terminal's ``maintcheck`` section drawn from it."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from maintcheck import evidence, exitcodes, journal, summary
from maintcheck.evidence import Outcome
from maintcheck.session import Run
from maintcheck.waiting import RETRIED, Schedule

if TYPE_CHECKING:
    from maintcheck.signing import Signer

# the report properties the plugin sets: the rest are what a check observed
OWN_PROPERTIES = frozenset({"item", "host", "outcome", "message", "manual"})


def decisive(report: pytest.TestReport) -> bool:
    """The report that says how a check ended: its call, a setup that did not pass (error,
    not applicable), or a teardown that failed."""
    return report.when == "call" or (report.when == "setup" and not report.passed) or (
        report.when == "teardown" and report.failed)


class Recorder:
    """Collects outcomes on the controller and writes the evidence at the end."""

    def __init__(self, run: Run, narrowed_by: list[str], signer: Signer | None) -> None:
        self.run = run
        self.narrowed_by = narrowed_by
        self.signer = signer
        self.evidence_path: Path | None = None
        self.outcomes: dict[str, Outcome] = {}  # by node id: a re-run replaces its outcome
        self.schedule = Schedule()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if "item" not in props or not decisive(report):
            return
        observed = [(k, v) for k, v in report.user_properties if k not in OWN_PROPERTIES]
        outcome = str(props["outcome"])
        converged = self.schedule.note(report.nodeid, outcome, time.monotonic())
        if converged is not None:  # from the start of the checks; 0: passed at its first look
            observed.append(("converged_after_seconds", converged))
        self.outcomes[report.nodeid] = Outcome(
            str(props["item"]), str(props["host"]), outcome, str(props["message"]),
            report.nodeid.split("::")[-1].split("[")[0], props.get("manual") == "yes",
            tuple(observed))

    def failing(self, items: Iterable[pytest.Item]) -> list[tuple[pytest.Item, str]]:
        """Automated checks whose latest outcome is failed or error, with their host."""
        found = [(i, self.outcomes.get(i.nodeid)) for i in items]
        return [(i, o.host) for i, o in found
                if o is not None and o.outcome in RETRIED and not o.manual]

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        """Whatever deselected checks (-k, -m, --lf, --deselect, a plugin) makes the run partial."""
        if items:
            self.narrowed_by.append(f"{len(items)} check(s) deselected")

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A pytest-xdist worker's audit log, unreachable hosts and facts join the evidence."""
        output = getattr(node, "workeroutput", {}).get("maintcheck")
        if output:
            self.run.merge_worker_output(output)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Write the evidence first, so the HTML report can be drawn from it."""
        run = self.run
        if session.exitstatus == pytest.ExitCode.INTERRUPTED:  # never the latest complete run
            self.narrowed_by.append("interrupted (Ctrl-C) before every check ran")
        run.save_baseline()
        run.evidence.confirmations = dict(run.answers)
        run.evidence.outcomes = list(self.outcomes.values())
        finished = datetime.now(UTC)
        meta = {**run.meta(finished),
                **journal.identity(run, self.signer, finished, bool(self.narrowed_by))}
        run.document = run.evidence.render(phases=set(run.options.phases), meta=meta,
                                           narrowed_by=self.narrowed_by)
        self.evidence_path = evidence.write(run.artefact(".json"), run.document)
        session.exitstatus = exitcodes.of_run(run.document["verdict"], session.exitstatus)
        journal.finish(run, session.exitstatus)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.run.document:
            return
        terminalreporter.section("maintcheck")
        reportchars = terminalreporter.config.getoption("reportchars") or ""
        for line, style in summary.lines(self.run.document, self.evidence_path, reportchars):
            terminalreporter.write_line(line, **style)
