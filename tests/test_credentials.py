"""A credential goes only to the URLs it is declared for: a local HTTP server records what
every probe sends it, with the HTTP options a run gives each host."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from maintcheck import baseline, inventory
from maintcheck.errors import CheckError
from maintcheck.probes import features, haproxy, http, prometheus
from maintcheck.redact import Redactor
from maintcheck.secret import HttpOptions
from maintcheck.session import credential_scope


@dataclass
class Recorder:
    """What the server received: (port, path, Authorization, X-Api-Key) per request."""

    seen: list[tuple[int, str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sent_to(self, port: int, path: str) -> set[tuple[str, str]]:
        """(Authorization, X-Api-Key) of every request to this port and path."""
        with self.lock:
            return {(a, k) for p, where, a, k in self.seen if p == port and where == path}


def serve(recorder: Recorder, redirect_to: str = "") -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            port = self.server.server_address[1]
            path = self.path.split("?")[0]
            with recorder.lock:
                recorder.seen.append((port, path, self.headers.get("Authorization", ""),
                                      self.headers.get("X-Api-Key", "")))
            if path == "/redirect" and redirect_to:
                self.send_response(302)
                self.send_header("Location", redirect_to)
                self.end_headers()
                return
            body = b"{}" if "csv" not in path else b"# pxname,svname,status\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def servers() -> Iterator[tuple[Recorder, int, int]]:
    """Two servers: the fleet's (``a``) and another origin (``b``), which ``a`` redirects to."""
    recorder = Recorder()
    other = serve(recorder)
    b = other.server_address[1]
    main = serve(recorder, redirect_to=f"http://127.0.0.1:{b}/landed")
    yield recorder, main.server_address[1], b
    for server in (main, other):
        server.shutdown()
        server.server_close()


def basic(user: str, pw: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def test_each_credential_reaches_only_its_own_urls(servers: tuple[Recorder, int, int],
                                                   tmp_path: Path) -> None:
    recorder, a, b = servers
    base = f"http://127.0.0.1:{a}"
    (tmp_path / "hosts.yml").write_text(json.dumps({"all": {"hosts": {"h": {
        "ansible_connection": "local",
        "maintcheck_http_username": "app", "maintcheck_http_password": "App-pw-1",
        "maintcheck_http": [
            {"url": f"{base}/app", "headers": {"X-Api-Key": "Key-2"}},
            {"url": f"http://tok-3@127.0.0.1:{a}/token-only"},
            {"url": f"http://u:Url-pw-4@127.0.0.1:{a}/userinfo"},
            {"url": f"{base}/redirect"}],
        "maintcheck_prometheus_url": f"{base}/prom", "maintcheck_prometheus_token": "Prom-5",
        "maintcheck_alertmanager_url": f"{base}/am",
        "maintcheck_alertmanager_username": "am", "maintcheck_alertmanager_password": "Am-6",
        "maintcheck_haproxy_stats_url": f"{base}/stats",
        "maintcheck_haproxy_stats_username": "st", "maintcheck_haproxy_stats_password": "St-7",
        "maintcheck_feature_flags": [{"url": f"{base}/flags", "expect": {}}],
        "maintcheck_feature_flags_token": "Flag-8",
    }}}}))
    host = inventory.load(tmp_path / "hosts.yml").host("h")
    options = HttpOptions(timeout=5.0, ca_bundle=None, credentials=credential_scope(host.expect),
                          redactor=Redactor(), on_retry=None)
    for spec in host.expect.http:
        with contextlib.suppress(CheckError):
            http.fetch(spec["url"], **options)
    http.fetch(f"{base}/undeclared", **options)
    with contextlib.suppress(CheckError):
        prometheus.targets(host.expect.prometheus_url, timeout=5, **{
            k: v for k, v in options.items() if k != "timeout"})
    with contextlib.suppress(CheckError):
        prometheus.silences(host.expect.alertmanager_url, timeout=5, **{
            k: v for k, v in options.items() if k != "timeout"})
    with contextlib.suppress(CheckError):
        haproxy.stats(host.expect.haproxy_stats_url, timeout=5,
                      credentials=options["credentials"])
    features.flags(f"{base}/flags", **options)
    # the baseline's own look at an endpoint sends that endpoint's headers
    state = baseline.endpoint_state({"url": f"{base}/app"}, options)
    assert state["status"] == 200

    app = (basic("app", "App-pw-1"), "Key-2")
    assert recorder.sent_to(a, "/app") == {app}
    assert recorder.sent_to(a, "/token-only") == {(basic("tok-3", ""), "")}
    assert recorder.sent_to(a, "/userinfo") == {(basic("u", "Url-pw-4"), "")}
    assert recorder.sent_to(a, "/undeclared") == {("", "")}
    assert recorder.sent_to(a, "/prom/api/v1/targets") == {("Bearer Prom-5", "")}
    assert recorder.sent_to(a, "/am/api/v2/silences") == {(basic("am", "Am-6"), "")}
    assert recorder.sent_to(a, "/stats;csv") == {(basic("st", "St-7"), "")}
    assert recorder.sent_to(a, "/flags") == {("Bearer Flag-8", "")}
    # a declared endpoint that redirects to another host: the credentials stay behind
    assert recorder.sent_to(a, "/redirect") == {(basic("app", "App-pw-1"), "")}
    assert recorder.sent_to(b, "/landed") == {("", "")}
    every = {auth for *_, auth, _ in recorder.seen}
    assert len(recorder.seen) >= 11 and every  # every probe above asked the server


def test_a_redirect_to_another_host_drops_the_endpoints_headers(
        servers: tuple[Recorder, int, int]) -> None:
    recorder, a, b = servers
    http.fetch(f"http://127.0.0.1:{a}/redirect", timeout=5,
               headers={"X-Api-Key": "Key-9", "Authorization": "Bearer T-10"})
    assert recorder.sent_to(a, "/redirect") == {("Bearer T-10", "Key-9")}
    assert recorder.sent_to(b, "/landed") == {("", "")}


@pytest.mark.parametrize(("url", "covered"), [
    ("http://mon:9090/prom", True), ("http://mon:9090/prom/api/v1/rules", True),
    ("http://mon:9090/prom;csv", True), ("http://MON:9090/prom/x?y=1", True),
    ("http://mon:9090/prometheus", False), ("http://mon:9091/prom", False),
    ("https://mon:9090/prom", False), ("http://mon2:9090/prom", False),
    ("http://evil@mon:9090/prom", True),  # userinfo is not part of where a URL goes
])
def test_a_base_url_grant_covers_its_paths_only(url: str, covered: bool) -> None:
    from maintcheck.secret import Credential, Scope, Secret

    cred = Credential("ops", Secret("pw"))
    scope = Scope.of([("http://mon:9090/prom", cred, False),
                      ("http://mon:9090/app", Credential("app"), True)])
    assert (scope.for_url(url) is cred) is covered
    assert scope.for_url("http://mon:9090/app/x") is None  # an exact grant is exact
