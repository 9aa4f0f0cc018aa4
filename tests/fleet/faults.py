"""Fault injection: break one thing on purpose, observe it, undo it.

Every function takes the fleet first, injects one fault, waits (bounded) until the fault is
really in effect, and returns a :class:`Fault` whose ``undo()`` restores health and waits for
it.  A ``Fault`` is also a context manager:

>>> with faults.stop_unit(fleet, "web-01", "nginx"):
...     assert observe.unit_state(fleet.host("web-01"), "nginx") == "inactive"
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from . import network, observe
from .host import Host, bounded_wait
from .pki import TestCA
from .roles import DATA_MOUNT, PG_UNIT, STATUS_FILE, WEB_CERT, WEB_KEY, install_web_cert

if TYPE_CHECKING:
    from .harness import Fleet

FILL_FILE = ".fleet-fill"
FAULT_RULES = "/etc/prometheus/rules/fleet-fault.yml"


@dataclass
class Fault:
    """An injected fault; ``undo()`` reverts it and waits until the whole fleet is healthy."""

    name: str
    target: str
    fleet: Fleet = field(repr=False)
    _undo: Callable[[], None] = field(repr=False)
    undone: bool = False
    details: dict[str, str] = field(default_factory=dict)

    def revert(self) -> None:
        """Revert the fault (once) without waiting: for faults that are undone together."""
        if not self.undone:
            self._undo()
            self.undone = True

    def undo(self) -> None:
        """Revert the fault (once) and wait for fleet health; safe to call twice."""
        self.revert()
        self.fleet.wait_healthy()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.undo()


def _service(unit: str) -> str:
    return unit if "." in unit else f"{unit}.service"


def wait_unit(host: Host, unit: str, state: str, timeout: float = 30) -> None:
    """Wait (bounded) until ``unit`` on ``host`` is in ``state`` (active, inactive, ...)."""
    bounded_wait(f"{host.name}: {unit} {state}",
                 lambda: observe.unit_state(host, unit) == state, timeout=timeout)


# --- units -------------------------------------------------------------------------------------

def stop_unit(fleet: Fleet, host: str, unit: str) -> Fault:
    """``systemctl stop`` a unit; undo starts it."""
    h = fleet.host(host)
    h.systemctl("stop", unit)
    wait_unit(h, unit, "inactive")

    def undo() -> None:
        h.systemctl("start", unit)
        wait_unit(h, unit, "active")

    return Fault("stop_unit", f"{host}:{unit}", fleet, undo)


def fail_unit(fleet: Fleet, host: str, unit: str) -> Fault:
    """SIGKILL a service with restarts turned off, so that it ends ``failed``."""
    h, svc = fleet.host(host), _service(unit)
    dropin = f"/run/systemd/system/{svc}.d/fleet-fault.conf"
    h.write_file(dropin, "[Service]\nRestart=no\n")
    h.systemctl("daemon-reload")
    h.systemctl("kill", "--signal=SIGKILL", svc)
    wait_unit(h, svc, "failed")

    def undo() -> None:
        h.exec(["rm", "-f", dropin])
        h.systemctl("daemon-reload")
        h.systemctl("reset-failed", svc)
        h.systemctl("start", svc)
        wait_unit(h, svc, "active")

    return Fault("fail_unit", f"{host}:{svc}", fleet, undo)


# --- PostgreSQL --------------------------------------------------------------------------------

def _db_pair(fleet: Fleet, replica: str | None) -> tuple[Host, Host]:
    primary = fleet.by_role("db_primary")[0]
    return primary, fleet.host(replica) if replica else fleet.by_role("db_replica")[0]


def _wait_streaming(primary: Host, replica: Host, streaming: bool, timeout: float = 60) -> None:
    bounded_wait(f"{replica.name} {'' if streaming else 'not '}streaming",
                 lambda: (observe.replica_states(primary).get(replica.name) == "streaming")
                 == streaming, timeout=timeout)


def break_replication(fleet: Fleet, replica: str | None = None) -> Fault:
    """Stop the replica's PostgreSQL: it disappears from the primary's pg_stat_replication."""
    primary, rep = _db_pair(fleet, replica)
    rep.systemctl("stop", PG_UNIT)
    _wait_streaming(primary, rep, False)

    def undo() -> None:
        rep.systemctl("start", PG_UNIT)
        _wait_streaming(primary, rep, True)

    return Fault("break_replication", rep.name, fleet, undo)


def lag_replication(fleet: Fleet, replica: str | None = None) -> Fault:
    """Pause WAL replay on the replica and write on the primary: the replica falls behind.

    Its lag (``now() - pg_last_xact_replay_timestamp()``, or ``replay_lag`` on the primary)
    then grows by one second per second until ``undo()`` resumes replay.
    """
    primary, rep = _db_pair(fleet, replica)
    observe.psql(rep, "SELECT pg_wal_replay_pause()")
    observe.psql(primary, "INSERT INTO ticks DEFAULT VALUES", db="app")
    bounded_wait(f"{rep.name} paused and behind",
                 lambda: observe.replay_paused_behind(rep) == (True, True), timeout=30)

    def undo() -> None:
        observe.psql(rep, "SELECT pg_wal_replay_resume()")
        bounded_wait(f"{rep.name} caught up",
                     lambda: observe.replay_paused_behind(rep) == (False, False), timeout=60)

    return Fault("lag_replication", rep.name, fleet, undo)


# --- TLS ---------------------------------------------------------------------------------------

def _swap_cert(fleet: Fleet, web: str, name: str, names: list[str] | None = None,
               not_before: dt.datetime | None = None, not_after: dt.datetime | None = None,
               issuer: TestCA | None = None) -> Fault:
    h = fleet.host(web)
    # undone by serving the very certificate served before: a post run compares fingerprints
    original = (h.read_file(WEB_CERT).encode(), h.read_file(WEB_KEY).encode())

    def serve(bad: bool) -> int:
        if bad:
            issued = (issuer.issue([h.fqdn, h.name], [h.ip]) if issuer is not None else
                      fleet.issue_cert(h, names, not_before=not_before, not_after=not_after))
            cert_pem, key_pem = issued.cert_pem, issued.key_pem
        else:
            cert_pem, key_pem = original
        install_web_cert(h, cert_pem, key_pem)
        h.exec("nginx -t -q && systemctl reload nginx")
        serial = _serial(cert_pem)
        bounded_wait(f"{web} serving the new certificate",
                     lambda: observe.served_certificate(h.ip, h.fqdn).serial_number == serial,
                     timeout=30, interval=0.2)
        return serial

    serve(bad=True)

    def undo() -> None:
        serve(bad=False)
        bounded_wait(f"{web} certificate verifies again",
                     lambda: observe.tls_verifies(h.ip, h.fqdn, str(fleet.ca_path)) is None,
                     timeout=10)

    return Fault(name, web, fleet, undo)


def _serial(cert_pem: bytes) -> int:
    from cryptography import x509

    return x509.load_pem_x509_certificate(cert_pem).serial_number


def serve_expired_cert(fleet: Fleet, web: str) -> Fault:
    """Re-issue the web host's certificate so that it expired yesterday; reload nginx."""
    now = dt.datetime.now(dt.UTC)
    return _swap_cert(fleet, web, "serve_expired_cert",
                      not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))


def serve_untrusted_cert(fleet: Fleet, web: str, scratch: Path) -> Fault:
    """Serve a certificate for the host's own names from another CA, one that even bears the
    fleet CA's name: nothing that verifies against the fleet CA accepts it."""
    return _swap_cert(fleet, web, "serve_untrusted_cert", issuer=TestCA.create(scratch))


def serve_wrong_name_cert(fleet: Fleet, web: str, name: str = "wrong.fleet.test") -> Fault:
    """Re-issue the web host's certificate for another name only; reload nginx."""
    return _swap_cert(fleet, web, "serve_wrong_name_cert", names=[name])


# --- HAProxy -----------------------------------------------------------------------------------

_HAPROXY_CMD = (
    "import socket, sys\n"
    "s = socket.socket(socket.AF_UNIX)\n"
    "s.connect('/run/haproxy/admin.sock')\n"
    "s.sendall(sys.argv[1].encode() + b'\\n')\n"
    "print(s.recv(65536).decode())\n"
)


def haproxy_command(lb: Host, command: str) -> str:
    """Send one command to HAProxy's admin socket inside the lb."""
    return lb.exec(["python3", "-c", _HAPROXY_CMD, command]).stdout


def haproxy_server_down(fleet: Fleet, server: str, backend: str = "web") -> Fault:
    """``disable server backend/server`` through the stats socket: the server goes MAINT."""
    lb = fleet.by_role("lb")[0]
    key = f"{backend}/{server}"
    haproxy_command(lb, f"disable server {key}")
    bounded_wait(f"{key} in MAINT", lambda: observe.haproxy_status(lb).get(key) == "MAINT",
                 timeout=15)

    def undo() -> None:
        haproxy_command(lb, f"enable server {key}")
        bounded_wait(f"{key} UP", lambda: observe.haproxy_status(lb).get(key) == "UP",
                     timeout=30)

    return Fault("haproxy_server_down", key, fleet, undo)


# --- alerts ------------------------------------------------------------------------------------

def _fault_rule(alertname: str, expr: str) -> str:
    return (f"groups:\n  - name: fleet-fault\n    rules:\n      - alert: {alertname}\n"
            f"        expr: {expr}\n        labels:\n          severity: critical\n"
            f"        annotations:\n          summary: injected by the fleet harness\n")


def _load_rule(mon: Host, text: str | None) -> None:
    if text is None:
        mon.exec(["rm", "-f", FAULT_RULES])
    else:
        mon.write_file(FAULT_RULES, text)
        mon.exec(["promtool", "check", "rules", FAULT_RULES])
    mon.systemctl("reload", "prometheus")
    # Right after a reload Prometheus briefly knows no Alertmanager (and drops what it sends).
    bounded_wait("Prometheus to find Alertmanager again",
                 lambda: bool(observe.alertmanagers(mon)), timeout=30, interval=0.2)


def fire_critical_alert(fleet: Fleet, alertname: str = "FleetFaultCritical") -> Fault:
    """Load a rule that always fires with severity critical; wait until Alertmanager has it."""
    mon = fleet.by_role("monitoring")[0]
    _load_rule(mon, _fault_rule(alertname, "vector(1)"))
    bounded_wait(f"{alertname} active in Alertmanager",
                 lambda: observe.active_alerts(mon).get(alertname) == "critical", timeout=60)

    def undo() -> None:
        # A deleted rule's alert is never resolved (it lingers in Alertmanager for minutes);
        # a rule that stops matching is, at the next evaluation.  Then the rule can go.
        _load_rule(mon, _fault_rule(alertname, "vector(1) > 1"))
        bounded_wait(f"{alertname} resolved",
                     lambda: alertname not in observe.active_alerts(mon), timeout=60)
        _load_rule(mon, None)

    return Fault("fire_critical_alert", alertname, fleet, undo)


def leave_silence(fleet: Fleet, alertname: str = "HighLoad", hours: float = 2) -> Fault:
    """POST a silence to Alertmanager, as a forgotten one from a past window would be."""
    mon = fleet.by_role("monitoring")[0]
    now = dt.datetime.now(dt.UTC)
    body = {
        "matchers": [{"name": "alertname", "value": alertname, "isRegex": False,
                      "isEqual": True}],
        "startsAt": now.isoformat(), "endsAt": (now + dt.timedelta(hours=hours)).isoformat(),
        "createdBy": "maintcheck-fleet", "comment": "left behind by the fleet harness",
    }
    silence_id = observe.http_json(mon, f"{observe.AM}/api/v2/silences", "POST", body)[
        "silenceID"]

    def undo() -> None:
        observe.http_json(mon, f"{observe.AM}/api/v2/silence/{silence_id}", "DELETE")

    return Fault("leave_silence", alertname, fleet, undo, details={"silence_id": silence_id})


# --- host-level --------------------------------------------------------------------------------

def fill_filesystem(fleet: Fleet, host: str, path: str = DATA_MOUNT, percent: int = 97
                    ) -> Fault:
    """fallocate a file so that the filesystem of ``path`` is ``percent`` full."""
    h = fleet.host(host)
    size, used = map(int, h.exec(["df", "-B1", "--output=size,used", path]).stdout.split()[-2:])
    need = size * percent // 100 - used
    target = f"{path.rstrip('/')}/{FILL_FILE}"
    if need > 0:
        h.exec(["fallocate", "-l", str(need), target])

    def undo() -> None:
        h.exec(["rm", "-f", target])

    return Fault("fill_filesystem", f"{host}:{path}", fleet, undo, details={"file": target})


def leave_status_file(fleet: Fleet, host: str, path: str = STATUS_FILE) -> Fault:
    """Leave the maintenance status file behind, as a forgotten window would."""
    h = fleet.host(host)
    h.write_file(path, "maintenance in progress: CHG-DEMO\n")

    def undo() -> None:
        h.exec(["rm", "-f", path])

    return Fault("leave_status_file", f"{host}:{path}", fleet, undo)


def link_down(fleet: Fleet, host: str) -> Fault:
    """Take the host's link down (its veth, on the bridge side)."""
    h = fleet.host(host)
    assert h.veth is not None
    network.set_link(h.veth, up=False)

    def undo() -> None:
        network.set_link(h.veth or "", up=True)
        bounded_wait(f"ssh to {host} after link up",
                     lambda: observe.tcp_greeting(h.ip, 22) is not None, timeout=30)

    return Fault("link_down", host, fleet, undo)


def hang_host(fleet: Fleet, host: str) -> Fault:
    """SIGSTOP sshd's listener: port 22 still accepts TCP, and nothing ever answers."""
    h = fleet.host(host)
    pid = h.exec(["systemctl", "show", "-p", "MainPID", "--value", "ssh"]).stdout.strip()
    if pid in ("", "0"):
        raise RuntimeError(f"{host}: ssh has no main pid")
    h.exec(["kill", "-STOP", pid])

    def undo() -> None:
        h.exec(["kill", "-CONT", pid])

    return Fault("hang_host", host, fleet, undo, details={"sshd_pid": pid})


def kill_host(fleet: Fleet, host: str) -> Fault:
    """SIGKILL the host's PID 1; undo boots it again (call undo from the main thread)."""
    fleet.host(host).kill()

    def undo() -> None:
        fleet.revive(host)

    return Fault("kill_host", host, fleet, undo)


# This machine's kernel is built without sch_netem (CONFIG_NET_SCH_NETEM is not set), so the two
# network faults below use what it has, inside the host's own network namespace: an htb class
# with a low rate (a slow link: every reply larger than its burst waits for tokens) and
# nftables' random drop (packet loss).

def slow_link(fleet: Fleet, host: str, port: int | None = None, rate: str = "32kbit") -> Fault:
    """Latency: what the host sends (from TCP ``port``, or everything) leaves at ``rate``.

    At 32 kbit/s an HTTPS request, TLS handshake included, takes 0.3-0.8 s instead of ~3 ms.
    With a ``port``, ssh to the host keeps its speed.
    """
    h = fleet.host(host)
    match = ["ip", "sport", str(port), "0xffff"] if port else ["u32", "0", "0"]
    tc = ["tc"]
    for step in (["qdisc", "replace", "dev", "eth0", "root", "handle", "1:", "htb", "default",
                  "10"],
                 ["class", "add", "dev", "eth0", "parent", "1:", "classid", "1:10", "htb", "rate",
                  "10gbit", "quantum", "60000"],
                 ["class", "add", "dev", "eth0", "parent", "1:", "classid", "1:20", "htb", "rate",
                  rate, "ceil", rate, "burst", "1600", "cburst", "1600", "quantum", "1514"],
                 ["filter", "add", "dev", "eth0", "parent", "1:", "protocol", "ip", "u32",
                  "match", *match, "flowid", "1:20"]):
        h.exec([*tc, *step])

    def undo() -> None:
        h.exec(["tc", "qdisc", "del", "dev", "eth0", "root"], check=False)

    return Fault("slow_link", f"{host}:{port or 'all'}", fleet, undo, details={"rate": rate})


def lose_packets(fleet: Fleet, host: str, percent: int = 20) -> Fault:
    """Packet loss: the host drops ``percent``% of the packets it receives, at random (nft)."""
    if not 0 < percent < 100:
        raise ValueError(f"percent must be between 1 and 99, not {percent}")
    h = fleet.host(host)
    h.exec(["nft", "-f", "-"], input=(
        "table inet fleet_loss {\n"
        "  chain input { type filter hook input priority -10; policy accept;\n"
        f"    numgen random mod 100 < {percent} drop\n"
        "  }\n}\n"))

    def undo() -> None:
        h.exec(["nft", "delete", "table", "inet", "fleet_loss"], check=False)

    return Fault("lose_packets", host, fleet, undo, details={"percent": str(percent)})


FAULTS: dict[str, Callable[..., Fault]] = {
    f.__name__: f for f in (
        stop_unit, fail_unit, break_replication, lag_replication, serve_expired_cert,
        serve_wrong_name_cert, haproxy_server_down, fire_critical_alert, leave_silence,
        fill_filesystem, leave_status_file, link_down, hang_host, kill_host, slow_link,
        lose_packets,
    )
}
