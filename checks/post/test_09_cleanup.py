"""9. Cleanup & Follow-up."""

from __future__ import annotations

import pytest

from maintcheck import assess, assess_services, probes
from maintcheck.change import Change
from maintcheck.facts import Facts
from maintcheck.inventory import Expectations, Host
from maintcheck.secret import HttpOptions


@pytest.mark.checklist("9.1")
def test_maintenance_status_file_removed(facts: Facts, expect: Expectations) -> None:
    """The maintenance status file is gone after the window."""
    assert not facts.path(expect.status_file).exists, (
        f"{facts.host}: {expect.status_file} still present, expected removed")


@pytest.mark.checklist("9.2")
@pytest.mark.applies_to("temp_paths")
def test_temporary_files_cleaned(facts: Facts, expect: Expectations) -> None:
    """Declared temporary paths are empty or absent."""
    assert assess.not_empty(facts, expect.temp_paths) == []


@pytest.mark.checklist("9.3")
@pytest.mark.applies_to("backups")
def test_old_backups_archived(facts: Facts, expect: Expectations) -> None:
    """Nothing older than its retention is left in the hot backup path."""
    assert assess.expired_backups(facts, expect.backups) == []


@pytest.mark.checklist("9.4")
@pytest.mark.applies_to("alertmanager_url")
def test_no_silence_left_behind(target: Host, expect: Expectations, http_options: HttpOptions,
                                change: Change) -> None:
    """No silence made for the window (or, without a window, none at all) is still active."""
    silences = probes.prometheus.silences(expect.alertmanager_url, **http_options)
    since = change.window.start if change.window else None
    assert assess_services.leftover_silences(target.name, silences, since) == []


@pytest.mark.checklist("9.5")
@pytest.mark.manual
def test_follow_up_tasks_scheduled() -> None:
    """Are the follow-up tasks scheduled?"""


@pytest.mark.checklist("9.6")
@pytest.mark.manual
def test_post_maintenance_review_scheduled() -> None:
    """Is the post-maintenance review scheduled?"""
