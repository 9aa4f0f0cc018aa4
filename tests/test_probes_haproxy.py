"""The HAProxy probe against a real HAProxy in front of a real nginx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from probe_services import Haproxy, Nginx, haproxy, nginx, wait_for

from maintcheck.errors import MissingData
from maintcheck.probes import http
from maintcheck.probes.haproxy import BACKEND, config_backends, stats
from maintcheck.redact import Redactor
from maintcheck.runner import CommandRunner


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    with nginx(tmp_path_factory.mktemp("nginx")) as server:
        yield server


@pytest.fixture(scope="module")
def lb(web: Nginx, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Haproxy]:
    with haproxy(tmp_path_factory.mktemp("haproxy"), web.plain_port) as proxy:
        # HAProxy starts its servers UP; wait for the checks to have spoken
        wait_for("haproxy health checks", lambda: {
            s.server: s.status for s in stats(proxy.stats_url, timeout=2,
                                              auth=(proxy.user, proxy.password))
        } == {"web1": "UP", "web2": "DOWN", BACKEND: "UP"}, timeout=10)
        yield proxy


def test_stats_show_each_server_and_the_backend(lb: Haproxy) -> None:
    rows = {(s.backend, s.server): s for s in stats(lb.stats_url, timeout=5,
                                                   auth=(lb.user, lb.password))}
    assert set(rows) == {("app", "web1"), ("app", "web2"), ("app", BACKEND),
                         ("stats", BACKEND)}
    web1, web2 = rows["app", "web1"], rows["app", "web2"]
    assert (web1.status, web1.check_status, web1.check_code) == ("UP", "L7OK", 200)
    assert (web2.status, web2.check_status, web2.check_code) == ("DOWN", "L4CON", None)
    assert "refused" in web2.check_detail.lower()
    assert web2.last_change_seconds is not None


def test_routing_through_the_frontend_reaches_the_backend(lb: Haproxy) -> None:
    obs = http.fetch(f"http://127.0.0.1:{lb.frontend_port}/", timeout=5,
                     expect_contains="plain backend")
    assert (obs.status, obs.contains_match) == (200, True)


def test_a_refused_stats_login_is_error_without_the_password(lb: Haproxy) -> None:
    with pytest.raises(MissingData, match="HTTP 401") as refused:
        stats(lb.stats_url, timeout=5, auth=(lb.user, lb.password + "-wrong"))
    assert lb.password not in str(refused.value)


def test_a_page_that_is_not_stats_is_error(web: Nginx) -> None:
    with pytest.raises(MissingData, match="not HAProxy stats CSV"):
        stats(f"http://127.0.0.1:{web.plain_port}/", timeout=5)


def test_config_backends_from_the_live_config_read_through_the_runner(lb: Haproxy) -> None:
    runner = CommandRunner(host="localhost", transport=None, redactor=Redactor())
    text = runner.run(["cat", str(lb.config)]).stdout
    assert config_backends(text) == {"app": ["web1", "web2"], "stats": []}


def test_config_backends_reads_what_haproxy_reads() -> None:
    text = """\
global
    log stdout local0
peers mypeers
    server lb1 10.0.0.1:1024          # a peer, not a backend server
defaults
    mode http
frontend fe
    bind :80
    default_backend api
backend api   # comment after the name
    server api1 10.0.1.1:8080 check
  # server api-old 10.0.1.9:8080
    server api2 10.0.1.2:8080 check backup
listen db
    bind :5432
    server db1 10.0.2.1:5432 check
backend pool
    server-template node 3 app.example.com:80 check
backend pool2
    server-template web 5-6 app.example.com:80
backend empty
"""
    assert config_backends(text) == {
        "api": ["api1", "api2"], "db": ["db1"], "pool": ["node1", "node2", "node3"],
        "pool2": ["web5", "web6"], "empty": [],
    }


def test_routing_names_the_server_that_answered_each_request(lb: Haproxy) -> None:
    """HAProxy's own session counters say which server got each request: web1 gets them all,
    web2 (DOWN) none, and the finding names web2 with HAProxy's state of it."""
    from maintcheck import assess_services
    from maintcheck.probes import routing

    auth = {"auth": (lb.user, lb.password)}
    before = {s.server: s for s in stats(lb.stats_url, timeout=5, **auth)}
    assert before["web1"].weight == 1 and before["web1"].out_of_service() is None
    assert before["web2"].out_of_service() == f"DOWN (L4CON {before['web2'].check_detail})"
    url = f"http://plain.test:{lb.frontend_port}/"
    routed = routing.through_frontend(url, f"127.0.0.1:{lb.frontend_port}",
                                      stats_url=lb.stats_url, servers=["app/web1", "app/web2"],
                                      timeout=5, stats_options=auth,
                                      expect_contains="plain backend")
    assert [r.servers for r in routed] == [("app/web1",)] * 6  # three rounds for each server
    assert all(r.answer.status == 200 and r.answer.contains_match for r in routed)
    after = {s.server: s for s in stats(lb.stats_url, timeout=5, **auth)}
    assert after["web1"].sessions_total == (before["web1"].sessions_total or 0) + 6
    found = assess_services.routing("lb", routed, ["app/web1", "app/web2"],
                                    {"url": url, "contains": "plain backend"})
    assert found == [("app/web2: received none of the 6 requests sent through the frontend "
                      "(HAProxy's session counter did not move; HAProxy had it "
                      f"DOWN (L4CON {after['web2'].check_detail})), expected a share")]
