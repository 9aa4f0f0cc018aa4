"""3.1: the account's sudo rules as sudo itself reads them, not the drop-in's presence."""

from __future__ import annotations

import pytest

from maintcheck.assess import sudo_rules_broken
from maintcheck.errors import MissingData
from maintcheck.facts import Facts, parse

DROPIN = "/etc/sudoers.d/maintenance"
GRANTED = ("Matching Defaults entries for maint on web-01:\n    env_reset\n\n"
           "User maint may run the following commands on web-01:\n"
           "    (root) NOPASSWD: /usr/bin/systemctl, /usr/local/sbin/rollback.sh\n")


def facts_with(visudo: str, sudo_list: str) -> Facts:
    # as the probe prints them: each command's output, then exit=STATUS
    return parse("web-01", f"@@maintcheck path {DROPIN}\n{DROPIN}|regular file|440|80|1|root|"
                           f"root\n@@maintcheck sudoers {DROPIN}\n{visudo}"
                           f"@@maintcheck sudo_list maint\n{sudo_list}@@maintcheck end\n")


def test_rules_that_parse_and_grant_the_declared_commands_pass() -> None:
    facts = facts_with(f"{DROPIN}: parsed OK\nexit=0\n", GRANTED + "exit=0\n")
    assert sudo_rules_broken(facts, "maint", DROPIN, ["/usr/bin/systemctl"]) == []


def test_a_syntax_error_fails_with_sudos_own_words() -> None:
    """The drop-in is there, and sudo skips it: the account is granted nothing."""
    facts = facts_with(f"{DROPIN}:2:52: syntax error\nexit=1\n",
                       "User maint is not allowed to run sudo on web-01.\nexit=0\n")
    found = sudo_rules_broken(facts, "maint", DROPIN, ["/usr/bin/systemctl"])
    assert found[0] == (f"{DROPIN}: visudo -c rejects it ({DROPIN}:2:52: syntax error), "
                        "expected valid sudoers: sudo skips its rules")
    assert found[1].startswith("maint: sudo grants no rules")
    assert found[2].startswith("maint: sudo -l does not grant /usr/bin/systemctl")


def test_a_rule_that_asks_for_a_password_does_not_grant() -> None:
    asks = GRANTED.replace("NOPASSWD: ", "")
    facts = facts_with(f"{DROPIN}: parsed OK\nexit=0\n", asks + "exit=0\n")
    assert sudo_rules_broken(facts, "maint", DROPIN, ["/usr/local/sbin/rollback.sh"]) == [(
        "maint: sudo -l does not grant /usr/local/sbin/rollback.sh without a password, expected "
        "it granted (sudo lists: (root) /usr/bin/systemctl, /usr/local/sbin/rollback.sh)")]


def test_sudo_that_cannot_list_is_an_error_not_a_finding() -> None:
    """Without root, sudo -l -U asks for a password: maintcheck could not look."""
    facts = facts_with(f"{DROPIN}: parsed OK\nexit=0\n",
                       "sudo: a password is required\nexit=1\n")
    with pytest.raises(MissingData, match="could not list the sudo rules of maint"):
        sudo_rules_broken(facts, "maint", DROPIN, [])
