"""5. Validation & Testing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from maintcheck import assess_services, probes
from maintcheck.baseline import Declared
from maintcheck.evidence import RecordProperty
from maintcheck.inventory import Expectations, Host
from maintcheck.probes.http import Fetched
from maintcheck.probes.routing import Routed
from maintcheck.runner import Runner
from maintcheck.secret import HttpOptions


@pytest.mark.checklist("5.1")
@pytest.mark.applies_to("journeys")
def test_service_journeys_succeed(target: Host, journey_steps: list[Fetched]) -> None:
    """Every step of each declared synthetic journey answers as expected."""
    assert assess_services.http_endpoints(target.name, journey_steps) == []


@pytest.mark.checklist("5.2")
@pytest.mark.applies_to("postgres_clients")
def test_database_accepts_connections_from_clients(target: Host, expect: Expectations,
                                                   runner_of: Callable[[str], Runner]) -> None:
    """From each declared client host, the database accepts connections (pg_isready)."""
    seen = {client: probes.postgres.ready(runner_of(client), target.address,
                                          expect.postgres_port)
            for client in expect.postgres_clients}
    refused = {c: f"{r.status}: {r.message}" for c, r in seen.items() if not r.accepting}
    assert refused == {}, (f"{target.name}:{expect.postgres_port} from clients: {refused}, "
                           "expected accepting connections")


@pytest.mark.checklist("5.3")
@pytest.mark.applies_to("http")
def test_health_endpoints_answer(target: Host, endpoints: list[Fetched]) -> None:
    """Each declared endpoint returns its status and body, over verified TLS."""
    assert assess_services.http_endpoints(target.name, endpoints) == []


@pytest.mark.checklist("5.4")
@pytest.mark.applies_to("lb_url")
def test_load_balancer_routes_to_every_backend(target: Host, expect: Expectations,
                                               routed: list[Routed], declared: Declared) -> None:
    """Requests through this load balancer's frontend reach every declared server (HAProxy's
    own session counters say which got each), and each answers as declared."""
    assert assess_services.lb_routing(target.name, routed, expect, declared.servers) == []


@pytest.mark.checklist("5.5")
@pytest.mark.applies_to("tls")
def test_certificates_valid(target: Host, expect: Expectations, http_options: HttpOptions,
                            record_property: RecordProperty) -> None:
    """Each certificate verifies to the CA, names its host, is strong and far from expiry."""
    seen = [probes.tls.inspect(t["address"], t["server_name"], timeout=http_options["timeout"],
                               ca_bundle=http_options["ca_bundle"]) for t in expect.tls]
    record_property("certificates", {f"{c.server_name}@{c.address}": {
        "sha256": c.fingerprint_sha256, "not_after": f"{c.not_after:%Y-%m-%dT%H:%M:%SZ}",
        "days_left": round(c.days_left, 1), "warn": c.days_left < expect.tls_warn_days}
        for c in seen})
    record_property("warnings", assess_services.certificate_warnings(
        seen, warn_days=expect.tls_warn_days, fail_days=expect.tls_fail_days))
    assert assess_services.certificates(target.name, seen, fail_days=expect.tls_fail_days,
                                        min_rsa_bits=expect.tls_min_key_bits) == []


@pytest.mark.checklist("5.6")
@pytest.mark.applies_to("http")
def test_latency_within_thresholds(target: Host, endpoints: list[Fetched],
                                   record_property: RecordProperty) -> None:
    """Each endpoint answers within its max_latency_ms."""
    record_property("latency_ms", assess_services.latencies(endpoints))
    assert assess_services.latency(target.name, endpoints) == []
