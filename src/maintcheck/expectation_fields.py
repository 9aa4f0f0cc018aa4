"""The inventory variables as typed attributes of
:class:`~maintcheck.inventory.Expectations`: ``expect.disk_max_percent`` is an int.

Generated from :mod:`maintcheck.schema` by ``python -m maintcheck.docs``: do not edit.
A float variable may hold an int (YAML's ``2``), as ``float`` allows; a secret one is a
:class:`~maintcheck.secret.Secret`; Any is what the inventory's validator leaves unchecked.
"""

from __future__ import annotations

from typing import Any, Required, TypedDict

from maintcheck.secret import Secret


class BackupSet(TypedDict, total=False):
    """One entry of ``maintcheck_backups``."""

    glob: Required[str]
    max_age_hours: float
    min_bytes: int
    retention_days: float
    database: bool


class ConfigFile(TypedDict, total=False):
    """One entry of ``maintcheck_config_files``."""

    path: Required[str]
    sha256: str
    contains: list[str]


class HttpEndpoint(TypedDict, total=False):
    """One entry of ``maintcheck_http``."""

    name: str
    url: Required[str]
    status: int
    contains: str
    max_latency_ms: int
    headers: dict[str, Any]


class Journey(TypedDict, total=False):
    """One entry of ``maintcheck_journeys``."""

    name: Required[str]
    steps: Required[list[Any]]


class TlsEndpoint(TypedDict, total=False):
    """One entry of ``maintcheck_tls``."""

    address: Required[str]
    server_name: Required[str]


class FeatureFlag(TypedDict, total=False):
    """One entry of ``maintcheck_feature_flags``."""

    url: Required[str]
    expect: Required[dict[str, Any]]


class ExpectationFields:
    """Every maintcheck_ variable, typed; its doc is in the README's reference."""

    change: str
    window: str
    lead: str
    technical_contact: str
    business_contact: str
    emergency_contact: str
    tsa: str
    secret_vars: list[str]
    known_hosts: str
    connect_timeout: int
    command_timeout: int
    http_timeout: float
    wait: dict[str, Any]
    disk_max_percent: int
    inode_max_percent: int
    memory_max_percent: int
    load_max_per_cpu: float
    filesystems: list[str]
    services: list[str]
    stopped_services: list[str]
    ports: list[int]
    security_units: list[str]
    log_shipper: str
    log_max_age_minutes: int
    timers: list[str]
    cron_required: bool
    status_file: str
    maintenance_mode: str
    backups: list[BackupSet]
    backup_unit: str
    maintenance_user: str
    maintenance_group: str
    sudoers_file: str
    sudo_commands: list[str]
    command_guard: str
    rollback_scripts: list[str]
    config_files: list[ConfigFile]
    packages: dict[str, Any]
    validate_commands: list[str]
    security_updates_allowed: int
    package_lists_max_age_days: float
    dependencies: list[str]
    dns: dict[str, list[Any]]
    firewall_rules: list[str]
    temp_paths: list[str]
    http: list[HttpEndpoint]
    journeys: list[Journey]
    ca_bundle: str
    http_username: str
    http_password: Secret
    http_token: Secret
    latency_max_ratio: float
    latency_min_increase_ms: int
    tls: list[TlsEndpoint]
    tls_warn_days: int
    tls_fail_days: int
    tls_min_key_bits: int
    postgres_role: str
    postgres_replicas: list[str]
    replication_max_lag_seconds: float
    postgres_clients: list[str]
    postgres_port: int
    haproxy_stats_url: str
    haproxy_backends: dict[str, list[Any]]
    haproxy_config: str
    lb_url: str
    lb_status: int
    lb_contains: str
    prometheus_url: str
    alertmanager_url: str
    alert_min_severity: str
    alert_rules: list[str]
    error_rate_query: str
    error_rate_max: float
    feature_flags: list[FeatureFlag]
    prometheus_username: str
    prometheus_password: Secret
    prometheus_token: Secret
    alertmanager_username: str
    alertmanager_password: Secret
    alertmanager_token: Secret
    haproxy_stats_username: str
    haproxy_stats_password: Secret
    feature_flags_username: str
    feature_flags_password: Secret
    feature_flags_token: Secret
