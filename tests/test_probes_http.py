"""The HTTP probe against a real nginx: answers are data, no answer is ERROR, no secret leaks."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import pytest
from probe_services import Nginx, black_hole, free_port, nginx

from maintcheck import assess_services
from maintcheck.errors import HostUnreachable
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


def test_connection_refused_is_a_failed_answer_never_a_latency() -> None:
    """The service was reached and refused: the system is wrong (FAILED), not "could not
    look"; and a refused request is never a latency sample."""
    port = free_port()
    seen = http.fetch(f"http://127.0.0.1:{port}/x", timeout=2)
    assert (seen.status, seen.failure, seen.problem) == (None, "connection refused",
                                                         "connection refused")
    spec = {"name": "x", "url": seen.url, "max_latency_ms": 1000}
    assert assess_services.latency_sample(seen, spec) is None
    assert assess_services.latency("h", [(spec, seen)]) == [(
        "x: no latency measured (a failed request: connection refused, expected HTTP 200), "
        "expected an answer within 1000 ms")]
    assert assess_services.http_endpoints("h", [(spec, seen)]) == [
        "x: connection refused, expected HTTP 200"]


def test_dns_failure_is_error() -> None:
    with pytest.raises(HostUnreachable, match="does not resolve"):
        http.fetch("http://no-such-host.invalid/", timeout=2)


def test_tls_spoken_to_a_plain_port_is_a_failed_answer(web: Nginx) -> None:
    seen = http.fetch(f"https://127.0.0.1:{web.plain_port}/", timeout=2)
    assert seen.status is None and "TLS handshake failed" in (seen.failure or "")


def test_a_silent_server_is_a_bounded_failed_answer() -> None:
    """It accepted the connection and never answered: the service is wrong (FAILED)."""
    with black_hole() as port:
        started = time.monotonic()
        seen = http.fetch(f"http://127.0.0.1:{port}/", timeout=0.5)
        assert time.monotonic() - started < 3
    assert seen.status is None and seen.failure == "no answer within 0.5s after connecting"


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
    refused = http.fetch(f"http://ops:{password}@127.0.0.1:{port}/", timeout=2)
    with pytest.raises(HostUnreachable) as unresolved:
        http.fetch(f"http://ops:{password}@no-such-host.invalid/", timeout=2)
    seen = f"{basic!r} {bearer!r} {refused!r} {unresolved.value}"
    for secret in (password, token, wire):
        assert secret not in seen
    assert refused.url == f"http://127.0.0.1:{port}/" and refused.failure == "connection refused"
    assert "no-such-host.invalid" in str(unresolved.value)


def test_session_cookies_are_masked(web: Nginx) -> None:
    obs = http.fetch(f"https://127.0.0.1:{web.tls_port}/cookie", timeout=5,
                     ca_bundle=str(web.pki.root))
    assert obs.headers["set-cookie"] == "***"
    assert "s3cr3t" not in repr(obs)


def test_a_failed_request_fails_latency_without_a_declared_bound() -> None:
    """5.6/7.2: no max_latency_ms declared, and still no PASS on a refused request."""
    seen = http.fetch(f"http://127.0.0.1:{free_port()}/x", timeout=2)
    assert assess_services.latency("h", [({"name": "x", "url": seen.url}, seen)]) == [(
        "x: no latency measured (a failed request: connection refused, expected HTTP 200), "
        "expected an answer")]
