"""Findings for service observations (HTTP, TLS, PostgreSQL, HAProxy, Prometheus).

Like :mod:`maintcheck.assess`, each function returns :class:`Findings`: empty when all is
well, otherwise sentences naming the endpoint, what was expected and what was found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from maintcheck.assess import Findings
from maintcheck.inventory import Expectations
from maintcheck.probes.haproxy import HaproxyServer
from maintcheck.probes.http import Fetched, HttpObservation
from maintcheck.probes.postgres import ReplicaStatus, Replication
from maintcheck.probes.prometheus import Alert, Rule, Silence, Target, severity_rank
from maintcheck.probes.routing import Routed
from maintcheck.probes.tls import TlsObservation

WEAK_HASHES = frozenset({"md5", "sha1"})
EC_MIN_BITS = 256


def http_answer(host: str, seen: HttpObservation, spec: Mapping[str, Any]) -> list[str]:
    """One endpoint's answer (status, body, TLS) against its declaration."""
    name = spec.get("name") or seen.url
    status = int(spec.get("status", 200))
    if seen.problem:
        return [f"{name}: {seen.problem}, expected HTTP {status}"]
    found = []
    if seen.status != status:
        found.append(f"{name}: HTTP {seen.status}, expected {status}")
    if spec.get("contains") and not seen.contains_match:
        found.append(f"{name}: body lacks {spec['contains']!r} (got {seen.body_excerpt[:80]!r})")
    return found


def http_endpoints(host: str, observed: Sequence[Fetched]) -> Findings:
    return Findings(host, [f for spec, seen in observed for f in http_answer(host, seen, spec)])


def latency_sample(seen: HttpObservation, spec: Mapping[str, Any]) -> float | None:
    """The latency of an answer that counts: None for a request that failed (no answer, TLS
    not verifying, another status or body than declared), which is never a latency sample."""
    return None if http_answer("", seen, spec) else seen.latency_ms


def latencies(observed: Sequence[Fetched]) -> dict[str, float | None]:
    """Name -> latency in ms of each endpoint, for the evidence (None: not a sample)."""
    return {spec.get("name") or seen.url: None if (ms := latency_sample(seen, spec)) is None
            else round(ms, 1) for spec, seen in observed}


def latency(host: str, observed: Sequence[Fetched]) -> Findings:
    """Endpoints slower than their ``max_latency_ms``, or with no answer to time (with or
    without a bound: a failed request is never a latency sample)."""
    found = []
    for spec, seen in observed:
        name, limit = spec.get("name") or seen.url, spec.get("max_latency_ms")
        ms = latency_sample(seen, spec)
        if ms is None:
            why = "; ".join(a.removeprefix(f"{name}: ")
                            for a in http_answer(host, seen, {**spec, "name": name}))
            expected = f"an answer within {limit} ms" if limit is not None else "an answer"
            found.append(f"{name}: no latency measured (a failed request: {why}), expected "
                         f"{expected}")
        elif limit is not None and ms > limit:
            found.append(f"{name}: {ms:.0f} ms, expected at most {limit} ms")
    return Findings(host, found)


def certificates(host: str, observed: Iterable[TlsObservation], *, fail_days: int,
                 min_rsa_bits: int) -> Findings:
    """Expiry, name, chain, key size, signature hash and SNI of each certificate."""
    return Findings(host, [f for seen in observed
                           for f in certificate(seen, fail_days, min_rsa_bits)])


def certificate_warnings(observed: Iterable[TlsObservation], *, warn_days: int,
                         fail_days: int) -> list[str]:
    """Certificates that pass but expire within ``warn_days``: shown as warnings."""
    return [f"{c.server_name} at {c.address}: expires in {c.days_left:.0f} days "
            f"({c.not_after:%Y-%m-%d}), within the {warn_days} days' warning"
            for c in observed if fail_days <= c.days_left < warn_days]


def certificate(seen: TlsObservation, fail_days: int, min_rsa_bits: int) -> list[str]:
    where = f"{seen.server_name} at {seen.address}"
    found = []
    if seen.days_left < fail_days:
        state = "expired" if seen.days_left < 0 else f"expires in {seen.days_left:.0f} days"
        found.append(f"{where}: {state} ({seen.not_after:%Y-%m-%d}), expected at least "
                     f"{fail_days} days left")
    if not seen.hostname_matches:
        found.append(f"{where}: certificate names {list(seen.sans)}, expected "
                     f"{seen.server_name}")
    if not seen.chain_verified:
        found.append(f"{where}: chain does not verify to the configured CA, expected it to: "
                     f"{seen.verify_error}")
    minimum = min_rsa_bits if seen.key_type == "RSA" else EC_MIN_BITS
    if seen.key_type in ("RSA", "EC") and seen.key_bits < minimum:
        found.append(f"{where}: {seen.key_type} key of {seen.key_bits} bits, expected >= {minimum}")
    if seen.signature_hash in WEAK_HASHES:
        found.append(f"{where}: signed with {seen.signature_algorithm}, a weak hash, expected "
                     "SHA-256 or stronger")
    if seen.sni_supported is False:
        found.append(f"{where}: the server ignores SNI, expected it to select by name")
    return found


def backend_address(url: str, address: str) -> str:
    """``address:port`` serving ``url``, for sending the same request straight to a backend."""
    parts = urlsplit(url)
    return f"{address}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def replicas_streaming(host: str, seen: Replication, expected: Iterable[str]) -> Findings:
    """Every expected replica streams from this primary."""
    if not seen.up:
        return Findings(host, [f"PostgreSQL is down: {seen.down_reason}"])
    by_name = {r.application_name: r for r in seen.replicas}
    by_addr = {r.client_addr: r for r in seen.replicas}
    found = []
    for name in expected:
        replica = by_name.get(name) or by_addr.get(name)
        if replica is None:
            found.append(f"replica {name}: not connected (connected: "
                         f"{sorted(by_name) or 'none'}), expected streaming")
        elif replica.state != "streaming":
            found.append(f"replica {name}: {replica.state}, expected streaming")
    return Findings(host, found)


def replica_lag(host: str, seen: ReplicaStatus, max_lag: float) -> Findings:
    """This replica is in recovery, receiving, and replays within the lag bound."""
    if not seen.up:
        return Findings(host, [f"PostgreSQL is down: {seen.down_reason}"])
    found = []
    if not seen.in_recovery:
        found.append("not in recovery (promoted?), expected a replica in recovery")
    if seen.receiver_status != "streaming":
        found.append(f"WAL receiver {seen.receiver_status or 'absent'}, expected streaming")
    if seen.replay_paused:
        found.append("replay is paused, expected replaying")
    if seen.lag_seconds is None or seen.lag_seconds > max_lag:
        lag = "unknown" if seen.lag_seconds is None else f"{seen.lag_seconds:.1f} s"
        found.append(f"replay lag {lag}, expected at most {max_lag:g} s")
    return Findings(host, found)


def backends_up(host: str, servers: Iterable[HaproxyServer],
                expected: Mapping[str, Iterable[str]],
                out_of_rotation: Iterable[str] = ()) -> Findings:
    """Every declared backend server in service in HAProxy's running state: UP with health
    checks on, READY (not DRAIN or MAINT), weight above 0. A server the change declares out of
    rotation (``backend/server``) may be otherwise."""
    status = {(s.backend, s.server): s for s in servers}
    allowed = set(out_of_rotation)
    found = []
    for backend, names in expected.items():
        for name in names:
            server = status.get((backend, name))
            if server is None:
                found.append(f"{backend}/{name}: not in HAProxy's running servers, expected UP")
            elif f"{backend}/{name}" not in allowed and (why := server.out_of_service()):
                found.append(f"{backend}/{name}: {why}, expected UP, READY, weight above 0")
    return Findings(host, found)


def backends_configured(host: str, configured: Mapping[str, Iterable[str]],
                        expected: Mapping[str, Iterable[str]],
                        running: Iterable[HaproxyServer] | None = None) -> Findings:
    """The configuration declares every expected backend and server; and, given HAProxy's
    running servers, it is what runs (a configuration written and not reloaded is not)."""
    found = []
    live: dict[str, set[str]] = {}
    for s in running or ():
        if s.server != "BACKEND":
            live.setdefault(s.backend, set()).add(s.server)
    for backend, names in expected.items():
        if backend not in configured:
            found.append(f"backend {backend}: not in the configuration, expected with servers "
                         f"{sorted(names)}")
            continue
        missing = sorted(set(names) - set(configured[backend]))
        if missing:
            found.append(f"backend {backend}: lacks server(s) {missing}, expected "
                         f"{sorted(names)}")
        if running is None:
            continue
        now = live.get(backend, set())
        if now != set(configured[backend]):
            found.append(f"backend {backend}: HAProxy runs {sorted(now) or 'no servers'}, the "
                         f"configuration has {sorted(configured[backend])}, expected the same "
                         "(reload HAProxy?)")
    return Findings(host, found)


def lb_routing(host: str, observed: Sequence[Routed], expect: Expectations,
               out_of_rotation: Iterable[str] = ()) -> Findings:
    """:func:`routing` of ``lb_url`` to every server of ``haproxy_backends``, each answer
    judged by ``lb_status`` and ``lb_contains`` (5.4 during the window, 7.1 after it)."""
    servers = [f"{b}/{s}" for b, names in expect.haproxy_backends.items() for s in names]
    spec = {"url": expect.lb_url, "status": expect.lb_status, "contains": expect.lb_contains}
    return routing(host, observed, servers, spec, out_of_rotation)


def routing(host: str, observed: Sequence[Routed], servers: Iterable[str],
            spec: Mapping[str, Any], out_of_rotation: Iterable[str] = ()) -> Findings:
    """Requests sent through ``host``'s frontend: every declared server received some, and
    every answer is as ``spec`` declares (status, body, TLS), naming the server that gave it."""
    found = []
    got = {s for r in observed for s in r.servers}
    for server in sorted(set(servers) - got - set(out_of_rotation)):
        states = list(dict.fromkeys(r.states[server] for r in observed if server in r.states))
        shown = f"; HAProxy had it {', then '.join(states)}" if states else ""
        found.append(f"{server}: received none of the {len(observed)} requests sent through "
                     f"the frontend (HAProxy's session counter did not move{shown}), expected "
                     "a share")
    for r in observed:
        by = ", ".join(r.servers) or "no declared server"
        found += http_answer(host, r.answer, {**spec, "name": f"{spec['url']} served by {by}"})
    return Findings(host, list(dict.fromkeys(found)))


def alerts_firing(host: str, alerts: Iterable[Alert], min_severity: str) -> Findings:
    floor = severity_rank(min_severity)
    expected = f"expected none at or above {min_severity}"
    return Findings(host, [f"alert {a.name} ({a.severity or 'no severity'}) firing since "
                           f"{a.starts_at:%Y-%m-%dT%H:%M:%SZ}, {expected}" if a.starts_at else
                           f"alert {a.name} ({a.severity or 'no severity'}) firing, {expected}"
                           for a in alerts if severity_rank(a.severity) >= floor])


def targets_down(host: str, targets: Iterable[Target], hosts: Mapping[str, str]) -> Findings:
    """Inventory hosts (name -> address) with no target, or with a target that is not up."""
    found = []
    targets = list(targets)
    for name, address in hosts.items():
        mine = [t for t in targets if t.instance.rsplit(":", 1)[0] in (name, address)]
        if not mine:
            found.append(f"{name}: no Prometheus target scrapes it, expected one up")
        found += [f"{name}: target {t.job}/{t.instance} is {t.health}, expected up: "
                  f"{t.last_error}" for t in mine if t.health != "up"]
    return Findings(host, found)


def rules_unhealthy(host: str, rules: Iterable[Rule], expected: Iterable[str]) -> Findings:
    loaded = {r.name: r for r in rules}
    found = []
    for name in expected:
        rule = loaded.get(name)
        if rule is None:
            found.append(f"alert rule {name}: not loaded, expected loaded and healthy")
        elif rule.health == "err":
            found.append(f"alert rule {name}: unhealthy, expected healthy: {rule.last_error}")
    return Findings(host, found)


def leftover_silences(host: str, silences: Iterable[Silence],
                      since: datetime | None) -> Findings:
    """Active silences (made since the window began, when it is known)."""
    expected = "expected none left from the window" if since else "expected none"
    return Findings(host, [
        f"silence {s.id} by {s.created_by} ({', '.join(s.matchers)}) still active until "
        f"{s.ends_at:%Y-%m-%dT%H:%M:%SZ}, {expected}: {s.comment}" if s.ends_at else
        f"silence {s.id} by {s.created_by} still active, {expected}: {s.comment}"
        for s in silences
        if s.state == "active" and (since is None or s.starts_at is None or s.starts_at >= since)])


def flags_mismatched(host: str, observed: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]
                     ) -> Findings:
    """Flags whose served value differs from the declared one: (spec, served flags) pairs."""
    return Findings(host, [f"{spec['url']}: flag {k} is {actual.get(k, 'absent')!r}, "
                           f"expected {v!r}"
                           for spec, actual in observed for k, v in spec["expect"].items()
                           if actual.get(k) != v])
