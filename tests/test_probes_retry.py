"""HTTP: a connection error, and only that, is tried once more, and the retry is recorded.

Against a real server on 127.0.0.1 that resets, answers or hangs per connection as told.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from probe_services import free_port, full_backlog, scripted_http

from maintcheck.errors import CommandTimeout, MissingData
from maintcheck.probes import _client, http, prometheus

pytest_plugins = ["pytester"]


class Heard:
    """An ``on_retry`` that keeps what it is told."""

    def __init__(self) -> None:
        self.retries: list[tuple[str, str, str]] = []

    def __call__(self, endpoint: str, cause: str, then: str) -> None:
        self.retries.append((endpoint, cause, then))


def test_a_reset_before_any_answer_is_retried_once_and_recorded() -> None:
    heard = Heard()
    with scripted_http("reset", "ok") as server:
        obs = http.fetch(server.url("/health"), timeout=5, expect_contains="ok", on_retry=heard)
    assert (obs.status, obs.contains_match) == (200, True)
    assert server.connections == 2
    assert heard.retries == [(f"GET {server.url('/health')}", "connection reset by peer",
                              "answered HTTP 200")]


def test_a_second_reset_is_a_failed_answer_after_exactly_one_retry() -> None:
    heard = Heard()
    with scripted_http("reset", "reset", "ok") as server:
        seen = http.fetch(server.url(), timeout=5, on_retry=heard)
    assert (seen.status, seen.failure) == (None, "connection reset by peer")
    assert server.connections == 2
    assert [then for _, _, then in heard.retries] == ["failed again: connection reset by peer"]


def test_refused_is_retried_once_then_a_failed_answer() -> None:
    heard, port = Heard(), free_port()
    seen = http.fetch(f"http://127.0.0.1:{port}/x", timeout=2, on_retry=heard)
    assert (seen.status, seen.failure) == (None, "connection refused")
    assert heard.retries == [(f"GET http://127.0.0.1:{port}/x", "connection refused",
                              "failed again: connection refused")]


def test_a_connect_timeout_is_retried_once() -> None:
    heard = Heard()
    with full_backlog() as port:
        started = time.monotonic()
        with pytest.raises(CommandTimeout):
            http.fetch(f"http://127.0.0.1:{port}/", timeout=0.5, on_retry=heard)
        elapsed = time.monotonic() - started
    assert len(heard.retries) == 1 and heard.retries[0][2].startswith("failed again")
    assert elapsed < 10  # two connect timeouts, not more


@pytest.mark.parametrize("step", ["500", "ok"])
def test_an_answer_is_never_retried_whatever_it_says(step: str) -> None:
    """An HTTP error status, or a body without the expected text, is the service's answer."""
    heard = Heard()
    with scripted_http(step, "ok") as server:
        obs = http.fetch(server.url(), timeout=5, expect_contains="healthy", on_retry=heard)
    assert obs.status == int(step) if step.isdigit() else obs.status == 200
    assert obs.contains_match is False
    assert (server.connections, heard.retries) == (1, [])


def test_a_read_timeout_is_never_retried() -> None:
    heard = Heard()
    with scripted_http("hang", "ok") as server:
        seen = http.fetch(server.url(), timeout=0.5, on_retry=heard)
        assert (server.connections, heard.retries) == (1, [])
    assert seen.failure == "no answer within 0.5s after connecting"


def test_api_reads_retry_the_same_way() -> None:
    heard = Heard()
    with scripted_http("reset", "json", "500") as server:
        answer = _client.get_json(server.url("/api"), timeout=5, on_retry=heard)
        with pytest.raises(MissingData, match="HTTP 500"):
            prometheus.rules(server.url(), timeout=5, on_retry=heard)
    assert answer == {"status": "success"}
    assert [e for e, _, _ in heard.retries] == [f"GET {server.url('/api')}"]
    assert server.connections == 3


CHECKS = '''
import pytest

@pytest.mark.checklist("1.1")
def test_endpoint(target, expect, probes, http_options):
    seen = probes.http.fetch(expect["http"][0]["url"], **http_options)
    assert seen.status == 200, f"{target}: got {seen.status}"
'''

CATALOG = """
sections:
  - number: 1
    title: Endpoints
    phase: pre
    items:
      - {id: "1.1", title: endpoint answers, kind: automated}
"""


def test_a_run_records_the_retry_in_the_evidence_report_and_terminal(
        pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\nmaintcheck_inventory = "hosts.yml"\n'
        'addopts = ["-p", "no:cacheprovider", "--import-mode=importlib"]\n')
    (pytester.path / "checks" / "pre").mkdir(parents=True)
    (pytester.path / "checks" / "checklist.yml").write_text(CATALOG)
    (pytester.path / "checks" / "pre" / "test_e.py").write_text(CHECKS)
    with scripted_http("reset", "ok") as server:
        (pytester.path / "hosts.yml").write_text(f"""
all:
  hosts:
    web-9:
      ansible_connection: local
      maintcheck_change: RETRY-1
      maintcheck_http: [{{url: "{server.url('/health')}"}}]
""")
        result = pytester.runpytest_subprocess("checks/pre", "--no-prompt")
    url = server.url("/health")
    result.stdout.fnmatch_lines([(f"*retried once: web-9: http GET {url} (connection reset by "
                                  "peer), retried: answered HTTP 200*")])
    report = pytester.path / "reports" / "RETRY-1"
    doc = json.loads((report / "pre.json").read_text())
    outcome = doc["items"][0]["outcomes"][0]
    assert outcome["outcome"] == "passed"
    [row] = doc["connection_retries"]
    assert {k: row[k] for k in ("host", "via", "call", "cause", "then")} == {
        "host": "web-9", "via": "http", "call": f"GET {url}", "cause": "connection reset by peer",
        "then": "answered HTTP 200"}
    assert f"retried once: web-9: http GET {url}" in (report / "pre.html").read_text()


def test_ssh_retries_reach_the_same_list(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """An ssh connection error, retried by the runner, is listed where HTTP's are."""
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\nmaintcheck_inventory = "hosts.yml"\n'
        'addopts = ["-p", "no:cacheprovider", "--import-mode=importlib"]\n')
    (pytester.path / "checks" / "pre").mkdir(parents=True)
    (pytester.path / "checks" / "checklist.yml").write_text(CATALOG)
    (pytester.path / "checks" / "pre" / "test_e.py").write_text(CHECKS + """
@pytest.mark.checklist("1.1")
def test_facts(facts):
    assert facts
""")
    (pytester.path / "hosts.yml").write_text(f"""
all:
  hosts:
    dead-9:
      ansible_host: 127.0.0.1
      ansible_port: {free_port()}
      maintcheck_change: RETRY-2
      maintcheck_known_hosts: {tmp_path}/known_hosts
      maintcheck_connect_timeout: 2
      maintcheck_http: [{{url: "http://127.0.0.1:{free_port()}/"}}]
""")
    pytester.runpytest_subprocess("checks/pre", "--no-prompt")
    doc = json.loads((pytester.path / "reports" / "RETRY-2" / "pre.json").read_text())
    via = [(r["via"], r["host"], r["then"].split(":")[0]) for r in doc["connection_retries"]]
    assert via == [("ssh", "dead-9", "connection failed")]
    # its HTTP check is not tried: a host whose probe failed is ERROR with that one cause
    errors = {o["test"]: o["message"] for o in doc["items"][0]["outcomes"]}
    assert "refused" in errors["test_endpoint"] and "dead-9" in errors["test_endpoint"]
