"""The healthy demo fleet, observed the way a client sees it: real ssh, TLS, HTTP."""

from __future__ import annotations

import csv
import io
import json
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from fleet import DEMO, Fleet, observe

pytestmark = pytest.mark.fleet
HOSTS = [h.name for h in DEMO.hosts]


def fetch(url: str, ca: Path | None = None) -> str:
    ctx = ssl.create_default_context(cafile=str(ca)) if ca else None
    with urllib.request.urlopen(url, timeout=10, context=ctx) as resp:
        return resp.read().decode()


@pytest.mark.parametrize("name", HOSTS)
def test_host_runs_systemd_ssh_cron_syslog_over_ssh(fleet: Fleet, name: str) -> None:
    """Over real ssh (fleet key, host keys checked): the system is running, base units active."""
    r = fleet.host(name).ssh("hostname; systemctl is-system-running; "
                             "systemctl is-active ssh cron rsyslog")
    assert r.stdout.split() == [name, "running", "active", "active", "active"], r.stdout


def test_hosts_have_their_own_host_keys_and_checking_is_on(fleet: Fleet, tmp_path: Path
                                                           ) -> None:
    """known_hosts names six distinct keys; a key for another host is refused."""
    lines = fleet.known_hosts_path.read_text().splitlines()
    assert len({line.split()[2] for line in lines}) == len(HOSTS)
    web1, web2 = fleet.host("web-01"), fleet.host("web-02")
    wrong = tmp_path / "known_hosts"
    key_of_web2 = next(line for line in lines if line.startswith("web-02,")).split(" ", 1)[1]
    wrong.write_text(f"{web1.ip} {key_of_web2}\n")
    argv = [a if not a.startswith("UserKnownHostsFile=") else f"UserKnownHostsFile={wrong}"
            for a in fleet.ssh_argv()]
    r = subprocess.run([*argv, f"root@{web1.ip}", "true"], capture_output=True, text=True,
                       timeout=30, check=False)
    assert r.returncode == 255 and "host key" in r.stderr.lower(), r.stderr
    assert web2.ssh("true").returncode == 0


def test_replica_streams_under_its_host_name(fleet: Fleet) -> None:
    assert observe.replica_states(fleet.host("db-01")) == {"db-02": "streaming"}


@pytest.mark.parametrize("name", ["web-01", "web-02"])
def test_web_serves_health_and_app_over_tls_signed_by_the_test_ca(fleet: Fleet, name: str
                                                                  ) -> None:
    h = fleet.host(name)
    for server_name in (h.fqdn, "app.fleet.test"):
        assert observe.tls_verifies(h.ip, server_name, str(fleet.ca_path)) is None
    assert fetch(f"https://{h.ip}/health", fleet.ca_path) == "ok"
    assert f"served by {name}" in fetch(f"https://{h.ip}/", fleet.ca_path)


def test_lb_balances_both_webs_and_its_stats_csv_shows_them_up(fleet: Fleet) -> None:
    lb = fleet.host("lb-01")
    rows = list(csv.DictReader(io.StringIO(
        fetch(f"http://{lb.ip}:8404/stats;csv").lstrip("# "))))
    servers = {r["svname"]: r["status"] for r in rows if r["pxname"] == "web"}
    assert servers == {"web-01": "UP", "web-02": "UP", "BACKEND": "UP"}
    served_by = {fetch(f"https://{lb.ip}/", fleet.ca_path).split("served by ")[1][:6]
                 for _ in range(4)}
    assert served_by == {"web-01", "web-02"}


def test_prometheus_scrapes_every_host_and_has_the_alert_rules(fleet: Fleet) -> None:
    mon = fleet.host("mon-01")
    targets = json.loads(fetch(f"http://{mon.ip}:9090/api/v1/targets"))["data"]["activeTargets"]
    assert {t["labels"]["instance"]: t["health"] for t in targets} == {
        **{n: "up" for n in HOSTS}, "prometheus": "up"}
    rules = json.loads(fetch(f"http://{mon.ip}:9090/api/v1/rules"))["data"]["groups"]
    severity = {r["name"]: r["labels"]["severity"] for g in rules for r in g["rules"]}
    assert severity == {"InstanceDown": "critical", "HighLoad": "warning"}
    am = json.loads(fetch(f"http://{mon.ip}:9090/api/v1/alertmanagers"))["data"]
    assert [a["url"] for a in am["activeAlertmanagers"]] == ["http://127.0.0.1:9093/api/v2/alerts"]
    assert json.loads(fetch(f"http://{mon.ip}:9093/api/v2/status"))["cluster"]["status"] == (
        "disabled")


@pytest.mark.parametrize("name", HOSTS)
def test_host_level_fixtures_are_in_place(fleet: Fleet, name: str) -> None:
    """Backup ran once with a valid sidecar; maint account, sudoers, rollback, firewall, mount."""
    script = (
        "set -e; cd /var/backups/maintcheck; sha256sum -c --status $(ls *.sha256 | tail -n 1); "
        "systemctl show -p Result --value backup.service; systemctl is-active backup.timer; "
        "id -nG maint; visudo -cqf /etc/sudoers.d/maintenance && echo sudoers-ok; "
        "sh -n /usr/local/sbin/rollback.sh && test -x /usr/local/sbin/rollback.sh && "
        "echo rollback-ok; nft list ruleset | grep -c 'tcp dport 22 accept'; "
        "findmnt -no FSTYPE /srv/data; getent hosts app.fleet.test | cut -d' ' -f1"
    )
    out = fleet.host(name).ssh(script).stdout.split()
    lb_ip = fleet.host("lb-01").ip
    assert out == ["success", "active", "maint", "maintenance", "sudoers-ok", "rollback-ok",
                   "1", "tmpfs", lb_ip], out


def test_primary_has_a_fresh_database_dump(fleet: Fleet) -> None:
    out = fleet.host("db-01").ssh("cd /var/backups/postgres && ls app-*.dump && "
                                  "sha256sum -c --status app-*.dump.sha256 && echo ok").stdout
    assert out.split()[-1] == "ok" and out.startswith("app-")


def test_inventory_is_plain_ansible_yaml_with_maintcheck_expectations(fleet: Fleet) -> None:
    ansible_inventory = Path(sys.executable).with_name("ansible-inventory")
    r = subprocess.run([str(ansible_inventory), "-i", str(fleet.inventory_path), "--list"],
                       capture_output=True, text=True, timeout=120, check=True)
    data = json.loads(r.stdout)
    assert set(data["db"]["children"]) == {"db_primary", "db_replica"}
    assert {g: data[g]["hosts"] for g in ("web", "lb", "monitoring")} == {
        "web": ["web-01", "web-02"], "lb": ["lb-01"], "monitoring": ["mon-01"]}
    hv = data["_meta"]["hostvars"]
    assert hv["db-01"]["maintcheck_postgres_replicas"] == ["db-02"]
    assert hv["db-02"]["maintcheck_postgres_role"] == "replica"
    assert hv["web-01"]["ansible_host"] == fleet.host("web-01").ip
    assert hv["lb-01"]["maintcheck_haproxy_backends"] == {"web": ["web-01", "web-02"]}
    assert all(v["maintcheck_known_hosts"] == str(fleet.known_hosts_path) for v in hv.values())
    assert yaml.safe_load(fleet.inventory_path.read_text())["all"]["children"]["lb"]


def test_inventory_loads_in_maintcheck(fleet: Fleet) -> None:
    from maintcheck import inventory

    inv = inventory.load(fleet.inventory_path)  # raises on any problem, with its file
    assert sorted(h.name for h in inv.hosts) == sorted(HOSTS)
