"""The operator's prompt: counter, section, title and question; back one; leave the rest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from maintcheck import catalog, summary
from maintcheck.confirmations import Confirmation, prompt

ROOT = Path(__file__).resolve().parents[1]
CAT = catalog.load(ROOT / "checks" / "checklist.yml")
NOTE = "  note (optional): "


def typist(replies: list[str], asked: list[str]) -> Callable[[str], str]:
    """An operator who types ``replies`` in turn; each question shown lands in ``asked``."""
    typed: Iterator[str] = iter(replies)

    def ask(text: str) -> str:
        asked.append(text)
        return next(typed)

    return ask


def run_prompt(replies: list[str], *ids: str) -> tuple[dict[str, Confirmation], list[str],
                                                        list[str], list[Confirmation]]:
    """The answers, the questions asked, the lines said and the records made."""
    asked: list[str] = []
    said: list[str] = []
    recorded: list[Confirmation] = []
    answers = prompt([CAT[i] for i in ids], operator="dana", ask=typist(replies, asked),
                     say=said.append, clock=lambda: datetime(2026, 12, 6, 1, 0, tzinfo=UTC),
                     record=recorded.append)
    return answers, asked, said, recorded


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
    # every answer was on disk as it was typed, then again with its note; the replaced one too
    assert [(c.item, c.status, c.note) for c in recorded] == [
        ("1.1", "yes", ""), ("1.1", "yes", "first look"), ("1.1", "no", ""),
        ("1.1", "no", "CAB said no"), ("1.2", "skip", "")]
    assert "\n[1 of 3] 1. Planning & Preparation" in said
    assert "  Is the change approved?" in said
    assert asked[0] == ("[1.1] Maintenance window scheduled and approved -- confirmed? "
                        "[y]es/[n]o/[s]kip/[b]ack/[q]uit: ")
    assert "  left pending: 1 item (1.3)" in said


def test_a_mistyped_answer_is_asked_again_a_bounded_number_of_times() -> None:
    answers = prompt([CAT["1.1"]], operator="dana", ask=lambda text: "maybe", say=lambda s: None,
                     clock=lambda: datetime(2026, 12, 6, tzinfo=UTC))
    assert answers == {}


def test_b_at_the_note_asks_the_same_item_again_and_is_no_note() -> None:
    answers, asked, said, recorded = run_prompt(["y", "b", "n", "CAB said no", "s", ""],
                                                "1.1", "1.2")
    assert {k: (v.status, v.note) for k, v in answers.items()} == {
        "1.1": ("no", "CAB said no"), "1.2": ("skip", "")}
    assert [text.startswith("[1.1]") for text in asked[:3]] == [True, False, True]
    assert asked[1] == NOTE
    assert said.count("\n[1 of 2] 1. Planning & Preparation") == 2
    assert all(c.note != "b" for c in recorded)
    assert "at the note, b asks that item again" in said[0]


def test_q_at_the_note_keeps_the_answer_without_a_note_and_leaves_the_rest() -> None:
    answers, asked, said, recorded = run_prompt(["y", "q"], "1.1", "1.2", "1.3")
    assert {k: (v.status, v.note) for k, v in answers.items()} == {"1.1": ("yes", "")}
    assert [(c.item, c.status, c.note) for c in recorded] == [("1.1", "yes", "")]
    assert len(asked) == 2
    assert "  left pending: 2 items (1.2, 1.3)" in said


def test_the_answer_is_recorded_before_the_note_so_ctrl_c_there_keeps_it() -> None:
    recorded: list[Confirmation] = []

    def ask(text: str) -> str:
        if text == NOTE:
            raise KeyboardInterrupt
        return "n"

    with pytest.raises(KeyboardInterrupt):
        prompt([CAT["1.1"]], operator="dana", ask=ask, say=lambda s: None,
               clock=lambda: datetime(2026, 12, 6, tzinfo=UTC), record=recorded.append)
    assert [(c.item, c.status, c.note, c.by) for c in recorded] == [("1.1", "no", "", "dana")]


def test_quit_after_going_back_counts_only_the_unanswered_as_pending() -> None:
    answers, _, said, _ = run_prompt(["y", "", "b", "q"], "1.1", "1.2")
    assert set(answers) == {"1.1"}
    assert "  left pending: 1 item (1.2)" in said


def incomplete_lines(pending: list[str], not_skippable: list[str], unchecked: list[str],
                     items: int) -> list[str]:
    document: dict[str, Any] = {
        "items": [], "checklist": {"items": items}, "selection": {"partial": False},
        "summary": {"pending_items": pending, "skipped_not_skippable": not_skippable,
                    "without_automated_check": unchecked}}
    return [text for text, _ in summary.incomplete(document)]


def test_the_terminal_counts_one_item_and_many_items() -> None:
    assert incomplete_lines(["1.3"], ["1.2"], ["1.1"], 1) == [
        "no automated check: 1 of 1 item, asked of the operator (1.1)",
        "checklist incomplete: 1 item pending (1.3)",
        "checklist incomplete: 1 item skipped that the checklist does not let skip (1.2)"]
    assert incomplete_lines(["1.3", "1.4"], ["1.1", "1.2"], ["1.1", "1.2"], 5) == [
        "no automated check: 2 of 5 items, asked of the operator (1.1, 1.2)",
        "checklist incomplete: 2 items pending (1.3, 1.4)",
        "checklist incomplete: 2 items skipped that the checklist does not let skip (1.1, 1.2)"]
