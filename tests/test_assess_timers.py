"""7.6: a timer is scheduled when it is active with a next elapse time on either clock, or
firing right now."""

from __future__ import annotations

from maintcheck.assess import timers_not_scheduled
from maintcheck.facts import Facts, parse


def facts_with(timer: str, active: str, sub: str, next_elapse: str,
               monotonic: str = "0") -> Facts:
    # as `systemctl show -p Id -p ActiveState -p SubState -p NextElapseUSecRealtime
    # -p NextElapseUSecMonotonic` prints it
    return parse("h1", f"@@maintcheck units\nId={timer}\nLoadState=loaded\nActiveState={active}\n"
                       f"SubState={sub}\nResult=success\nNextElapseUSecRealtime={next_elapse}\n"
                       f"NextElapseUSecMonotonic={monotonic}\n@@maintcheck end\n")


def test_a_waiting_timer_with_a_next_time_is_scheduled() -> None:
    facts = facts_with("backup.timer", "active", "waiting", "Fri 2026-11-27 00:00:00 UTC")
    assert timers_not_scheduled(facts, ["backup"]) == []


def test_a_timer_whose_unit_runs_now_is_scheduled_though_systemd_shows_no_next_time() -> None:
    """At the minute it fires, systemd clears the next time until the run ends (seen at 00:00)."""
    facts = facts_with("backup.timer", "active", "running", "")
    assert timers_not_scheduled(facts, ["backup"]) == []


def test_an_elapsed_timer_will_not_fire_again_and_fails() -> None:
    facts = facts_with("backup.timer", "active", "elapsed", "")
    assert timers_not_scheduled(facts, ["backup"]) == [
        "backup: active but has no next elapse time (realtime or monotonic), expected one"]


def test_a_boot_relative_timer_is_scheduled_on_the_monotonic_clock() -> None:
    """OnBootSec/OnUnitActiveSec (Debian's systemd-tmpfiles-clean.timer): its next run is on
    the monotonic clock, and its realtime next elapse is empty, as systemd 252 prints it."""
    facts = facts_with("systemd-tmpfiles-clean.timer", "active", "waiting", "",
                       monotonic="17min 30.196550s")
    assert timers_not_scheduled(facts, ["systemd-tmpfiles-clean.timer"]) == []


def test_an_inactive_timer_fails() -> None:
    facts = facts_with("backup.timer", "inactive", "dead", "")
    assert timers_not_scheduled(facts, ["backup"]) == ["backup: inactive, expected active"]
