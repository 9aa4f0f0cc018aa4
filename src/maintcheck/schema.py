"""The inventory variables maintcheck reads: one flat ``maintcheck_`` namespace, with defaults.

Variables are flat (``maintcheck_services``, not ``maintcheck: {services: ...}``) so that Ansible's
usual precedence applies to each one: a host_vars file overrides one threshold without replacing
the whole namespace, which is what ``hash_behaviour=replace`` would do to a nested dict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

PREFIX = "maintcheck_"
ITEM_ID = re.compile(r"\d+\.\d+")  # a checklist line's id, "2.3": fullmatch it


@dataclass(frozen=True)
class Var:
    """One documented inventory variable: ``Var("services", "list[str]", [], ...)``."""

    name: str
    type: str
    default: Any
    doc: str
    items: tuple[str, ...] = ()
    keys: dict[str, str] = field(default_factory=dict)
    secret: bool = False
    entry: str = ""  # list[dict]: the name of one entry's type, generated from ``keys``

    @property
    def full_name(self) -> str:
        return PREFIX + self.name


def credential_vars(service: str, where: str, *, token: bool = True) -> tuple[Var, ...]:
    """``<service>_username``, ``_password`` and (optionally) ``_token``: sent to ``where`` only.

    A URL's own ``user:password@`` (or ``TOKEN@``) goes to that URL, and wins over these.
    """
    found = (
        Var(f"{service}_username", "str", "", f"Basic auth user, sent only to {where}."),
        Var(f"{service}_password", "str", "", f"Basic auth password, sent only to {where}.",
            secret=True),
        Var(f"{service}_token", "str", "", f"Bearer token, sent only to {where}.", secret=True),
    )
    return found if token else found[:2]


# type names understood by maintcheck.inventory's validator:
#   str, int, float (int accepted), bool, list[str], dict[str,str], list[dict], dict
# For list[dict], ``keys`` names each allowed key and its type; a trailing "!" marks it required.

VARIABLES: tuple[Var, ...] = (
    # --- change metadata and sign-off block (usually in group_vars/all) ---
    Var("change", "str", "", "Change request id; `--change` overrides it.", ("1.2",)),
    Var("window", "str", "", "Maintenance window `START/END`, ISO 8601; `--window` overrides it.",
        ("15.6",)),
    Var("lead", "str", "", "Maintenance lead, for the sign-off block."),
    Var("technical_contact", "str", "", "Technical contact, for the sign-off block.", ("1.5",)),
    Var("business_contact", "str", "", "Business contact, for the sign-off block.", ("1.5",)),
    Var("emergency_contact", "str", "", "Emergency contact, for the sign-off block.", ("1.5",)),
    Var("tsa", "str", "", "RFC 3161 timestamping authority URL for trusted time on each run's "
        "signature; `--tsa` and ini `maintcheck_tsa` override it."),
    Var("secret_vars", "list[str]", [],
        "Extra variable names whose values are secrets and are redacted as `***` everywhere."),
    # --- connection behaviour ---
    Var("known_hosts", "str", "~/.ssh/known_hosts",
        "known_hosts file used for host key checking (checking is always on)."),
    Var("connect_timeout", "int", 10, "Seconds to connect to a host, handshake included."),
    Var("command_timeout", "int", 30, "Seconds any one remote command may run."),
    Var("http_timeout", "float", 10.0, "Seconds any one HTTP call may take."),
    Var("wait", "dict[str,str]", {},
        "Item id -> duration (`{\"7.1\": 5m}`; quote the ids): how long a failing automated "
        "check of that item on this host is re-run until it passes (during and post). `--wait` "
        "is the default for items not listed."),
    # --- capacity (2.2, 6.6) ---
    Var("disk_max_percent", "int", 90, "Highest allowed use of any local filesystem.",
        ("2.2", "6.6")),
    Var("inode_max_percent", "int", 90, "Highest allowed inode use of any local filesystem.",
        ("2.2", "6.6")),
    Var("memory_max_percent", "int", 95, "Highest allowed memory use (MemAvailable based).",
        ("2.2", "6.6")),
    Var("load_max_per_cpu", "float", 2.0, "Highest allowed 5-minute load average per CPU.",
        ("2.2", "6.6")),
    Var("filesystems", "list[str]", [],
        "Mount points to check; empty means every local, non-virtual filesystem.", ("2.2", "6.6")),
    # --- services ---
    Var("services", "list[str]", [], "systemd units that must be active.", ("7.1",)),
    Var("stopped_services", "list[str]", [],
        "Units stopped for the window: inactive during it, and not in the failed state.", ("4.2",)),
    Var("ports", "list[int]", [], "TCP ports that must be listening.", ("7.1",)),
    Var("security_units", "list[str]", [],
        "Security monitoring units that must be active (auditd, fail2ban, ...).", ("6.4",)),
    Var("log_shipper", "str", "", "Log shipping unit that must be active (rsyslog, ...).",
        ("6.3",)),
    Var("log_max_age_minutes", "int", 60,
        "The newest journal or syslog entry must be younger than this.", ("6.3",)),
    Var("timers", "list[str]", [],
        "systemd timers that must be active with a next elapse time.", ("7.6",)),
    Var("cron_required", "bool", True, "cron must be active.", ("7.6",)),
    # --- maintenance window ---
    Var("status_file", "str", "/etc/maintenance.status",
        "Maintenance status file: present during the window, absent after.", ("4.1", "9.1")),
    Var("maintenance_mode", "str", "",
        "Path of the maintenance mode mechanism (script or page) that must exist.", ("3.6",)),
    # --- backups ---
    Var("backups", "list[dict]", [],
        "Backup sets: the newest file of `glob` is younger than `max_age_hours` and at least "
        "`min_bytes`; a `<file>.sha256` sidecar, when present, must match.",
        ("1.6", "3.3", "4.3", "9.3", "10.3"),
        keys={"glob": "str!", "max_age_hours": "float", "min_bytes": "int",
              "retention_days": "float", "database": "bool"}, entry="BackupSet"),
    Var("backup_unit", "str", "",
        "Backup service (or timer) whose last run must have succeeded.", ("2.4",)),
    # --- safety ---
    Var("maintenance_user", "str", "", "Account the maintenance is run as.", ("3.1",)),
    Var("maintenance_group", "str", "", "Group the maintenance account must be in.", ("3.1",)),
    Var("sudoers_file", "str", "",
        "sudoers drop-in that must hold the account's rules: `visudo -c -f` must accept it, and "
        "`sudo -l -U` must list rules for the account.", ("3.1",)),
    Var("sudo_commands", "list[str]", [],
        "Commands the maintenance account must be allowed to run with sudo, without a "
        "password, as `sudo -l -U USER` lists them (`/usr/bin/systemctl`, or `ALL`).", ("3.1",)),
    Var("command_guard", "str", "",
        "Dangerous command protection: a package name (molly-guard) or a file path that must "
        "exist.", ("3.2",)),
    Var("rollback_scripts", "list[str]", [],
        "Rollback scripts: present, executable and passing `sh -n`.", ("3.4", "10.2")),
    # --- configuration and software ---
    Var("config_files", "list[dict]", [],
        "Configuration files that must match `sha256` or contain every line of `contains`.",
        ("4.4",), keys={"path": "str!", "sha256": "str", "contains": "list[str]"},
        entry="ConfigFile"),
    Var("packages", "dict[str,str]", {}, "Packages and their minimum versions.",
        ("4.5", "13.1")),
    Var("validate_commands", "list[str]", [],
        "Read-only validation commands that must exit 0 (`nginx -t`, `haproxy -c -f ...`).",
        ("4.7",)),
    Var("security_updates_allowed", "int", 0, "Pending security updates tolerated.",
        ("4.6", "12.1")),
    Var("package_lists_max_age_days", "float", 7.0,
        "Package lists older than this make the pending-update list untrustworthy.", ("12.1",)),
    # --- network ---
    Var("dependencies", "list[str]", [],
        "`host:port` endpoints each host must reach over TCP.", ("7.5",)),
    Var("dns", "dict[str,list[str]]", {}, "Names and the addresses they must resolve to.",
        ("14.4",)),
    Var("firewall_rules", "list[str]", [],
        "Fragments that must appear in `nft list ruleset` (or `iptables-save`).", ("14.6",)),
    Var("temp_paths", "list[str]", [], "Paths that must be empty or absent after the window.",
        ("9.2",)),
    # --- HTTP and TLS (checked from the controller) ---
    Var("http", "list[dict]", [],
        "HTTP endpoints: `url`, expected `status`, a `contains` body match, `max_latency_ms`.",
        ("5.3", "5.6", "7.1", "7.2", "8.3", "13.6"),
        keys={"name": "str", "url": "str!", "status": "int", "contains": "str",
              "max_latency_ms": "int", "headers": "dict"}, entry="HttpEndpoint"),
    Var("journeys", "list[dict]", [],
        "Synthetic user journeys: a `name` and `steps`, each an HTTP endpoint as in `http`.",
        ("7.4",), keys={"name": "str!", "steps": "list!"}, entry="Journey"),
    Var("ca_bundle", "str", "", "CA bundle (on the controller) for TLS verification."),
    *credential_vars("http", "this host's `maintcheck_http` and `maintcheck_journeys` URLs "
                     "and its `maintcheck_lb_url`, and to no other URL"),
    Var("latency_max_ratio", "float", 1.5,
        "Post: an endpoint slower than this times its pre-window latency fails.", ("7.2",)),
    Var("latency_min_increase_ms", "int", 50,
        "Post: an endpoint must also be this many ms slower than before the window to fail "
        "(below it, a slower answer is noise).", ("7.2",)),
    Var("tls", "list[dict]", [],
        "TLS endpoints: `address` host:port, `server_name` for SNI and SAN matching.",
        ("5.5",), keys={"address": "str!", "server_name": "str!"}, entry="TlsEndpoint"),
    Var("tls_warn_days", "int", 30, "Certificates expiring sooner than this warn.", ("5.5",)),
    Var("tls_fail_days", "int", 7, "Certificates expiring sooner than this fail.", ("5.5",)),
    Var("tls_min_key_bits", "int", 2048, "Smallest RSA key allowed (EC keys: 256).", ("5.5",)),
    # --- PostgreSQL (through the host connection, as the postgres user) ---
    Var("postgres_role", "str", "", "`primary` or `replica`.", ("2.3", "5.2", "10.3")),
    Var("postgres_replicas", "list[str]", [],
        "On a primary: application_name (or client address) of every replica that must stream.",
        ("2.3",)),
    Var("replication_max_lag_seconds", "float", 30.0, "Highest allowed replay lag on a replica.",
        ("2.3",)),
    Var("postgres_clients", "list[str]", [],
        "On a database host: inventory hosts that must reach it (`SELECT 1` over TCP).",
        ("5.2",)),
    Var("postgres_port", "int", 5432, "PostgreSQL port.", ("5.2",)),
    # --- HAProxy ---
    Var("haproxy_stats_url", "str", "", "HAProxy stats CSV URL (`.../stats;csv`).",
        ("2.6", "14.5")),
    Var("haproxy_backends", "dict[str,list[str]]", {},
        "Backends and the servers each must have UP, READY and weighted.",
        ("2.6", "5.4", "7.1", "14.5")),
    Var("haproxy_config", "str", "/etc/haproxy/haproxy.cfg", "HAProxy configuration file.",
        ("14.5",)),
    Var("lb_url", "str", "",
        "A URL through the load balancer frontend, for routing checks: requests for it are sent "
        "to this host's frontend, and HAProxy's per-server counters show which server got each "
        "one; every server of `haproxy_backends` must get a share and answer as declared "
        "(needs `haproxy_stats_url` too).",
        ("5.4", "7.1")),
    Var("lb_status", "int", 200, "The status every answer through the frontend must have.",
        ("5.4", "7.1")),
    Var("lb_contains", "str", "",
        "Text every answer through the frontend must contain (a maintenance page served with "
        "HTTP 200 by one backend then fails, naming that backend).", ("5.4", "7.1")),
    # --- Prometheus and Alertmanager ---
    Var("prometheus_url", "str", "",
        "Prometheus base URL. Declare it on the monitoring host(s): each host that declares it "
        "reports these items, naming the target or rule.", ("2.5", "6.1", "6.2", "7.3")),
    Var("alertmanager_url", "str", "",
        "Alertmanager base URL. Declare it on the monitoring host(s), like `prometheus_url`: "
        "one firing alert is then one failure, not one per host.", ("2.1", "9.4")),
    Var("alert_min_severity", "str", "critical",
        "Firing alerts at or above this severity fail 2.1.", ("2.1",)),
    Var("alert_rules", "list[str]", [], "Alert rules that must be loaded and healthy.",
        ("6.2",)),
    Var("error_rate_query", "str", "", "PromQL giving an error rate.", ("7.3",)),
    Var("error_rate_max", "float", 0.01, "Highest allowed error rate.", ("7.3",)),
    Var("feature_flags", "list[dict]", [],
        "Feature flags: a `url` returning JSON and the `expect`ed key/values.", ("13.4",),
        keys={"url": "str!", "expect": "dict!"}, entry="FeatureFlag"),
    # --- credentials of the APIs maintcheck reads through, each sent to its own URL only ---
    *credential_vars("prometheus", "`maintcheck_prometheus_url` and the paths under it"),
    *credential_vars("alertmanager", "`maintcheck_alertmanager_url` and the paths under it"),
    *credential_vars("haproxy_stats", "`maintcheck_haproxy_stats_url`", token=False),
    *credential_vars("feature_flags", "each `maintcheck_feature_flags` URL"),
)

BY_NAME: dict[str, Var] = {v.full_name: v for v in VARIABLES}


def default(name: str) -> Any:
    """The documented default of a variable: ``default("disk_max_percent") == 90``."""
    value = BY_NAME[PREFIX + name].default
    return list(value) if isinstance(value, list) else dict(value) if isinstance(value, dict) else value


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``5m`` or ``1h``; at most a day."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 90s, 5m or 1h")
    seconds = float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]
    if not 0 < seconds <= 86400:
        raise ValueError(f"{text!r} must be above 0 and at most 24h")
    return seconds
