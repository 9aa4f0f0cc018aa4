"""The HTTP probe against a real nginx: answers are data, no answer is ERROR, no secret leaks."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import pytest
from probe_services import Nginx, black_hole, free_port, nginx

from maintcheck.errors import CommandTimeout, HostUnreachable
from maintcheck.probes import http


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    with nginx(tmp_path_factory.mktemp("nginx")) as server:
        yield server


def test_fetch_reports_status_body_and_latency(web: Nginx) -> None:
    obs = http.fetch(f"https://127.0.0.1:{web.tls_port}/health", timeout=5,
                     ca_bundle=str(web.pki.root), expect_contains="status: ok")
    assert (obs.status, obs.contains_match, obs.tls_error) == (200, True, None)
    assert obs.body_excerpt == "status: ok\n"
    assert 0 < obs.latency_ms < 5000


def test_contains_match_is_none_without_expectation_and_false_when_absent(web: Nginx) -> None:
    url = f"https://127.0.0.1:{web.tls_port}/health"
    assert http.fetch(url, timeout=5, ca_bundle=str(web.pki.root)).contains_match is None
    obs = http.fetch(url, timeout=5, ca_bundle=str(web.pki.root), expect_contains="degraded")
    assert obs.contains_match is False


def test_server_error_is_an_observation(web: Nginx) -> None:
    obs = http.fetch(f"https://127.0.0.1:{web.tls_port}/error", timeout=5,
                     ca_bundle=str(web.pki.root))
    assert obs.status == 500
    assert obs.body_excerpt == "boom\n"


def test_redirects_are_followed_and_a_loop_is_the_last_hop(web: Nginx) -> None:
    base = f"https://127.0.0.1:{web.tls_port}"
    obs = http.fetch(f"{base}/redirect", timeout=5, ca_bundle=str(web.pki.root))
    assert (obs.status, obs.final_url) == (200, f"{base}/health")
    loop = http.fetch(f"{base}/loop", timeout=5, ca_bundle=str(web.pki.root))
    assert loop.status == 302


def test_via_sends_the_name_to_one_backend_with_tls_verified(web: Nginx) -> None:
    """good.test resolves nowhere: only the address given reaches it, with SNI and Host."""
    address = f"127.0.0.1:{web.tls_port}"
    obs = http.via(f"https://good.test:{web.tls_port}/", address, timeout=5,
                   ca_bundle=str(web.pki.root))
    assert (obs.status, obs.body_excerpt, obs.tls_error) == (200, "good\n", None)
    assert (obs.url, obs.address) == (f"https://good.test:{web.tls_port}/", address)


def test_via_plain_http_sets_the_host_header(web: Nginx) -> None:
    obs = http.via("http://app.test/health", f"127.0.0.1:{web.plain_port}", timeout=5)
    assert obs.status == 200


@pytest.mark.parametrize(("name", "reason"), [
    ("expired.test", "certificate has expired"),
    ("wrong.test", "wrong.test"),  # hostname mismatch, naming the name asked for
])
def test_certificate_problems_are_findings_not_errors(web: Nginx, name: str, reason: str) -> None:
    obs = http.via(f"https://{name}:{web.tls_port}/health", f"127.0.0.1:{web.tls_port}",
                   timeout=5, ca_bundle=str(web.pki.root), expect_contains="ok")
    assert obs.status is None
    assert obs.tls_error is not None and reason in obs.tls_error
    assert obs.contains_match is False


def test_a_chain_to_another_ca_is_a_finding(web: Nginx) -> None:
    obs = http.fetch(f"https://127.0.0.1:{web.tls_port}/", timeout=5,
                     ca_bundle=str(web.pki.other_root))
    assert obs.tls_error is not None and "local issuer" in obs.tls_error


def test_connection_refused_is_error_naming_the_endpoint() -> None:
    port = free_port()
    with pytest.raises(HostUnreachable, match=f"127.0.0.1:{port}/x: connection refused"):
        http.fetch(f"http://127.0.0.1:{port}/x", timeout=2)


def test_dns_failure_is_error() -> None:
    with pytest.raises(HostUnreachable, match="does not resolve"):
        http.fetch("http://no-such-host.invalid/", timeout=2)


def test_tls_spoken_to_a_plain_port_is_error_not_finding(web: Nginx) -> None:
    with pytest.raises(HostUnreachable, match="TLS handshake failed"):
        http.fetch(f"https://127.0.0.1:{web.plain_port}/", timeout=2)


def test_a_silent_server_is_a_bounded_timeout() -> None:
    with black_hole() as port:
        started = time.monotonic()
        with pytest.raises(CommandTimeout, match=f"127.0.0.1:{port}/.* within 0.5s"):
            http.fetch(f"http://127.0.0.1:{port}/", timeout=0.5)
        assert time.monotonic() - started < 3


def test_credentials_never_reach_the_observation_or_an_error(web: Nginx) -> None:
    password, token = "hunter2-pw", "tok-5ecret-abc"
    wire = base64.b64encode(f"ops:{password}".encode()).decode()
    base = f"https://ops:{password}@127.0.0.1:{web.tls_port}"
    basic = http.fetch(f"{base}/echo", timeout=5, ca_bundle=str(web.pki.root))
    bearer = http.fetch(f"https://127.0.0.1:{web.tls_port}/echo?token={token}", timeout=5,
                        ca_bundle=str(web.pki.root), token=token)
    assert basic.status == bearer.status == 200
    assert basic.body_excerpt.startswith("auth=Basic ***")  # the server did echo it
    port = free_port()
    with pytest.raises(HostUnreachable) as refused:
        http.fetch(f"http://ops:{password}@127.0.0.1:{port}/", timeout=2)
    seen = f"{basic!r} {bearer!r} {refused.value}"
    for secret in (password, token, wire):
        assert secret not in seen
    assert f"127.0.0.1:{port}" in str(refused.value)


def test_session_cookies_are_masked(web: Nginx) -> None:
    obs = http.fetch(f"https://127.0.0.1:{web.tls_port}/cookie", timeout=5,
                     ca_bundle=str(web.pki.root))
    assert obs.headers["set-cookie"] == "***"
    assert "s3cr3t" not in repr(obs)
