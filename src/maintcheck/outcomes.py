"""How a check ended, as maintcheck names it: a frozen record, never a prefix of a message.

pytest knows passed, failed, skipped and error. maintcheck adds three ways of not being checked
(not applicable, pending, not yet automated) and a skip the operator chose. Each is raised as
:class:`Unchecked`, a pytest skip that carries its :class:`Ended`; the plugin keeps the record
in the item's stash and hands it to the reporters in the report's properties (the one channel
that also crosses from a pytest-xdist worker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

import pytest

from maintcheck.errors import CheckError

NOT_CHECKED = ("not applicable", "pending", "not yet automated")
# maintcheck's own letters in pytest's progress line, and the phase of the report that shows it
LETTERS = {"not applicable": ("n", "N/A", "setup"), "pending": ("p", "PENDING", "call"),
           "not yet automated": ("t", "NOT YET AUTOMATED", "setup")}


@dataclass(frozen=True)
class Ended:
    """One check's outcome on one host and its one-line message."""

    outcome: str  # passed, failed, error, skipped, or one of NOT_CHECKED
    message: str = ""


class Unchecked(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """A skip that says why: pytest shows ``outcome: message``; the record says it exactly."""

    # printed as pytest prints its own skip (``Skipped: ...``, a prefix it strips): never with
    # a Python path in the JUnit message
    __module__ = "builtins"
    __qualname__ = "Skipped"

    def __init__(self, ended: Ended) -> None:
        super().__init__(f"{ended.outcome}: {ended.message}" if ended.outcome in NOT_CHECKED
                         else ended.message)
        self.ended = ended


def not_applicable(reason: str) -> NoReturn:
    raise Unchecked(Ended("not applicable", reason))


def pending(reason: str) -> NoReturn:
    raise Unchecked(Ended("pending", reason))


def not_yet_automated(reason: str) -> NoReturn:
    raise Unchecked(Ended("not yet automated", reason))


def skipped(message: str) -> NoReturn:
    """The operator answered skip: ``message`` says who, when and why."""
    raise Unchecked(Ended("skipped", message))


def classify(report: pytest.TestReport, call: pytest.CallInfo[None]) -> Ended:
    """maintcheck's outcome of one report of a check."""
    error = call.excinfo.value if call.excinfo is not None else None
    if report.skipped:
        if isinstance(error, Unchecked):
            return error.ended
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(
            report.longrepr)
        return Ended("skipped", reason.removeprefix("Skipped: "))  # a skip of pytest's own
    if report.passed:
        return Ended("passed")
    message = (str(error).strip() or type(error).__name__) if error is not None else ""
    if error is not None and not is_finding(error):  # not a finding: maintcheck could not look
        return Ended("error", f"a bug in the check, not a finding: {type(error).__name__}: "
                              f"{message}")
    if report.when != "call" or isinstance(error, CheckError):
        return Ended("error", message or f"error at {report.when}")
    return Ended("failed", message)


def teststatus(outcome: str | None, when: str) -> tuple[str, str, str] | None:
    """pytest's (category, letter, word) for maintcheck's own outcomes, on the report that
    shows them."""
    if outcome not in LETTERS:
        return None
    letter, word, shown_at = LETTERS[outcome]
    return (outcome, letter, word) if when == shown_at else None


def labelled(status: tuple[str, str, Any], item_id: str, title: str) -> tuple[str, str, Any]:
    """pytest's (category, letter, word) with the checklist line after the word; the word may
    come with its markup, as ``(word, {"red": True})``."""
    category, letter, word = status
    label = f"{item_id} {title}".strip()
    if isinstance(word, tuple):
        return category, letter, (f"{word[0]} {label}", word[1])
    return category, letter, f"{word} {label}"


def is_finding(error: BaseException) -> bool:
    """What a check says about the system (an assertion, a service that failed, an operator's
    no) or that maintcheck could not look: anything else is a bug in the check."""
    from maintcheck.errors import ServiceFailed

    return isinstance(error, AssertionError | CheckError | ServiceFailed | pytest.fail.Exception)


def findings_text(error: BaseException, host: str) -> str:
    """The finding lines of a failed check, each naming the host, without pytest's
    ``assert ...`` explanation."""
    from maintcheck.htmlreport import findings, on_host

    return "\n".join(on_host(host, line)
                     for line in findings(str(error).strip() or type(error).__name__))


def at_check(longrepr: Any, item: pytest.Item) -> Any:
    """A skip's location is the check's (as for a skip mark), not the line that raised it."""
    path, line = item.reportinfo()[:2]
    if isinstance(longrepr, tuple) and len(longrepr) == 3 and line is not None:
        return str(path), line + 1, longrepr[2]
    return longrepr
