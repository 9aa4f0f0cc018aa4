"""The TLS probe against a real nginx serving certificates by SNI."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from probe_services import Nginx, black_hole, free_port, nginx

from maintcheck import assess_services
from maintcheck.errors import HostUnreachable, ServiceFailed
from maintcheck.probes import tls


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    with nginx(tmp_path_factory.mktemp("nginx")) as server:
        yield server


def inspect(web: Nginx, name: str, *, ca_bundle: Path | None = None,
            now: dt.datetime | None = None) -> tls.TlsObservation:
    return tls.inspect(f"127.0.0.1:{web.tls_port}", name, timeout=5, now=now,
                       ca_bundle=str(ca_bundle or web.pki.root))


def test_a_good_certificate_through_an_intermediate(web: Nginx) -> None:
    obs = inspect(web, "good.test")
    assert (obs.chain_verified, obs.verify_error, obs.hostname_matches) == (True, None, True)
    assert obs.sans == ("good.test", "*.wild.test")
    assert (obs.key_type, obs.key_bits) == ("RSA", 2048)
    assert (obs.signature_algorithm, obs.signature_hash) == ("ecdsa-with-SHA256", "sha256")
    assert obs.subject == "CN=good.test"
    assert obs.issuer == "CN=maintcheck test intermediate"
    assert obs.sni_supported is True  # without SNI nginx serves default.test
    assert len(obs.fingerprint_sha256) == 64
    assert obs.protocol.startswith("TLSv1.")


def test_days_left_is_counted_from_the_given_now(web: Nginx) -> None:
    not_after = inspect(web, "good.test").not_after
    obs = inspect(web, "good.test", now=not_after - dt.timedelta(days=10, hours=12))
    assert obs.days_left == 10.5


def test_an_expired_certificate_is_read_and_judged(web: Nginx) -> None:
    obs = inspect(web, "expired.test")
    assert obs.chain_verified is False
    assert obs.verify_error == "certificate has expired"
    assert obs.days_left < 0
    assert (obs.key_type, obs.key_bits, obs.hostname_matches) == ("EC", 256, True)


def test_a_certificate_for_another_name(web: Nginx) -> None:
    obs = inspect(web, "wrong.test")
    assert (obs.hostname_matches, obs.sans) == (False, ("other.test",))
    assert obs.chain_verified is True  # the chain itself is fine: two findings, kept apart


def test_a_chain_to_another_ca(web: Nginx) -> None:
    obs = inspect(web, "good.test", ca_bundle=web.pki.other_root)
    assert obs.chain_verified is False
    assert obs.verify_error == "unable to get local issuer certificate"


@pytest.mark.parametrize(("name", "matches"), [
    ("a.wild.test", True), ("A.Wild.Test.", True), ("a.b.wild.test", False), ("wild.test", False),
])
def test_a_wildcard_covers_exactly_one_label(web: Nginx, name: str, matches: bool) -> None:
    assert inspect(web, name).hostname_matches is matches


def test_an_ip_address_matches_an_ip_san(web: Nginx) -> None:
    obs = inspect(web, "127.0.0.1")
    assert (obs.hostname_matches, obs.sans) == (True, ("default.test", "127.0.0.1"))
    assert obs.sni_supported is None  # SNI carries no IP addresses


def test_a_name_the_server_has_no_certificate_for(web: Nginx) -> None:
    obs = inspect(web, "unknown.test")
    assert (obs.subject, obs.hostname_matches, obs.sni_supported) == (
        "CN=default.test", False, False)


def test_one_certificate_for_every_client_needs_no_sni(web: Nginx) -> None:
    assert inspect(web, "default.test").sni_supported is None


def test_a_server_that_requires_sni(web: Nginx) -> None:
    obs = tls.inspect(f"127.0.0.1:{web.sni_port}", "sni.test", timeout=5,
                      ca_bundle=str(web.pki.root))
    assert (obs.sni_supported, obs.chain_verified, obs.hostname_matches) == (True, True, True)


def test_connection_refused_is_the_service_failing() -> None:
    """The server is reached and refuses: nothing serves the certificate (FAILED)."""
    port = free_port()
    with pytest.raises(ServiceFailed, match=rf"127.0.0.1:{port} \(x.test\): connection refused"):
        tls.inspect(f"127.0.0.1:{port}", "x.test", timeout=2)


def test_no_tls_at_all_is_the_service_failing(web: Nginx) -> None:
    with pytest.raises(ServiceFailed, match="TLS handshake failed"):
        tls.inspect(f"127.0.0.1:{web.plain_port}", "good.test", timeout=2)


def test_a_name_that_does_not_resolve_is_an_error() -> None:
    """maintcheck could not look: ERROR, not a finding about the service."""
    with pytest.raises(HostUnreachable, match="does not resolve"):
        tls.inspect("no-such-host.invalid:443", "x.test", timeout=2)


def test_a_silent_server_is_a_bounded_failed_handshake() -> None:
    with black_hole() as port:
        started = time.monotonic()
        with pytest.raises(ServiceFailed, match=f"127.0.0.1:{port}.*no TLS handshake within"):
            tls.inspect(f"127.0.0.1:{port}", "x.test", timeout=0.5)
        assert time.monotonic() - started < 2


def test_a_certificate_within_its_warning_days_passes_and_warns(web: Nginx) -> None:
    """10 days left, fail at 7, warn at 30: no finding, one warning naming it and its date."""
    not_after = inspect(web, "good.test").not_after
    obs = inspect(web, "good.test", now=not_after - dt.timedelta(days=10))
    assert assess_services.certificates("h", [obs], fail_days=7, min_rsa_bits=2048) == []
    assert assess_services.certificate_warnings([obs], warn_days=30, fail_days=7) == [(
        f"good.test at 127.0.0.1:{web.tls_port}: expires in 10 days ({not_after:%Y-%m-%d}), "
        "within the 30 days' warning")]
    assert assess_services.certificate_warnings([obs], warn_days=9, fail_days=7) == []
