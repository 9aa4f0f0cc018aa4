"""Write the fleet's Ansible inventory: connection variables and what the healthy fleet meets.

The layout follows ``inventory/example/`` (the format the README documents)::

    hosts.yml                  groups web, lb, db (children db_primary, db_replica), monitoring
    group_vars/all.yml         connection, sign-off block, expectations every host meets
    group_vars/<group>.yml     a role's expectations; list values repeat the common items,
                               because Ansible replaces lists rather than merging them
    host_vars/<web host>.yml   per-host HTTP, TLS and config-file expectations

Values are literal (no Jinja), so any reader of the inventory sees the same thing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from . import roles as r
from .spec import APP_NAME

if TYPE_CHECKING:
    from .harness import Fleet
    from .host import Host

# Minimum versions the fleet's packages satisfy (Debian bookworm).
PACKAGES = {
    "all": {"openssh-server": "1:9.2p1", "sudo": "1.9.13", "rsyslog": "8.2302",
            "cron": "3.0pl1", "nftables": "1.0.6"},
    "web": {"nginx": "1.22.1"},
    "lb": {"haproxy": "2.6.12"},
    "db": {"postgresql-15": "15.0"},
    "monitoring": {"prometheus": "2.42.0", "prometheus-alertmanager": "0.25.0"},
}
SERVICES = {
    "all": ["ssh", "cron", "rsyslog", "nftables", "prometheus-node-exporter"],
    "web": ["nginx", r.APP_WORKER_UNIT], "lb": ["haproxy"], "db": [r.PG_UNIT],
    "monitoring": ["prometheus", "prometheus-alertmanager"],
}
PORTS = {"all": [22, 9100], "web": [443], "lb": [443, 8404], "db": [5432],
         "monitoring": [9090, 9093]}
VALIDATE = {"all": ["sshd -t"], "web": ["nginx -t"],
            "lb": ["haproxy -c -f /etc/haproxy/haproxy.cfg"]}
SSHD_CONFIG = {"path": "/etc/ssh/sshd_config.d/fleet.conf",
               "contains": ["PermitRootLogin prohibit-password", "PasswordAuthentication no"]}
BACKUP = {"glob": f"{r.BACKUP_DIR}/backup-*.tar.gz", "max_age_hours": 26, "min_bytes": 1024,
          "retention_days": 7}
PG_DUMP = {"glob": f"{r.PG_DUMP_DIR}/app-*.dump", "max_age_hours": 26, "min_bytes": 256,
           "retention_days": 7, "database": True}


def _dump(path: Path, data: Any, comment: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
    path.write_text(f"# {comment}\n# Written by the maintcheck fleet harness (tests/fleet).\n"
                    + body)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _role(role: str) -> dict[str, Any]:
    """Services, ports, packages and validation of a role, with the common ones first."""
    out: dict[str, Any] = {
        "maintcheck_services": SERVICES["all"] + SERVICES[role],
        "maintcheck_ports": PORTS["all"] + PORTS[role],
        "maintcheck_packages": {**PACKAGES["all"], **PACKAGES[role]},
    }
    if role in VALIDATE:
        out["maintcheck_validate_commands"] = VALIDATE["all"] + VALIDATE[role]
    return out


def demo_window(now: dt.datetime | None = None) -> str:
    """The demo's maintenance window: opened just before boot, eight hours long (UTC)."""
    start = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0) - dt.timedelta(minutes=10)
    end = start + dt.timedelta(hours=8)
    return f"{start.isoformat().replace('+00:00', 'Z')}/{end.isoformat().replace('+00:00', 'Z')}"


def all_vars(fleet: Fleet) -> dict[str, Any]:
    dns = {h.fqdn: [h.ip] for h in fleet.hosts.values()}
    if fleet.by_role("lb"):
        dns[APP_NAME] = [h.ip for h in fleet.by_role("lb")]
    out: dict[str, Any] = {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(fleet.ssh_key_path),
        "ansible_ssh_common_args": (
            f"-o UserKnownHostsFile={fleet.known_hosts_path} -o StrictHostKeyChecking=yes"),
        "ansible_python_interpreter": "/usr/bin/python3",
        "maintcheck_known_hosts": str(fleet.known_hosts_path),
        "maintcheck_connect_timeout": 5,
        "maintcheck_change": "CHG-DEMO",
        "maintcheck_window": demo_window(),
        "maintcheck_lead": "Demo Lead",
        "maintcheck_technical_contact": "Ops on call <ops@fleet.test>",
        "maintcheck_business_contact": "Service owner <owner@fleet.test>",
        "maintcheck_emergency_contact": "NOC <noc@fleet.test>",
        "maintcheck_services": SERVICES["all"],
        "maintcheck_ports": PORTS["all"],
        "maintcheck_packages": PACKAGES["all"],
        "maintcheck_validate_commands": VALIDATE["all"],
        "maintcheck_log_shipper": "rsyslog",
        "maintcheck_security_units": [r.AUTH_WATCH_UNIT],
        # systemd-tmpfiles-clean.timer runs on OnBootSec/OnUnitActiveSec: its next run is on
        # the monotonic clock, and it must pass as Debian's own healthy timer
        "maintcheck_timers": ["backup.timer", "systemd-tmpfiles-clean.timer"],
        "maintcheck_backups": [BACKUP],
        "maintcheck_backup_unit": "backup.service",
        "maintcheck_maintenance_user": "maint",
        "maintcheck_maintenance_group": "maintenance",
        "maintcheck_sudoers_file": "/etc/sudoers.d/maintenance",
        "maintcheck_sudo_commands": ["/usr/bin/systemctl", "/usr/local/sbin/rollback.sh"],
        "maintcheck_command_guard": "molly-guard",
        "maintcheck_rollback_scripts": ["/usr/local/sbin/rollback.sh"],
        "maintcheck_status_file": r.STATUS_FILE,
        "maintcheck_temp_paths": ["/var/tmp/maintenance"],
        "maintcheck_filesystems": ["/", r.DATA_MOUNT],
        # The hosts share the test machine's kernel, so /proc/loadavg is the whole machine's:
        # busy with every other fleet and test, not theirs.  Disk and inodes are their own.
        "maintcheck_load_max_per_cpu": 32.0,
        # Healthy HTTPS answers here take 2-20 ms, and a busy shared machine stretched one to
        # 186 ms (latency is the best of 3 answers, which hides most of that); a slow link
        # (faults.slow_link, 32 kbit/s) makes them 430-520 ms.
        "maintcheck_latency_min_increase_ms": 150,
        "maintcheck_firewall_rules": ["tcp dport 22 accept"],
        "maintcheck_config_files": [SSHD_CONFIG],
        "maintcheck_dns": dns,
        "maintcheck_ca_bundle": str(fleet.ca_path),
    }
    return out


def web_vars(fleet: Fleet) -> dict[str, Any]:
    db = fleet.by_role("db_primary")
    return {
        **_role("web"),
        "maintcheck_maintenance_mode": r.MAINTENANCE_SCRIPT,
        # The window stops the app's worker; 7.1 (maintcheck_services) wants it back after.
        "maintcheck_stopped_services": [r.APP_WORKER_UNIT],
        "maintcheck_dependencies": [f"{h.ip}:5432" for h in db],
    }


def web_host_vars(h: Host) -> dict[str, Any]:
    return {
        "maintcheck_http": [
            {"name": f"{h.name} health", "url": f"https://{h.ip}/health", "status": 200,
             "contains": "ok", "max_latency_ms": 2000},
            {"name": f"{h.name} app page", "url": f"https://{h.ip}/", "status": 200,
             "contains": "maintcheck demo app", "max_latency_ms": 2000},
        ],
        "maintcheck_tls": [{"address": f"{h.ip}:443", "server_name": h.fqdn}],
        "maintcheck_feature_flags": [{"url": f"https://{h.ip}/flags.json", "expect": r.FLAGS}],
        "maintcheck_config_files": [
            SSHD_CONFIG,
            {"path": "/etc/nginx/sites-available/default", "sha256": _sha256(r.nginx_site(h))},
        ],
    }


def lb_vars(fleet: Fleet) -> dict[str, Any]:
    lb = fleet.by_role("lb")[0]
    base = f"https://{lb.ip}"
    return {
        **_role("lb"),
        "maintcheck_haproxy_stats_url": f"http://{lb.ip}:8404/stats;csv",
        "maintcheck_haproxy_backends": {"web": [w.name for w in fleet.by_role("web")]},
        # The app's name, as users reach it; 5.4 sends it to this lb and to each backend.
        "maintcheck_lb_url": f"https://{APP_NAME}/",
        "maintcheck_lb_contains": "maintcheck demo app",
        "maintcheck_dependencies": [f"{w.ip}:443" for w in fleet.by_role("web")],
        "maintcheck_http": [
            {"name": "app through the load balancer", "url": f"{base}/", "status": 200,
             "contains": "maintcheck demo app", "max_latency_ms": 2000},
            {"name": "health through the load balancer", "url": f"{base}/health",
             "status": 200, "contains": "ok", "max_latency_ms": 2000},
        ],
        "maintcheck_journeys": [
            {"name": "visit the app", "steps": [
                {"url": f"{base}/", "status": 200, "contains": "maintcheck demo app"},
                {"url": f"{base}/health", "status": 200, "contains": "ok"},
            ]},
        ],
        "maintcheck_tls": [{"address": f"{lb.ip}:443", "server_name": APP_NAME}],
        "maintcheck_config_files": [
            SSHD_CONFIG,
            {"path": "/etc/haproxy/haproxy.cfg", "sha256": _sha256(r.haproxy_cfg(fleet))},
        ],
    }


def db_vars(fleet: Fleet) -> dict[str, Any]:
    return {**_role("db"),
            "maintcheck_postgres_clients": [w.name for w in fleet.by_role("web")]}


def db_primary_vars(fleet: Fleet) -> dict[str, Any]:
    return {
        "maintcheck_postgres_role": "primary",
        "maintcheck_postgres_replicas": [h.name for h in fleet.by_role("db_replica")],
        "maintcheck_backups": [BACKUP, PG_DUMP],
    }


def db_replica_vars(fleet: Fleet) -> dict[str, Any]:
    return {"maintcheck_postgres_role": "replica",
            "maintcheck_replication_max_lag_seconds": 30}


def monitoring_vars(fleet: Fleet) -> dict[str, Any]:
    mon = fleet.by_role("monitoring")[0]
    # On the monitoring host only: one firing alert or leftover silence is one failure, there.
    return {
        **_role("monitoring"),
        "maintcheck_prometheus_url": f"http://{mon.ip}:9090",
        "maintcheck_alertmanager_url": f"http://{mon.ip}:9093",
        "maintcheck_alert_rules": list(r.ALERT_RULES),
        "maintcheck_error_rate_query": (
            'sum(rate(prometheus_http_requests_total{code=~"5.."}[1m])) or vector(0)'),
        "maintcheck_error_rate_max": 0.01,
    }


def hosts_tree(fleet: Fleet) -> dict[str, Any]:
    def group(role: str) -> dict[str, Any]:
        return {"hosts": {h.name: {"ansible_host": h.ip} for h in fleet.by_role(role)}}

    return {"all": {"children": {
        "web": group("web"),
        "lb": group("lb"),
        "db": {"children": {"db_primary": group("db_primary"),
                            "db_replica": group("db_replica")}},
        "monitoring": group("monitoring"),
    }}}


GROUP_VARS = {"web": web_vars, "lb": lb_vars, "db": db_vars, "db_primary": db_primary_vars,
              "db_replica": db_replica_vars, "monitoring": monitoring_vars}
GROUP_ROLES = {"db": ("db_primary", "db_replica")}


def write_inventory(fleet: Fleet) -> Path:
    """Write the inventory next to ``fleet.inventory_path`` (hosts.yml); return that path."""
    root = fleet.inventory_path.parent
    _dump(fleet.inventory_path, hosts_tree(fleet), f"The maintcheck demo fleet, {fleet.addr.network}")
    _dump(root / "group_vars" / "all.yml", all_vars(fleet), "Every host of the fleet.")
    for group, make in GROUP_VARS.items():
        if any(fleet.by_role(role) for role in GROUP_ROLES.get(group, (group,))):
            _dump(root / "group_vars" / f"{group}.yml", make(fleet), f"Group {group}.")
    for h in fleet.by_role("web"):
        _dump(root / "host_vars" / f"{h.name}.yml", web_host_vars(h), f"Host {h.name}.")
    return fleet.inventory_path
