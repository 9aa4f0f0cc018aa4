"""4. Maintenance Execution."""

from __future__ import annotations

import shlex

import pytest

from maintcheck import assess
from maintcheck.facts import Facts
from maintcheck.inventory import Expectations
from maintcheck.runner import Runner


@pytest.mark.checklist("4.1")
def test_maintenance_status_file_present(facts: Facts, expect: Expectations) -> None:
    """The maintenance status file is in place during the window."""
    assert facts.path(expect.status_file).exists, (
        f"{facts.host}: {expect.status_file} absent, expected present during the window")


@pytest.mark.checklist("4.2")
@pytest.mark.applies_to("stopped_services")
def test_services_stopped_cleanly(facts: Facts, expect: Expectations) -> None:
    """Units stopped for the window are inactive and did not end failed."""
    assert assess.still_running_or_failed(facts, expect.stopped_services) == []


@pytest.mark.checklist("4.3")
@pytest.mark.applies_to("backups")
def test_backups_completed_in_window(facts: Facts, expect: Expectations,
                                     window_start: int | None) -> None:
    """Each backup set has a complete file written since the window began."""
    assert assess.backups(facts, expect.backups, since=window_start) == []


@pytest.mark.checklist("4.4")
@pytest.mark.applies_to("config_files")
def test_configuration_changes_applied(facts: Facts, expect: Expectations) -> None:
    """Changed files match their expected sha256, or contain the expected lines."""
    assert assess.config_mismatches(facts, expect.config_files) == []


@pytest.mark.checklist("4.5")
@pytest.mark.applies_to("packages")
def test_software_at_expected_versions(facts: Facts, expect: Expectations) -> None:
    """Packages are at least at the versions the change installs."""
    assert assess.versions_below(facts, expect.packages) == []


@pytest.mark.checklist("4.6")
def test_no_pending_security_updates(facts: Facts, expect: Expectations) -> None:
    """No security update is left pending (per the host's current package lists)."""
    pending = facts.security_updates
    assert len(pending) <= expect.security_updates_allowed, (
        f"{facts.host}: {len(pending)} security update(s) pending, expected at most "
        f"{expect.security_updates_allowed}: {', '.join(pending[:10])}")


@pytest.mark.checklist("4.7")
@pytest.mark.applies_to("validate_commands")
def test_configurations_validate(runner: Runner, expect: Expectations) -> None:
    """Every declared read-only validation command (nginx -t, sshd -t, ...) exits 0."""
    results = {cmd: runner.run(shlex.split(cmd)) for cmd in expect.validate_commands}
    failed = {cmd: (r.stderr or r.stdout).strip()[-300:] for cmd, r in results.items()
              if not r.succeeded}
    assert failed == {}, f"{runner.host}: validation failed, expected exit 0: {failed}"
