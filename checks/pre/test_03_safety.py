"""3. Safety Preparations."""

from __future__ import annotations

import pytest

from maintcheck import assess
from maintcheck.facts import Facts
from maintcheck.inventory import Expectations


@pytest.mark.checklist("3.1")
@pytest.mark.applies_to("maintenance_user")
def test_maintenance_account_in_group_with_sudo_rules(facts: Facts, expect: Expectations) -> None:
    """The maintenance account exists, is in its group, and its sudoers rules work: sudo's
    parser accepts the drop-in, and sudo -l grants the account the declared commands."""
    exists, groups = facts.user(expect.maintenance_user)
    assert exists, f"{facts.host}: account {expect.maintenance_user} does not exist"
    assert not expect.maintenance_group or expect.maintenance_group in groups, (
        f"{facts.host}: {expect.maintenance_user} is in {sorted(groups)}, expected "
        f"{expect.maintenance_group}")
    assert assess.sudo_rules_broken(facts, expect.maintenance_user, expect.sudoers_file,
                                    expect.sudo_commands) == []


@pytest.mark.checklist("3.2")
@pytest.mark.applies_to("command_guard")
def test_dangerous_command_guard_present(facts: Facts, expect: Expectations) -> None:
    """The declared guard (a package such as molly-guard, or a file) is in place."""
    guard = expect.command_guard
    is_file = guard.startswith("/")
    present = facts.path(guard).exists if is_file else guard in facts.packages
    assert present, (f"{facts.host}: command guard {guard} "
                     + ("absent, expected present" if is_file else
                        "not installed, expected the package installed"))


@pytest.mark.checklist("3.3")
@pytest.mark.applies_to("backups")
def test_backup_taken_for_this_window(facts: Facts, expect: Expectations,
                                      window_start: int | None) -> None:
    """Each backup set has a file written since the window began (or recent, without one)."""
    assert assess.backups(facts, expect.backups, since=window_start) == []


@pytest.mark.checklist("3.4")
@pytest.mark.applies_to("rollback_scripts")
def test_rollback_scripts_present_executable_and_parse(facts: Facts, expect: Expectations) -> None:
    """Rollback scripts exist, are executable and pass ``sh -n``."""
    assert assess.scripts_invalid(facts, expect.rollback_scripts) == []


@pytest.mark.checklist("3.4")
@pytest.mark.manual
def test_rollback_scripts_generated_for_this_change() -> None:
    """Were the rollback scripts generated for this change and reviewed?"""


@pytest.mark.checklist("3.5")
@pytest.mark.manual
def test_safety_confirmation_prompts_tested() -> None:
    """Have the safety confirmation prompts been tested?"""


@pytest.mark.checklist("3.6")
@pytest.mark.applies_to("maintenance_mode")
def test_maintenance_mode_mechanism_present(facts: Facts, expect: Expectations) -> None:
    """The maintenance mode mechanism (script or page) is in place."""
    assert assess.paths_missing(facts, [expect.maintenance_mode]) == []


@pytest.mark.checklist("3.6")
@pytest.mark.manual
def test_maintenance_mode_procedure_ready() -> None:
    """Is the maintenance mode procedure written down and ready to follow?"""
