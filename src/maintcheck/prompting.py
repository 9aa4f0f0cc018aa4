"""Asking the operator about the manual items, at the terminal, before any check runs."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest

from maintcheck import journal
from maintcheck.catalog import Item
from maintcheck.confirmations import Confirmation, prompt
from maintcheck.questions import asked
from maintcheck.session import Run
from maintcheck.stash import ITEM_ID


def unanswered(session: pytest.Session, run: Run) -> list[Item]:
    """The manual items of this run's selection that no answer covers yet, in run order."""
    wanted: list[Item] = []
    for item in session.items:
        item_id = item.stash.get(ITEM_ID, "")
        entry = run.catalog[item_id] if item_id else None
        if (entry and item.get_closest_marker("manual") and run.type_selected(
                entry.maintenance_type) and entry.id not in run.answers
                and entry not in wanted):
            wanted.append(entry)
    return wanted


def ask_operator(session: pytest.Session, run: Run) -> None:
    """Offer the answers of an interrupted run, then prompt for the rest; each answer is on
    disk the moment it is given."""
    config = session.config
    wanted = unanswered(session, run)
    if not wanted or config.option.no_prompt or config.option.collectonly:
        return
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        # capture puts /dev/null on fd 0: only with it lifted can we see the terminal
        capman.suspend_global_capture(in_=True)

    def keep(answer: Confirmation) -> None:  # on disk at once: Ctrl-C or a crash keeps it
        journal.record(run, answer)
        run.answers[answer.item] = answer

    try:
        if sys.stdin is not None and sys.stdin.isatty():
            for answer in journal.offer_resume(run, wanted, ask=input, say=print):
                keep(answer)
            prompt([e for e in wanted if e.id not in run.answers], operator=run.change.operator,
                   ask=input, say=print, clock=lambda: datetime.now(UTC), record=keep,
                   questions=asked(session.items))
    except (EOFError, KeyboardInterrupt):
        print("\nprompt ended: the answers given are kept (the next run of this phase offers "
              "them again); the remaining manual items stay pending")
    finally:
        if capman is not None:
            # back as pytest keeps it between collection and the first test: input captured,
            # output not; output captured from here would swallow the progress line's first
            # file name, which pytest writes before the first test's capture begins
            capman.resume_global_capture()
            capman.suspend_global_capture()
