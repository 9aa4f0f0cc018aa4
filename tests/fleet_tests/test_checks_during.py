"""Every automated item of the window itself, run as a user runs it, on the real fleet.

The module holds the fleet in its window state, as the operator leaves it: the status file on
every host and the app's worker stopped.  Healthy, every automated item passes; each fault
fails exactly its item on exactly its host, and changes nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet import Fleet, faults
from fleet import inventory as fleet_inventory
from fleet import roles as r
from fleet_tests.checkfaults import (
    age,
    all_servers_down,
    app_error,
    crash_loop,
    create_file,
    drop_alert_rule,
    installed_version,
    maintenance_mode_left_on,
    newest,
    out_of_rotation,
    reject_tcp,
    remove_file,
    rewrite,
    security_update_published,
    slow_connects,
    start_unit,
    stop_log_shipper,
    stop_scrape_target,
    together,
    window_state,
)
from fleet_tests.checkrun import (
    Case,
    Expect,
    Seen,
    assert_fails_exactly,
    not_applicable,
    run_checks,
    unhealthy,
)

pytestmark = pytest.mark.fleet
PHASE = "during"
BACKUPS = fleet_inventory.BACKUP["glob"]
SSHD_CONF = fleet_inventory.SSHD_CONFIG["path"]
NGINX_SITE = "/etc/nginx/sites-available/default"


@pytest.fixture(scope="module")
def window(fleet: Fleet) -> Iterator[None]:
    """The fleet as the window leaves it: status file everywhere, the app's worker stopped."""
    with window_state(fleet):
        yield


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("during-evidence")


@pytest.fixture(scope="module")
def healthy(fleet: Fleet, window: None, reports: Path) -> Seen:
    """One run of checks/during in the healthy window: what every fault is compared with."""
    return run_checks(PHASE, fleet.inventory_path, reports, change="CHG-DURING")


def test_healthy_window_passes_every_automated_during_item(healthy: Seen) -> None:
    assert unhealthy(healthy, PHASE) == [], healthy.explain()
    assert not_applicable(healthy) == {}
    assert healthy.document["unreachable"] == {}


def ip(fleet: Fleet, name: str) -> str:
    return fleet.host(name).ip


CASES = [
    Case("4.1-status-file-missing",
         lambda fl: remove_file(fl, "db-02", r.STATUS_FILE),
         (Expect("4.1", "db-02", (r.STATUS_FILE, "absent, expected present")),)),
    Case("4.2-worker-left-running",
         lambda fl: start_unit(fl, "web-01", r.APP_WORKER_UNIT),
         (Expect("4.2", "web-01", (r.APP_WORKER_UNIT, "active, expected stopped")),)),
    Case("4.2-worker-ended-failed",
         lambda fl: together(fl, "worker_failed",
                             lambda: start_unit(fl, "web-02", r.APP_WORKER_UNIT),
                             lambda: faults.fail_unit(fl, "web-02", r.APP_WORKER_UNIT)),
         (Expect("4.2", "web-02", (r.APP_WORKER_UNIT, "failed", "expected a clean stop")),)),
    Case("4.3-backup-before-window",
         lambda fl: age(fl, "lb-01", newest(fl, "lb-01", BACKUPS), hours=2),
         (Expect("4.3", "lb-01", ("before the window started", "expected a backup")),)),
    Case("4.4-config-line-missing",
         lambda fl: rewrite(fl, "db-02", SSHD_CONF,
                            lambda text: text.replace("PasswordAuthentication no\n", "")),
         (Expect("4.4", "db-02", (SSHD_CONF, "PasswordAuthentication no", "expected")),)),
    Case("4.4-config-file-changed",
         lambda fl: rewrite(fl, "web-02", NGINX_SITE, lambda text: text + "# edited by hand\n"),
         (Expect("4.4", "web-02", (NGINX_SITE, "sha256", "expected")),)),
    Case("4.5-package-below-version",
         lambda fl: installed_version(fl, "web-01", "nginx", "1.18.0-6"),
         (Expect("4.5", "web-01", ("nginx: 1.18.0-6 installed, expected >= 1.22.1",)),)),
    Case("4.6-security-update-pending",
         lambda fl: security_update_published(fl, "lb-01", "less"),
         (Expect("4.6", "lb-01", ("1 security update(s) pending", "expected at most 0",
                                  "less")),)),
    Case("4.7-nginx-config-invalid",
         lambda fl: create_file(fl, "web-02", "/etc/nginx/conf.d/fleet-fault.conf",
                                "bogus_directive on;\n"),
         (Expect("4.7", "web-02", ("nginx -t", "bogus_directive", "expected")),)),
    Case("5.1-every-backend-down",
         lambda fl: all_servers_down(fl, ["web-01", "web-02"]),
         (Expect("5.1", "lb-01", ("HTTP 503", "expected 200")),
          Expect("5.3", "lb-01", ("HTTP 503", "expected 200")),
          Expect("5.4", "lb-01", ("received none", "served by no declared server", "HTTP 503",
                                  "expected 200")),
          # a wrong answer is never a latency sample
          Expect("5.6", "lb-01", ("no latency measured", "HTTP 503")))),
    Case("5.2-database-refuses-a-client",
         lambda fl: reject_tcp(fl, "db-01", port=5432, source=ip(fl, "web-01")),
         (Expect("5.2", "db-01", ("web-01", "expected")),)),
    Case("5.3-app-answers-500",
         lambda fl: app_error(fl, "web-02"),
         # Without the lb: its round robin would send half the requests to web-02.
         (Expect("5.3", "web-02", ("app page", "HTTP 500", "expected 200")),
          Expect("5.6", "web-02", ("app page: no latency measured", "HTTP 500"))),
         limit="!lb-01"),
    Case("5.4-backend-left-in-maintenance-mode",
         lambda fl: maintenance_mode_left_on(fl, "web-02", r.MAINTENANCE_SCRIPT),
         (Expect("5.4", "lb-01", ("web/web-02", "received none", "expected a share")),
          Expect("5.3", "web-02", ("HTTP 503", "expected 200")),
          Expect("5.6", "web-02", ("no latency measured", "HTTP 503")))),
    Case("5.5-certificate-expired",
         lambda fl: out_of_rotation(faults.serve_expired_cert(fl, "web-02"), "web-02"),
         (Expect("5.5", "web-02", ("web-02.fleet.test", "expired", "expected at least 7 days")),
          Expect("5.3", "web-02", ("TLS verification failed", "expired")),
          Expect("5.6", "web-02", ("no latency measured", "TLS verification failed")),
          Expect("5.4", "lb-01", ("web/web-02", "received none")))),
    Case("5.5-certificate-for-another-name",
         lambda fl: out_of_rotation(faults.serve_wrong_name_cert(fl, "web-01"), "web-01"),
         (Expect("5.5", "web-01", ("wrong.fleet.test", "expected web-01.fleet.test")),
          Expect("5.3", "web-01", ("TLS verification failed",)),
          Expect("5.6", "web-01", ("no latency measured", "TLS verification failed")),
          Expect("5.4", "lb-01", ("web/web-01", "received none")))),
    Case("5.6-slow-answers",
         lambda fl: out_of_rotation(slow_connects(fl, "web-01"), "web-01"),
         (Expect("5.6", "web-01", ("ms, expected at most 2000 ms",)),
          # HAProxy's checks time out too: it took web-01 out of rotation
          Expect("5.4", "lb-01", ("web/web-01", "received none")))),
    # nginx crash-looping (ExecStart fails, Restart=always): its port refuses, which is the
    # service failing (FAILED), not maintcheck failing to look (ERROR).
    Case("5.3-5.5-5.6-nginx-crash-loop",
         lambda fl: crash_loop(fl, "web-02"),
         (Expect("5.3", "web-02", ("connection refused", "expected HTTP 200")),
          Expect("5.5", "web-02", ("web-02.fleet.test", "connection refused")),
          Expect("5.6", "web-02", ("no latency measured", "connection refused")),
          Expect("5.4", "lb-01", ("web/web-02", "received none")))),
    Case("6.1-target-down",
         lambda fl: stop_scrape_target(fl, "db-01"),
         (Expect("6.1", "mon-01", ("db-01", "down", "expected up")),)),
    Case("6.2-alert-rule-missing",
         lambda fl: drop_alert_rule(fl, "/etc/prometheus/rules/fleet.yml", "HighLoad"),
         (Expect("6.2", "mon-01", ("HighLoad", "not loaded", "expected")),)),
    Case("6.3-log-shipper-stopped",
         lambda fl: stop_log_shipper(fl, "lb-01"),
         (Expect("6.3", "lb-01", ("rsyslog", "inactive", "expected active")),)),
    Case("6.4-security-monitor-stopped",
         lambda fl: faults.stop_unit(fl, "db-02", r.AUTH_WATCH_UNIT),
         (Expect("6.4", "db-02", (r.AUTH_WATCH_UNIT, "inactive", "expected active")),)),
    Case("6.6-disk-full",
         lambda fl: faults.fill_filesystem(fl, "mon-01"),
         (Expect("6.6", "mon-01", (r.DATA_MOUNT, "expected at most 90%")),)),
]


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_fault_fails_exactly_its_during_item(fleet: Fleet, window: None, healthy: Seen,
                                             reports: Path, case: Case) -> None:
    with case.inject(fleet):
        seen = run_checks(PHASE, fleet.inventory_path, reports, change=f"CHG-DURING-{case.id}",
                          window=case.window, limit=case.limit)
    assert_fails_exactly(healthy, seen, case.expect, limited=bool(case.limit))
