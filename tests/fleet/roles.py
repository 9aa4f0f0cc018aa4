"""What each role puts on a host: files written before boot, then steps run inside it.

``ROLES`` maps a role name to a :class:`Role`.  Every host gets ``common`` first, then its own
roles.  ``prepare`` functions fill a :class:`Preboot` plan (applied to the host's upper layer
before it boots); ``steps`` run through ``Host.exec`` once the host is up, phase by phase
across the fleet.  Add a step by appending to a role's ``steps``.  Steps must be idempotent:
a revived host runs them again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .host import Host, Preboot, bounded_wait
from .observe import haproxy_status, prometheus_rules, prometheus_targets, psql, replica_states
from .spec import APP_NAME

if TYPE_CHECKING:
    from .harness import Fleet

PrepareFn = Callable[[Preboot, Host, "Fleet"], None]
StepFn = Callable[[Host, "Fleet"], None]

PG_VERSION = "15"
PG_UNIT = f"postgresql@{PG_VERSION}-main"
PG_CONF = f"/etc/postgresql/{PG_VERSION}/main"
PG_DATA = f"/var/lib/postgresql/{PG_VERSION}/main"
BACKUP_DIR = "/var/backups/maintcheck"
PG_DUMP_DIR = "/var/backups/postgres"
CA_PATH = "/etc/ssl/fleet/ca.pem"
STATUS_FILE = "/etc/maintenance.status"
DATA_MOUNT = "/srv/data"
ALERT_RULES = ("InstanceDown", "HighLoad")

# Units that make no sense in a host that shares the real machine's kernel.
CONTAINER_MASKS = (
    "systemd-udevd.service", "systemd-udevd-control.socket", "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service", "systemd-udev-settle.service", "systemd-modules-load.service",
    "systemd-sysctl.service", "systemd-remount-fs.service", "systemd-pstore.service",
    "systemd-hwdb-update.service", "systemd-firstboot.service", "systemd-binfmt.service",
    "systemd-journald-audit.socket", "proc-sys-fs-binfmt_misc.automount",
    "sys-kernel-config.mount", "sys-kernel-debug.mount", "sys-kernel-tracing.mount",
    "sys-fs-fuse-connections.mount", "dev-hugepages.mount", "dev-mqueue.mount",
    "getty@tty1.service", "getty-static.service", "console-getty.service",
    "e2scrub_reap.service", "dpkg-db-backup.timer",
    # No console to ask passwords on; each path unit would also cost an inotify instance,
    # and those are counted per uid across the whole machine.
    "systemd-ask-password-console.path", "systemd-ask-password-wall.path",
)


@dataclass(frozen=True)
class Step:
    """A named action inside a booted host; phase 2 runs after every host finished phase 1."""

    name: str
    run: StepFn
    phase: int = 1


@dataclass(frozen=True)
class Role:
    name: str
    prepare: tuple[PrepareFn, ...] = ()
    steps: tuple[Step, ...] = ()


def unit(description: str, body: str, install: str = "") -> str:
    text = f"[Unit]\nDescription={description}\n\n{body.strip()}\n"
    return text + (f"\n[Install]\n{install.strip()}\n" if install else "")


# --- common ------------------------------------------------------------------------------------

SSHD_CONF = """\
# maintcheck fleet: one host key per host, keys only
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 100:30:200
MaxSessions 50
"""

NFTABLES = """\
#!/usr/sbin/nft -f
flush ruleset

table inet filter {
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
		iif "lo" accept
		tcp dport 22 accept
		tcp dport 9100 accept
		tcp dport { 443, 5432, 8404, 9090, 9093 } accept
	}
}
"""

BACKUP_SH = f"""\
#!/bin/sh
# Back up /etc as a tarball with a sha256 sidecar; keep a week.
set -eu
dir={BACKUP_DIR}
ts=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$dir"
cd "$dir"
tar -czf ".backup-$ts.tmp" -C / etc
mv ".backup-$ts.tmp" "backup-$ts.tar.gz"
sha256sum "backup-$ts.tar.gz" > "backup-$ts.tar.gz.sha256"
find "$dir" -name 'backup-*' -mtime +7 -delete
"""

ROLLBACK_SH = f"""\
#!/bin/sh
# Roll back /etc to the newest backup; a dry run unless --apply is given.
set -eu
latest=$(ls -1t {BACKUP_DIR}/backup-*.tar.gz 2>/dev/null | head -n 1)
if [ -z "$latest" ]; then
  echo "rollback: no backup found in {BACKUP_DIR}" >&2
  exit 1
fi
if [ "${{1:-}}" = "--apply" ]; then
  tar -xzf "$latest" -C /
  echo "rollback: restored $latest"
else
  echo "rollback: would restore $latest (pass --apply)"
fi
"""

SUDOERS = """\
# maintcheck fleet: the maintenance account may manage services and roll back
%maintenance ALL=(root) NOPASSWD: /usr/bin/systemctl, /usr/local/sbin/rollback.sh
"""

# The fleet's security monitor: it follows the auth log and records failed ssh logins.  It
# polls (no inotify: the real machine has 128 instances for every fleet's hosts together).
AUTH_WATCH_UNIT = "auth-watch.service"
AUTH_WATCH = unit(
    "Record failed ssh logins (the fleet's security monitor)",
    "[Service]\nExecStart=/bin/sh -c 'tail ---disable-inotify -n 0 -F /var/log/auth.log | grep "
    "--line-buffered -E \"sshd.*(Failed|Invalid user)\" >> /var/log/auth-watch.log'\n"
    "Restart=on-failure", "WantedBy=multi-user.target")


def etc_hosts(fleet: Fleet) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    for h in fleet.hosts.values():
        aliases = f"{h.fqdn} {h.name}" + (f" {APP_NAME}" if "lb" in h.roles else "")
        lines.append(f"{h.ip}\t{aliases}")
    return "\n".join(lines) + "\n"


def prepare_common(p: Preboot, host: Host, fleet: Fleet) -> None:
    key = fleet.host_keys[host.name]
    p.file("/etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
    p.file("/etc/hostname", host.name + "\n")
    p.file("/etc/hosts", etc_hosts(fleet))
    p.file("/etc/resolv.conf", "# no DNS in the fleet: names come from /etc/hosts\n")
    p.file("/etc/ssh/ssh_host_ed25519_key", key.private, 0o600)
    p.file("/etc/ssh/ssh_host_ed25519_key.pub", key.public + "\n")
    p.file("/etc/ssh/sshd_config.d/fleet.conf", SSHD_CONF)
    p.file("/root/.ssh/authorized_keys", fleet.client_key.public + "\n", 0o600)
    p.file(CA_PATH, fleet.ca.pem_path.read_bytes())
    p.mask(*CONTAINER_MASKS)
    p.file("/etc/systemd/journald.conf.d/fleet.conf",
           "[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n")
    p.run("chmod 700 /root/.ssh")
    # imklog needs the real kernel's log: not ours to read.
    p.run("sed -i 's/^module(load=\"imklog\")/#&/' /etc/rsyslog.conf")
    p.run("getent group maintenance >/dev/null || groupadd --system maintenance")
    p.run("id maint >/dev/null 2>&1 || useradd -m -s /bin/bash -G maintenance maint")
    p.file("/etc/sudoers.d/maintenance", SUDOERS, 0o440)
    p.run("visudo -cqf /etc/sudoers.d/maintenance")
    p.file("/usr/local/sbin/rollback.sh", ROLLBACK_SH, 0o755)
    p.file("/usr/local/sbin/fleet-backup.sh", BACKUP_SH, 0o755)
    p.file("/etc/systemd/system/backup.service", unit(
        "Back up /etc", "[Service]\nType=oneshot\nExecStart=/usr/local/sbin/fleet-backup.sh"))
    p.file("/etc/systemd/system/backup.timer", unit(
        "Daily backup of /etc", "[Timer]\nOnCalendar=daily\nPersistent=true",
        "WantedBy=timers.target"))
    p.file("/etc/nftables.conf", NFTABLES, 0o755)
    p.file(f"/etc/systemd/system/{AUTH_WATCH_UNIT}", AUTH_WATCH)
    # No mirror is reachable from the fleet: its package lists are the image's, current for
    # the recipe it was built from.  Date them at boot, as the daily `apt-get update` of a
    # real host would, so that their age is the fleet's and not the image cache's.
    p.run("touch /var/lib/apt/lists/*Release")
    p.run("systemctl enable backup.timer nftables.service prometheus-node-exporter.service"
          f" {AUTH_WATCH_UNIT} 2>&1")


def run_backup(host: Host, fleet: Fleet) -> None:
    host.systemctl("start", "backup.service")
    host.exec(f"cd {BACKUP_DIR} && sha256sum -c --status $(ls -1t *.sha256 | head -n 1)")


# --- web ---------------------------------------------------------------------------------------

NGINX_SITE = """\
server {{
	listen 443 ssl default_server;
	server_name {fqdn} {app};
	ssl_certificate /etc/nginx/tls/server.crt;
	ssl_certificate_key /etc/nginx/tls/server.key;
	root /var/www/html;
	if (-f {flag}) {{
		return 503 "down for maintenance";
	}}
	location = /health {{
		default_type text/plain;
		return 200 "ok";
	}}
	location / {{
		try_files $uri /index.html;
	}}
}}
"""

INDEX_HTML = """\
<!doctype html>
<html><head><title>maintcheck demo app</title></head>
<body><h1>maintcheck demo app</h1><p>served by {name}</p></body></html>
"""


MAINTENANCE_FLAG = "/var/www/maintenance.on"
MAINTENANCE_SH = f"""\
#!/bin/sh
# Put this web host in maintenance mode (nginx answers 503) or take it out: on|off|status.
set -eu
case "${{1:-status}}" in
  on) touch {MAINTENANCE_FLAG} ;;
  off) rm -f {MAINTENANCE_FLAG} ;;
  status) ;;
  *) echo "usage: $0 on|off|status" >&2; exit 2 ;;
esac
if [ -e {MAINTENANCE_FLAG} ]; then echo on; else echo off; fi
"""
MAINTENANCE_SCRIPT = "/usr/local/sbin/maintenance-mode.sh"

# The app's background worker: a unit the maintenance window stops and starts again.
APP_WORKER_UNIT = "app-worker.service"
APP_WORKER = unit("The demo app's background worker",
                  "[Service]\nExecStart=/bin/sleep infinity\nRestart=on-failure",
                  "WantedBy=multi-user.target")
FLAGS_PATH = "/var/www/html/flags.json"
FLAGS = {"new_checkout": True, "search_v2": False}


def nginx_site(host: Host) -> str:
    return NGINX_SITE.format(fqdn=host.fqdn, app=APP_NAME, flag=MAINTENANCE_FLAG)


WEB_CERT, WEB_KEY = "/etc/nginx/tls/server.crt", "/etc/nginx/tls/server.key"


def install_web_cert(target: Preboot | Host, cert_pem: bytes, key_pem: bytes) -> None:
    """Write nginx's certificate and key (before boot, or into a running host)."""
    target_write = target.file if isinstance(target, Preboot) else target.write_file
    target_write(WEB_CERT, cert_pem, 0o644)
    target_write(WEB_KEY, key_pem, 0o600)


def prepare_web(p: Preboot, host: Host, fleet: Fleet) -> None:
    issued = fleet.issue_cert(host)
    install_web_cert(p, issued.cert_pem, issued.key_pem)
    p.file("/etc/nginx/sites-available/default", nginx_site(host))
    p.file(MAINTENANCE_SCRIPT, MAINTENANCE_SH, 0o755)
    p.file("/var/www/html/index.html", INDEX_HTML.format(name=host.name))
    p.file(FLAGS_PATH, json.dumps(FLAGS) + "\n")
    p.file(f"/etc/systemd/system/{APP_WORKER_UNIT}", APP_WORKER)
    p.run(f"systemctl enable nginx.service {APP_WORKER_UNIT} 2>&1")


def wait_web(host: Host, fleet: Fleet) -> None:
    host.wait_port(443)
    host.wait_for("https /health", f"curl -sf --cacert {CA_PATH} --resolve "
                  f"{host.fqdn}:443:127.0.0.1 https://{host.fqdn}/health | grep -qx ok")


# --- lb ----------------------------------------------------------------------------------------

HAPROXY_CFG = """\
global
	log /dev/log local0
	chroot /var/lib/haproxy
	stats socket /run/haproxy/admin.sock mode 660 level admin
	stats timeout 30s
	user haproxy
	group haproxy
	daemon
	ssl-default-bind-options ssl-min-ver TLSv1.2

defaults
	log global
	mode http
	option httplog
	option dontlognull
	timeout connect 2s
	timeout client 30s
	timeout server 30s

frontend app
	bind :443 ssl crt /etc/haproxy/tls/lb.pem
	default_backend web

backend web
	balance roundrobin
	option httpchk GET /health
	http-check expect string ok
	default-server check inter 2s fall 2 rise 1 ssl verify required ca-file {ca}
{servers}

listen stats
	bind :8404
	stats enable
	stats uri /stats
	stats refresh 5s
"""


def haproxy_cfg(fleet: Fleet) -> str:
    servers = "\n".join(
        f"\tserver {w.name} {w.ip}:443 sni str({w.fqdn}) check-sni {w.fqdn} verifyhost {w.fqdn}"
        for w in fleet.by_role("web"))
    return HAPROXY_CFG.format(ca=CA_PATH, servers=servers)


def prepare_lb(p: Preboot, host: Host, fleet: Fleet) -> None:
    p.file("/etc/haproxy/haproxy.cfg", haproxy_cfg(fleet))
    issued = fleet.issue_cert(host)
    p.file("/etc/haproxy/tls/lb.pem", issued.cert_pem + issued.key_pem, 0o600)
    p.run("haproxy -c -q -f /etc/haproxy/haproxy.cfg")
    p.run("systemctl enable haproxy.service 2>&1")


def wait_lb(host: Host, fleet: Fleet) -> None:
    host.wait_port(8404)
    want = {f"web/{w.name}" for w in fleet.by_role("web")}
    bounded_wait(f"{host.name}: haproxy servers {sorted(want)} UP",
                 lambda: all(haproxy_status(host).get(s) == "UP" for s in want), timeout=60)


# --- PostgreSQL --------------------------------------------------------------------------------

PG_FLEET_CONF = """\
listen_addresses = '*'
wal_level = replica
max_wal_senders = 10
wal_keep_size = '256MB'
hot_standby = on
shared_buffers = 32MB
"""

PG_DUMP_SH = f"""\
#!/bin/sh
# Daily logical dump of the app database, with a sha256 sidecar.
set -eu
cd {PG_DUMP_DIR}
ts=$(date -u +%Y%m%dT%H%M%SZ)
runuser -u postgres -- pg_dump -Fc -f ".app-$ts.tmp" app
mv ".app-$ts.tmp" "app-$ts.dump"
sha256sum "app-$ts.dump" > "app-$ts.dump.sha256"
find {PG_DUMP_DIR} -name 'app-*' -mtime +7 -delete
"""


def pg_hba(fleet: Fleet) -> str:
    # The fleet's subnet is a closed bridge that only this run's hosts sit on.
    net = fleet.addr.network
    return (
        "local all postgres peer\nlocal all all peer\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
        f"host all all {net} trust\nhost replication all {net} trust\n"
    )


def prepare_postgres(p: Preboot, host: Host, fleet: Fleet) -> None:
    p.file(f"{PG_CONF}/conf.d/fleet.conf", PG_FLEET_CONF)
    p.file(f"{PG_CONF}/pg_hba.conf", pg_hba(fleet), 0o640, "postgres:postgres")


HEARTBEAT_SQL = "INSERT INTO ticks DEFAULT VALUES; DELETE FROM ticks WHERE at < now() - interval '1 hour'"


def prepare_primary(p: Preboot, host: Host, fleet: Fleet) -> None:
    prepare_postgres(p, host, fleet)
    # A write every few seconds, as a busy primary has: replicas' replay lag stays small.
    p.file("/etc/systemd/system/fleet-heartbeat.service", unit(
        "Heartbeat write on the primary",
        f"[Service]\nType=oneshot\nUser=postgres\n"
        f"ExecStart=/usr/bin/psql -XAtq -d app -c \"{HEARTBEAT_SQL}\""))
    p.file("/etc/systemd/system/fleet-heartbeat.timer", unit(
        "Heartbeat write every 5 s", "[Timer]\nOnActiveSec=1s\nOnUnitActiveSec=5s\n"
        "AccuracySec=1s", "WantedBy=timers.target"))
    p.file("/usr/local/sbin/pg-dump-daily.sh", PG_DUMP_SH, 0o755)
    p.file("/etc/cron.d/pg-dump-daily", "17 2 * * * root /usr/local/sbin/pg-dump-daily.sh\n")
    p.run(f"install -d -o postgres -g postgres -m 750 {PG_DUMP_DIR}")
    p.run("systemctl enable postgresql.service 2>&1")


def setup_primary(host: Host, fleet: Fleet) -> None:
    host.wait_for("postgres accepting connections", "pg_isready -q -h 127.0.0.1")
    if not psql(host, "SELECT 1 FROM pg_database WHERE datname = 'app'"):
        psql(host, "CREATE DATABASE app")
    psql(host, "CREATE TABLE IF NOT EXISTS ticks (id bigserial PRIMARY KEY, "
               "at timestamptz NOT NULL DEFAULT now())", db="app")
    psql(host, "INSERT INTO ticks DEFAULT VALUES", db="app")
    host.systemctl("enable", "--now", "fleet-heartbeat.timer")
    host.exec("/usr/local/sbin/pg-dump-daily.sh")


def setup_replica(host: Host, fleet: Fleet) -> None:
    primary = fleet.by_role("db_primary")[0]
    host.systemctl("stop", PG_UNIT)
    host.exec(f"rm -rf {PG_DATA}")
    host.exec(["runuser", "-u", "postgres", "--", "pg_basebackup", "-h", primary.ip,
               "-U", "postgres", "-D", PG_DATA, "-X", "stream", "-R", "-c", "fast"],
              timeout=300)
    conninfo = f"host={primary.ip} port=5432 user=postgres application_name={host.name}"
    host.exec(f"echo \"primary_conninfo = '{conninfo}'\" >> {PG_DATA}/postgresql.auto.conf")
    host.systemctl("enable", "--now", "postgresql.service")
    bounded_wait(f"{host.name} streaming from {primary.name}",
                 lambda: replica_states(primary).get(host.name) == "streaming", timeout=60)


# --- monitoring --------------------------------------------------------------------------------

RULES = """\
groups:
  - name: fleet
    rules:
      - alert: InstanceDown
        expr: up == 0
        for: 1m
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.instance }} is down"
      - alert: HighLoad
        expr: >-
          node_load5 / on (instance) count by (instance) (node_cpu_seconds_total{mode="idle"})
          > 4
        for: 5m
        labels:
          severity: warning
        annotations:
          summary: "{{ $labels.instance }} has a high load"
"""

ALERTMANAGER_YML = """\
route:
  receiver: "null"
  group_by: [alertname]
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
  - name: "null"
"""


def prometheus_yml(fleet: Fleet) -> str:
    nodes = "\n".join(
        f"      - targets: ['{h.ip}:9100']\n        labels: {{instance: '{h.name}'}}"
        for h in fleet.hosts.values())
    return f"""\
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
  - /etc/prometheus/rules/*.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:9093']
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:9090']
        labels: {{instance: 'prometheus'}}
  - job_name: node
    static_configs:
{nodes}
"""


def prepare_monitoring(p: Preboot, host: Host, fleet: Fleet) -> None:
    p.file("/etc/prometheus/prometheus.yml", prometheus_yml(fleet))
    p.file("/etc/prometheus/rules/fleet.yml", RULES)
    p.file("/etc/prometheus/alertmanager.yml", ALERTMANAGER_YML)
    # A short resend delay: an alert whose first notification was dropped (Alertmanager set
    # still empty right after a reload) reaches Alertmanager seconds later, not a minute.
    p.file("/etc/default/prometheus",
           'ARGS="--storage.tsdb.retention.time=1d --rules.alert.resend-delay=5s"\n')
    # No cluster gossip: one Alertmanager, and no traffic beyond the fleet.
    p.file("/etc/default/prometheus-alertmanager", 'ARGS="--cluster.listen-address="\n')
    p.run("promtool check config /etc/prometheus/prometheus.yml >/dev/null")
    p.run("systemctl enable prometheus.service prometheus-alertmanager.service 2>&1")


def wait_monitoring(host: Host, fleet: Fleet) -> None:
    host.wait_port(9090)
    host.wait_port(9093)
    want = len(fleet.hosts) + 1

    bounded_wait(f"{host.name}: {want} prometheus targets up",
                 lambda: list(prometheus_targets(host).values()).count("up") == want,
                 timeout=90)
    bounded_wait(f"{host.name}: alert rules loaded",
                 lambda: set(ALERT_RULES) <= prometheus_rules(host), timeout=30)


ROLES: dict[str, Role] = {
    "common": Role("common", (prepare_common,), (Step("backup", run_backup),)),
    "web": Role("web", (prepare_web,), (Step("wait web", wait_web),)),
    "lb": Role("lb", (prepare_lb,), (Step("wait lb", wait_lb, phase=2),)),
    "db_primary": Role("db_primary", (prepare_primary,), (Step("primary", setup_primary),)),
    "db_replica": Role("db_replica", (prepare_postgres,),
                       (Step("replica", setup_replica, phase=2),)),
    "monitoring": Role("monitoring", (prepare_monitoring,),
                       (Step("wait monitoring", wait_monitoring, phase=2),)),
}


def roles_of(host: Host) -> list[Role]:
    return [ROLES["common"], *(ROLES[r] for r in host.roles)]
