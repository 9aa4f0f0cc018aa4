"""Every automated pre-maintenance item, run as a user runs it, on the real fleet.

Healthy, every automated item passes on every host it applies to.  Each fault fails exactly
its item on exactly its host, with a message naming host, expectation and finding, and
changes nothing else.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fleet import Fleet, faults
from fleet import inventory as fleet_inventory
from fleet import roles as r
from fleet_tests.checkfaults import (
    age,
    chmod,
    commands,
    corrupt,
    lb_server_state,
    lb_server_weight_zero,
    move_aside,
    newest,
    remove_package,
    replica_behind,
    rewrite,
    run_fails,
    stop_scrape_target,
)
from fleet_tests.checkrun import (
    Case,
    Expect,
    Seen,
    assert_fails_exactly,
    inventory_of,
    no_fault,
    not_applicable,
    run_checks,
    unhealthy,
    window_around,
)

pytestmark = pytest.mark.fleet
PHASE = "pre"
BACKUPS = fleet_inventory.BACKUP["glob"]
DUMPS = fleet_inventory.PG_DUMP["glob"]
ROLLBACK = "/usr/local/sbin/rollback.sh"
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-evidence")


@pytest.fixture(scope="module")
def healthy(fleet: Fleet, reports: Path) -> Seen:
    """One run of checks/pre on the healthy fleet, the baseline every fault is compared with."""
    return run_checks(PHASE, fleet.inventory_path, reports, change="CHG-PRE")


def test_healthy_fleet_passes_every_automated_pre_item(healthy: Seen) -> None:
    assert unhealthy(healthy, PHASE) == [], healthy.explain()
    assert not_applicable(healthy) == {}
    assert healthy.document["unreachable"] == {}


CASES = [
    Case("1.5-no-emergency-contact", no_fault,
         (Expect("1.5", "-", ("emergency_contact",)),),
         drop_variable="maintcheck_emergency_contact"),
    Case("1.6-backup-corrupt",
         lambda fl: corrupt(fl, "web-02", newest(fl, "web-02", BACKUPS)),
         (Expect("1.6", "web-02", ("sha256", "does not match", "sidecar")),
          Expect("3.3", "web-02", ("sha256", "does not match")))),
    Case("1.6-backup-stale",
         # every backup of the host, not only the newest: an earlier test may have left a
         # second fresh one (a backup run after a fault), which would then be the newest
         lambda fl: age(fl, "lb-01", BACKUPS, hours=30),
         (Expect("1.6", "lb-01", ("30.0 h old", "expected at most 26 h")),
          Expect("3.3", "lb-01", ("before the window started", "expected a backup")))),
    Case("2.1-critical-alert-firing", faults.fire_critical_alert,
         (Expect("2.1", "mon-01", ("FleetFaultCritical", "critical", "expected")),)),
    Case("2.2-disk-full", lambda fl: faults.fill_filesystem(fl, "web-01"),
         (Expect("2.2", "web-01", (r.DATA_MOUNT, "expected at most 90%")),)),
    Case("2.3-replica-stopped", faults.break_replication,
         (Expect("2.3", "db-01", ("db-02", "not connected", "expected streaming")),
          Expect("2.3", "db-02", ("PostgreSQL is down",)))),
    Case("2.3-replica-lagging", lambda fl: replica_behind(fl, seconds=31),
         (Expect("2.3", "db-02", ("replay is paused, expected replaying", "replay lag",
                                  "expected at most 30 s")),)),
    Case("2.4-backup-run-failed", lambda fl: run_fails(fl, "db-02", "backup.service"),
         (Expect("2.4", "db-02", ("backup.service", "failed", "expected")),)),
    Case("2.5-target-down", lambda fl: stop_scrape_target(fl, "web-02"),
         (Expect("2.5", "mon-01", ("web-02", "down", "expected up")),)),
    Case("2.6-server-down", lambda fl: faults.haproxy_server_down(fl, "web-01"),
         (Expect("2.6", "lb-01", ("web/web-01", "MAINT", "expected UP")),)),
    Case("3.1-account-out-of-group",
         lambda fl: commands(fl, "db-01", ["gpasswd", "-d", "maint", "maintenance"],
                             ["gpasswd", "-a", "maint", "maintenance"], "leave_group"),
         (Expect("3.1", "db-01", ("maint", "expected maintenance")),)),
    # A syntax error inside the drop-in: the file is there, and sudo skips its rules.
    Case("3.1-sudoers-syntax-error",
         lambda fl: rewrite(fl, "web-02", "/etc/sudoers.d/maintenance",
                            lambda text: text.replace("NOPASSWD: ", "NOPASSWD ")),
         (Expect("3.1", "web-02", ("/etc/sudoers.d/maintenance", "visudo -c rejects it",
                                   "syntax error", "maint", "grants no rules")),)),
    # HAProxy's running state: UP to its health checks, and still out of rotation.
    Case("2.6-server-drain", lambda fl: lb_server_state(fl, "web-02", "drain"),
         (Expect("2.6", "lb-01", ("web/web-02", "DRAIN", "expected UP, READY")),)),
    Case("2.6-server-weight-0", lambda fl: lb_server_weight_zero(fl, "web-01"),
         (Expect("2.6", "lb-01", ("web/web-01", "weight 0", "expected UP, READY")),)),
    Case("3.2-guard-removed", lambda fl: remove_package(fl, "web-02", "molly-guard"),
         (Expect("3.2", "web-02", ("molly-guard", "expected")),)),
    Case("3.3-backup-before-window",
         lambda fl: age(fl, "mon-01", BACKUPS, hours=2),
         (Expect("3.3", "mon-01", ("before the window started", "expected a backup")),)),
    Case("3.4-rollback-not-executable", lambda fl: chmod(fl, "lb-01", ROLLBACK, 0o644),
         (Expect("3.4", "lb-01", (ROLLBACK, "644", "expected executable")),
          Expect("10.2", "lb-01", (ROLLBACK, "expected executable")))),
    Case("3.4-rollback-syntax-error",
         lambda fl: rewrite(fl, "web-01", ROLLBACK, lambda text: text + "if then\n"),
         (Expect("3.4", "web-01", (ROLLBACK, "sh -n rejects it", "expected")),
          Expect("10.2", "web-01", (ROLLBACK, "sh -n rejects it")))),
    Case("3.6-maintenance-mode-missing",
         lambda fl: move_aside(fl, "web-01", r.MAINTENANCE_SCRIPT),
         (Expect("3.6", "web-01", (r.MAINTENANCE_SCRIPT, "absent, expected present")),)),
    Case("10.3-database-dump-stale",
         lambda fl: age(fl, "db-01", DUMPS, hours=30),
         (Expect("10.3", "db-01", ("app-", "30.0 h old", "expected at most 26 h")),
          Expect("1.6", "db-01", ("app-", "30.0 h old")),
          Expect("3.3", "db-01", ("app-", "before the window started")))),
    Case("12.1-package-lists-stale",
         lambda fl: age(fl, "mon-01", "/var/lib/apt/lists/*Release", hours=30 * 24),
         (Expect("12.1", "mon-01", ("30.0 days old", "expected at most 7")),)),
    Case("15.6-window-over", no_fault,
         (Expect("15.6", "-", ("ended already",)),),
         window=window_around(NOW, dt.timedelta(hours=3), -dt.timedelta(minutes=5))),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_fault_fails_exactly_its_pre_item(fleet: Fleet, healthy: Seen, reports: Path,
                                          tmp_path: Path, case: Case) -> None:
    with case.inject(fleet):
        seen = run_checks(PHASE, inventory_of(case, fleet.inventory_path, tmp_path), reports, change=f"CHG-PRE-{case.id}",
                          window=case.window, limit=case.limit)
    assert_fails_exactly(healthy, seen, case.expect, limited=bool(case.limit))
