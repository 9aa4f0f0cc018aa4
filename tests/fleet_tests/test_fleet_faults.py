"""Each fault really produces its effect, seen from outside, and its undo really heals.

Tests are independent of order: each one injects, observes, undoes and sees health again.
"""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.request

import pytest
from fleet import Fleet, faults, observe
from fleet.host import bounded_wait

pytestmark = pytest.mark.fleet


def lb_state(fleet: Fleet, server: str) -> str:
    return observe.haproxy_status(fleet.host("lb-01")).get(f"web/{server}", "")


def wait_lb_up(fleet: Fleet) -> None:
    bounded_wait("both web servers UP in haproxy",
                 lambda: {lb_state(fleet, w) for w in ("web-01", "web-02")} == {"UP"},
                 timeout=60)


def am_json(fleet: Fleet, path: str) -> object:
    url = f"http://{fleet.host('mon-01').ip}:9093{path}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def test_stop_unit(fleet: Fleet) -> None:
    web = fleet.host("web-01")
    with faults.stop_unit(fleet, "web-01", "nginx"):
        assert web.ssh("systemctl is-active nginx", check=False).stdout.strip() == "inactive"
        assert "443" not in web.ssh("ss -Htln").stdout
        bounded_wait("haproxy sees web-01 DOWN", lambda: lb_state(fleet, "web-01") == "DOWN",
                     timeout=30)
    assert web.ssh("systemctl is-active nginx").stdout.strip() == "active"
    wait_lb_up(fleet)


def test_fail_unit(fleet: Fleet) -> None:
    web = fleet.host("web-02")
    with faults.fail_unit(fleet, "web-02", "cron"):
        assert web.ssh("systemctl is-failed cron", check=False).stdout.strip() == "failed"
        assert web.ssh("systemctl is-system-running", check=False).stdout.strip() == "degraded"
    assert web.ssh("systemctl is-system-running").stdout.strip() == "running"


def test_break_replication(fleet: Fleet) -> None:
    primary = fleet.host("db-01")
    with faults.break_replication(fleet):
        assert "db-02" not in observe.replica_states(primary)
    assert observe.replica_states(primary) == {"db-02": "streaming"}


def test_lag_replication(fleet: Fleet) -> None:
    replica = fleet.host("db-02")
    lag_sql = "SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())"
    with faults.lag_replication(fleet):
        first = float(observe.psql(replica, lag_sql))
        bounded_wait("replay lag growing", lambda: float(observe.psql(replica, lag_sql)) > first
                     + 1, timeout=10)
        assert observe.replay_paused_behind(replica) == (True, True)
    assert observe.replay_paused_behind(replica) == (False, False)
    assert float(observe.psql(replica, lag_sql)) < 10


def test_serve_expired_cert(fleet: Fleet) -> None:
    web = fleet.host("web-01")
    with faults.serve_expired_cert(fleet, "web-01"):
        reason = observe.tls_verifies(web.ip, web.fqdn, str(fleet.ca_path))
        assert reason is not None and "expired" in reason
    assert observe.tls_verifies(web.ip, web.fqdn, str(fleet.ca_path)) is None
    wait_lb_up(fleet)


def test_serve_wrong_name_cert(fleet: Fleet) -> None:
    web = fleet.host("web-02")
    with faults.serve_wrong_name_cert(fleet, "web-02"):
        reason = observe.tls_verifies(web.ip, web.fqdn, str(fleet.ca_path))
        assert reason is not None and "mismatch" in reason.lower()
        # HAProxy verifies the name too, so it takes web-02 out.
        bounded_wait("haproxy sees web-02 DOWN", lambda: lb_state(fleet, "web-02") == "DOWN",
                     timeout=30)
    assert observe.tls_verifies(web.ip, web.fqdn, str(fleet.ca_path)) is None
    wait_lb_up(fleet)


def test_haproxy_server_down(fleet: Fleet) -> None:
    lb = fleet.host("lb-01")
    with faults.haproxy_server_down(fleet, "web-02"):
        with urllib.request.urlopen(f"http://{lb.ip}:8404/stats;csv", timeout=10) as resp:
            rows = resp.read().decode().splitlines()
        assert any(r.startswith("web,web-02,") and ",MAINT," in r for r in rows)
    wait_lb_up(fleet)


def test_fire_critical_alert(fleet: Fleet) -> None:
    with faults.fire_critical_alert(fleet, "FleetFaultCritical"):
        alerts = am_json(fleet, "/api/v2/alerts?active=true")
        assert {"FleetFaultCritical": "critical"}.items() <= {
            a["labels"]["alertname"]: a["labels"]["severity"] for a in alerts}.items()
    assert "FleetFaultCritical" not in observe.active_alerts(fleet.host("mon-01"))


def test_leave_silence(fleet: Fleet) -> None:
    with faults.leave_silence(fleet, "HighLoad") as fault:
        ours = [s for s in am_json(fleet, "/api/v2/silences")
                if s["id"] == fault.details["silence_id"]]
        assert ours and ours[0]["status"]["state"] == "active"
    assert fault.details["silence_id"] not in {
        s["id"] for s in observe.active_silences(fleet.host("mon-01"))}


def test_fill_filesystem(fleet: Fleet) -> None:
    db = fleet.host("db-01")
    used = "df --output=pcent /srv/data | tail -n 1 | tr -dc 0-9"
    with faults.fill_filesystem(fleet, "db-01", "/srv/data", percent=97):
        assert int(db.ssh(used).stdout) >= 95
    assert int(db.ssh(used).stdout) < 5


def test_leave_status_file(fleet: Fleet) -> None:
    lb = fleet.host("lb-01")
    with faults.leave_status_file(fleet, "lb-01"):
        assert lb.ssh("cat /etc/maintenance.status").stdout.startswith("maintenance in progress")
    assert lb.ssh("test -e /etc/maintenance.status", check=False).returncode == 1


def test_link_down(fleet: Fleet) -> None:
    mon = fleet.host("mon-01")
    with faults.link_down(fleet, "mon-01"), pytest.raises(OSError):
        socket.create_connection((mon.ip, 22), timeout=2).close()
    assert mon.ssh("true").returncode == 0


def test_hang_host(fleet: Fleet) -> None:
    lb = fleet.host("lb-01")
    with faults.hang_host(fleet, "lb-01"):
        assert observe.tcp_greeting(lb.ip, 22, timeout=2) is None  # accepts, never speaks
        argv = [a.replace("ConnectTimeout=5", "ConnectTimeout=2") for a in fleet.ssh_argv()]
        r = subprocess.run([*argv, f"root@{lb.ip}", "true"], capture_output=True, text=True,
                           timeout=30, check=False)
        assert r.returncode == 255 and "timed out" in r.stderr, r.stderr
    assert lb.ssh("true").returncode == 0


def test_kill_host(fleet: Fleet) -> None:
    web = fleet.host("web-02")
    old_pid1 = web.pid1
    with faults.kill_host(fleet, "web-02"):
        assert not web.is_alive
        with pytest.raises(OSError):
            socket.create_connection((web.ip, 22), timeout=2).close()
    assert web.is_alive and web.pid1 != old_pid1
    assert web.ssh("systemctl is-system-running").stdout.strip() == "running"
    wait_lb_up(fleet)
