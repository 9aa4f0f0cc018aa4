"""Manual items: the question each asks, the operator's answer as its outcome, and a question
item for each catalog line no check implements."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from maintcheck import outcomes
from maintcheck.catalog import Item
from maintcheck.invocation import checks_folder, whole_phases
from maintcheck.session import Run
from maintcheck.stash import ITEM_ID, RUN
from maintcheck.suite import scan


def answered(run: Run, item_id: str) -> None:
    """The operator's answer as an outcome: pending, skipped, failed, or (yes) passed."""
    answer = run.answers.get(item_id)
    if answer is None:
        outcomes.pending("nobody has confirmed it yet (prompt, or --answers FILE)")
    if answer.status == "skip":
        done = ("" if run.catalog[answer.item].skippable
                else " (not skippable: the checklist stays incomplete)")
        outcomes.skipped(f"skipped by {answer.by} at {answer.at}: {answer.note or 'no note'}"
                         f"{done}")
    if answer.status == "no":
        pytest.fail(f"{answer.by} answered no at {answer.at}: {answer.note or 'no note'}",
                    pytrace=False)


def asked(items: list[pytest.Item]) -> dict[str, str]:
    """Item id -> the question its manual check asks (the check's docstring, as the ``manual``
    marker promises)."""
    found: dict[str, str] = {}
    for item in items:
        doc = getattr(getattr(item, "function", None), "__doc__", None)
        if item.get_closest_marker("manual") and doc and ITEM_ID in item.stash:
            found.setdefault(item.stash[ITEM_ID], " ".join(doc.split()))
    return found


class Catalogued(pytest.File):
    """The catalog, as the parent of the questions for items no check implements."""

    def collect(self) -> list[pytest.Item]:
        return []


class Question(pytest.Item):
    """A catalog item no check implements: a manual item, its title the question."""

    def __init__(self, *, entry: Item, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry = entry
        self.add_marker(pytest.mark.checklist(entry.id))
        self.add_marker(pytest.mark.manual)

    def runtest(self) -> None:
        answered(self.config.stash[RUN], self.entry.id)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"[{self.entry.id}] {self.entry.title} (no check yet)"


def unimplemented(session: pytest.Session, run: Run) -> list[pytest.Item]:
    """A question for each item of the run's whole phases that no check implements."""
    phases = whole_phases(session.config)
    checks = checks_folder(session.config)
    implemented = {ref.item for ref in scan(checks)} if checks.is_dir() else set()
    missing = [i for i in run.catalog.items if i.phase in phases and i.id not in implemented]
    if not missing:
        return []
    parent = Catalogued.from_parent(session, path=run.catalog.path.resolve())
    return [Question.from_parent(parent, name=f"question[{i.id}]", entry=i) for i in missing]
