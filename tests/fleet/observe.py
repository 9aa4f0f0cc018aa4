"""Read the state of a booted fleet: what waits, faults and tests look at.

These helpers only read.  Inside-host reads go through ``Host.exec``; TLS is read from the
controller, the way a client sees it.
"""

from __future__ import annotations

import json
import socket
import ssl
from typing import Any

from cryptography import x509

from .host import Host

PROM = "http://127.0.0.1:9090"
AM = "http://127.0.0.1:9093"


def psql(host: Host, sql: str, db: str = "postgres") -> str:
    """Run ``sql`` as the postgres superuser inside ``host``; unaligned, tuples only."""
    r = host.exec(["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1",
                   "-d", db, "-c", sql])
    return r.stdout.strip()


def replica_states(primary: Host) -> dict[str, str]:
    """``{application_name: state}`` from the primary's ``pg_stat_replication``."""
    rows = psql(primary, "SELECT application_name, state FROM pg_stat_replication")
    return dict(line.split("|", 1) for line in rows.splitlines() if "|" in line)


def replay_paused_behind(replica: Host) -> tuple[bool, bool]:
    """(replay paused, received WAL not yet replayed) on a replica."""
    row = psql(replica, "SELECT pg_is_wal_replay_paused(), "
                        "pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()")
    paused, behind = row.split("|")
    return paused == "t", behind == "t"


def haproxy_status(lb: Host) -> dict[str, str]:
    """``{"web/web-01": "UP", ...}`` from the stats CSV, read inside the lb."""
    csv = lb.exec("curl -sf --max-time 5 'http://127.0.0.1:8404/stats;csv'").stdout
    out = {}
    for line in csv.splitlines()[1:]:
        f = line.split(",")
        if len(f) > 17 and f[1] not in ("FRONTEND", "BACKEND"):
            out[f"{f[0]}/{f[1]}"] = f[17]
    return out


def haproxy_weights(lb: Host) -> dict[str, str]:
    """``{"web/web-01": "1", ...}``: each server's effective weight, from the stats CSV."""
    csv = lb.exec("curl -sf --max-time 5 'http://127.0.0.1:8404/stats;csv'").stdout
    return {f"{f[0]}/{f[1]}": f[18] for f in (line.split(",") for line in csv.splitlines()[1:])
            if len(f) > 18 and f[1] not in ("FRONTEND", "BACKEND")}


def http_json(host: Host, url: str, method: str = "GET", body: Any = None) -> Any:
    """JSON from ``url`` fetched with curl inside ``host``."""
    argv = ["curl", "-sf", "--max-time", "5", "-X", method, url]
    if body is not None:
        argv += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
    out = host.exec(argv, input=None if body is None else json.dumps(body)).stdout
    return json.loads(out) if out.strip() else None


def prometheus_targets(mon: Host) -> dict[str, str]:
    """``{instance: health}`` of Prometheus's active targets."""
    data = http_json(mon, f"{PROM}/api/v1/targets")["data"]["activeTargets"]
    return {t["labels"]["instance"]: t["health"] for t in data}


def alertmanagers(mon: Host) -> list[str]:
    """URLs of the Alertmanagers Prometheus currently sends to."""
    data = http_json(mon, f"{PROM}/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
    return [a["url"] for a in data]


def prometheus_rules(mon: Host) -> set[str]:
    groups = http_json(mon, f"{PROM}/api/v1/rules")["data"]["groups"]
    return {r["name"] for g in groups for r in g["rules"]}


def active_alerts(mon: Host) -> dict[str, str]:
    """``{alertname: severity}`` of alerts Alertmanager holds as active (not silenced)."""
    alerts = http_json(mon, f"{AM}/api/v2/alerts?active=true&silenced=false&inhibited=false")
    return {a["labels"]["alertname"]: a["labels"].get("severity", "") for a in alerts
            if a["status"]["state"] == "active"}


def active_silences(mon: Host) -> list[dict[str, Any]]:
    return [s for s in http_json(mon, f"{AM}/api/v2/silences")
            if s["status"]["state"] == "active"]


def served_certificate(ip: str, server_name: str, port: int = 443) -> x509.Certificate:
    """The certificate a TLS server presents for ``server_name`` (not verified)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with (socket.create_connection((ip, port), timeout=5) as sock,
          ctx.wrap_socket(sock, server_hostname=server_name) as tls):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def tls_verifies(ip: str, server_name: str, ca_file: str, port: int = 443) -> str | None:
    """None when the server's chain and name verify against ``ca_file``, else the reason."""
    ctx = ssl.create_default_context(cafile=ca_file)
    try:
        with (socket.create_connection((ip, port), timeout=5) as sock,
              ctx.wrap_socket(sock, server_hostname=server_name)):
            return None
    except ssl.SSLCertVerificationError as e:
        return e.verify_message or str(e)


def unit_state(host: Host, unit: str) -> str:
    """``systemctl is-active`` of ``unit``: active, inactive, failed, ..."""
    return host.exec(["systemctl", "is-active", unit], check=False).stdout.strip()


def tcp_greeting(ip: str, port: int = 22, timeout: float = 3.0) -> bytes | None:
    """The first bytes a TCP server sends, or None if it accepts and stays silent."""
    with socket.create_connection((ip, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        try:
            return sock.recv(64) or None
        except TimeoutError:
            return None
