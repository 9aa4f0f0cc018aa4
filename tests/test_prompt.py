"""The operator's prompt: counter, section, title and question; back one; leave the rest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from maintcheck import catalog
from maintcheck.confirmations import Confirmation, prompt

ROOT = Path(__file__).resolve().parents[1]
CAT = catalog.load(ROOT / "checks" / "checklist.yml")


def test_back_replaces_an_answer_and_quit_leaves_the_rest_pending() -> None:
    items = [CAT["1.1"], CAT["1.2"], CAT["1.3"]]
    replies = iter(["y", "first look", "b", "n", "CAB said no", "s", "", "q"])
    asked: list[str] = []
    said: list[str] = []
    recorded: list[Confirmation] = []

    def ask(text: str) -> str:
        asked.append(text)
        return next(replies)

    answers = prompt(items, operator="dana", ask=ask, say=said.append,
                     clock=lambda: datetime(2026, 12, 6, 1, 0, tzinfo=UTC),
                     record=recorded.append, questions={"1.2": "Is the change approved?"})
    # 1.1 yes, then back: 1.1 again, now no; 1.2 skipped; quit at 1.3, which stays pending
    assert {k: v.status for k, v in answers.items()} == {"1.1": "no", "1.2": "skip"}
    assert answers["1.1"].note == "CAB said no"
    # every answer was on disk as it was given, the replaced one included
    assert [(c.item, c.status) for c in recorded] == [("1.1", "yes"), ("1.1", "no"),
                                                      ("1.2", "skip")]
    assert "\n[1 of 3] 1. Planning & Preparation" in said
    assert "  Is the change approved?" in said
    assert asked[0] == ("[1.1] Maintenance window scheduled and approved -- confirmed? "
                        "[y]es/[n]o/[s]kip/[b]ack/[q]uit: ")
    assert "  the 1 item(s) left stay pending" in said


def test_a_mistyped_answer_is_asked_again_a_bounded_number_of_times() -> None:
    answers = prompt([CAT["1.1"]], operator="dana", ask=lambda text: "maybe", say=lambda s: None,
                     clock=lambda: datetime(2026, 12, 6, tzinfo=UTC))
    assert answers == {}
