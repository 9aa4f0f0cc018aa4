"""Pre saves a baseline; post compares against it, on this machine, for real."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from maintcheck import baseline as compare
from maintcheck import runs
from maintcheck.baseline import Declared
from maintcheck.errors import MissingData

ROOT = Path(__file__).resolve().parents[1]


def run(phase: str, reports: Path, *extra: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", f"checks/{phase}", "--no-prompt", "--change", "BL-1",
         "-o", f"maintcheck_reports={reports}", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        check=False)
    assert "Traceback" not in result.stdout + result.stderr, result.stdout[-3000:]
    latest = runs.latest(reports / "BL-1", phase)  # each run has its own files
    assert latest is not None, result.stdout[-3000:]
    return json.loads(latest.read_text())


def outcome(doc: dict, item: str, test: str) -> tuple[str, str]:
    entry = next(i for i in doc["items"] if i["id"] == item)
    found = next(o for o in entry["outcomes"] if o["test"] == test)
    return found["outcome"], found["message"]


def test_a_new_listening_port_is_reported_after_the_window(tmp_path: Path) -> None:
    run("pre", tmp_path)
    baseline = json.loads((tmp_path / "BL-1" / "baseline.json").read_text())
    assert baseline["change"] == "BL-1" and "this-machine" in baseline["hosts"]
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        doc = run("post", tmp_path, "-k", "ports_as_before or units_active_before or impact")
    state, message = outcome(doc, "7.1", "test_listening_ports_as_before")
    assert state == "failed" and f"ports [{port}] listen now and did not before" in message
    assert outcome(doc, "7.1", "test_units_active_before_are_active_now")[0] == "passed"
    impact = next(i for i in doc["items"] if i["id"] == "8.3")["outcomes"][0]
    assert impact["outcome"] == "passed"
    assert {"metric", "before", "after", "delta"} <= set(impact["observed"]["impact"][0])


def test_missing_baseline_is_an_error_unless_opted_out(tmp_path: Path) -> None:
    doc = run("post", tmp_path, "-k", "ports_as_before")
    state, message = outcome(doc, "7.1", "test_listening_ports_as_before")
    assert state == "error" and "no pre-maintenance baseline" in message
    doc = run("post", tmp_path, "-k", "ports_as_before", "--no-baseline")
    assert outcome(doc, "7.1", "test_listening_ports_as_before")[0] == "not applicable"


def test_declarations() -> None:
    declared = Declared.parse(["nginx>=1.22.2", "cert:app.example.com"])
    assert declared.packages == {"nginx": "1.22.2"}
    assert declared.certificates == {"app.example.com"}
    with pytest.raises(ValueError, match="NAME>=VERSION"):
        Declared.parse(["nginx=1.2"])


def test_report_shows_the_comparison_table(tmp_path: Path) -> None:
    run("pre", tmp_path)
    run("post", tmp_path, "-k", "impact")
    html = (tmp_path / "BL-1" / "post.html").read_text()
    assert 'id="maintcheck-impact"' in html and "memory %" in html and "this-machine" in html


def snapshot(**extra: object) -> dict:
    """A host as the baseline records it, with ``extra`` keys replaced."""
    snap: dict = {"units": {"nginx.service": "active"}, "ports": [22, 443],
                  "packages": {"nginx": "1.22.1-9"}, "disk_percent": {"/": 40.0},
                  "memory_percent": 30.0, "load_per_cpu": 0.2, "endpoints": {},
                  "certificates": {}}
    snap.update(extra)
    return snap


def firing(*alerts: tuple[str, str]) -> dict:
    return {"firing": {compare.alert_key({"alertname": name, "severity": severity}):
                       {"name": name, "severity": severity} for name, severity in alerts}}


def test_a_new_critical_alert_is_a_regression_an_old_one_is_not() -> None:
    was = snapshot(alerts=firing(("Watchdog", "none"), ("DiskFull", "critical")))
    now = snapshot(alerts=firing(("Watchdog", "none"), ("DiskFull", "critical"),
                                 ("HighLoad", "warning"), ("InstanceDown", "critical")))
    found = compare.alerts_new("mon-01", was, now, "critical")
    assert len(found) == 1 and "alert InstanceDown (critical) firing now, not before" in found[0]
    assert len(compare.alerts_new("mon-01", was, now, "warning")) == 2
    rows = compare.changed("alerts", was, now)
    assert [(r["before"], r["after"], r["delta"]) for r in rows] == [
        (None, "firing", "appeared")] * 2


def test_unknown_alert_state_is_an_error_not_a_pass() -> None:
    with pytest.raises(MissingData, match="alert state unknown now: HTTP 502"):
        compare.alerts_new("mon-01", snapshot(alerts=firing()),
                           snapshot(alerts={"error": "HTTP 502"}), "critical")
    with pytest.raises(MissingData, match="holds no alert state"):
        compare.alerts_new("mon-01", snapshot(), snapshot(alerts=firing()), "critical")


def test_comparison_rows_say_before_after_and_what_happened() -> None:
    was = snapshot()
    now = snapshot(units={"nginx.service": "inactive"}, ports=[22, 8080],
                   packages={"nginx": "1.22.1-9+fleet1", "curl": "7.88"})
    assert compare.changed("units", was, now) == [
        {"metric": "unit nginx.service", "before": "active", "after": "inactive",
         "delta": "changed"}]
    assert [(r["metric"], r["delta"]) for r in compare.changed("ports", was, now)] == [
        ("port 443", "vanished"), ("port 8080", "appeared")]
    assert [(r["metric"], r["before"], r["after"]) for r in compare.changed(
        "packages", was, now)] == [("package curl", None, "7.88"),
                                   ("package nginx", "1.22.1-9", "1.22.1-9+fleet1")]
    assert compare.changed("units", was, was) == []


def test_impact_table_has_replication_lag_and_alerts() -> None:
    was = snapshot(replication={"receiver": "streaming", "lag_seconds": 0.0},
                   alerts=firing())
    now = snapshot(replication={"receiver": None, "lag_seconds": None},
                   alerts=firing(("InstanceDown", "critical")))
    rows = {r["metric"]: r for r in compare.impact_table(was, now)}
    assert rows["replication lag s"] == {"metric": "replication lag s", "before": 0.0,
                                         "after": None, "delta": None}
    assert rows["alerts firing"] == {"metric": "alerts firing", "before": 0, "after": 1,
                                     "delta": 1}


class Slow(BaseHTTPRequestHandler):
    """Answers 200; each request sleeps the next of ``delays`` (then none)."""

    delays: ClassVar[list[float]] = []
    served: ClassVar[int] = 0

    def do_GET(self) -> None:
        type(self).served += 1
        if self.delays:
            time.sleep(self.delays.pop(0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def serve(delays: list[float]) -> tuple[ThreadingHTTPServer, str]:
    Slow.delays, Slow.served = list(delays), 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


OPTIONS = {"timeout": 5.0, "ca_bundle": None, "auth": None, "token": None, "redactor": None}


def test_latency_is_the_best_of_a_few_answers() -> None:
    server, url = serve([0.4])  # one slow answer: a busy machine, not the endpoint
    try:
        state = compare.endpoint_state({"url": url}, OPTIONS)
    finally:
        server.shutdown()
    assert state["status"] == 200 and state["latency_ms"] < 400 and Slow.served == 3


def test_a_slow_endpoint_is_not_sampled_past_the_budget() -> None:
    server, url = serve([0.6, 0.6, 0.6])
    try:
        state = compare.endpoint_state({"url": url}, OPTIONS)
    finally:
        server.shutdown()
    assert state["latency_ms"] >= 600 and Slow.served == 2


def test_latency_compares_each_endpoint_and_never_passes_on_nothing() -> None:
    """7.2: a regression FAILS; an endpoint without a latency on one side cannot be compared,
    and with nothing else wrong that is an ERROR (MissingData), not a quiet pass."""
    fast, slow = {"latency_ms": 5.0}, {"latency_ms": 400.0}
    was = {"endpoints": {"https://a/": fast, "https://b/": fast}}
    assert compare.latency_regressed("h", was, {"endpoints": {"https://a/": fast,
                                                              "https://b/": fast}}, 1.5) == []
    assert compare.latency_regressed("h", was, {"endpoints": {"https://a/": slow,
                                                              "https://b/": {}}}, 1.5) == [
        "https://a/: 400 ms, was 5 ms before the window (allowed up to 55 ms)"]
    # maintcheck could not look now: nothing is known, so nothing is compared
    with pytest.raises(MissingData, match=r"https://b/ \(no answer now: timed out after 10 s\)"):
        compare.latency_regressed("h", was, {"endpoints": {
            "https://a/": fast,
            "https://b/": {"error": "timed out after 10 s", "unobserved": True}}}, 1.5)
    # it answered as declared before, and now answers wrongly (or refuses): it got worse
    assert compare.latency_regressed("h", was, {"endpoints": {
        "https://a/": fast, "https://b/": {"status": 503, "error": "HTTP 503, expected 200"}}},
        1.5) == ["https://b/: no latency now (HTTP 503, expected 200), was 5 ms before the window"]
    with pytest.raises(MissingData, match=r"https://c/ \(no answer before the window"):
        compare.latency_regressed("h", {"endpoints": {}},
                                  {"endpoints": {"https://c/": fast}}, 1.5)


def test_a_metric_missing_now_fails_unless_maintcheck_could_not_look() -> None:
    """8.3/13.6: an endpoint that answered before and answers wrongly now is missing (FAILED);
    one maintcheck could not reach now (no connection within the timeout) is an ERROR."""
    base = {"memory_percent": 10, "load_per_cpu": 0.1, "disk_percent": {}}
    was = {**base, "endpoints": {"https://a/": {"status": 200, "latency_ms": 5.0},
                                 "https://b/": {"status": 200, "latency_ms": 5.0}}}
    wrong = {**base, "endpoints": {"https://a/": {"status": 503, "error": "HTTP 503"},
                                   "https://b/": {"status": 200, "latency_ms": 6.0}}}
    assert compare.missing_now(compare.impact_table(was, wrong)) == ["latency ms https://a/"]
    unseen = {**base, "endpoints": {"https://a/": {"error": "no answer", "unobserved": True},
                                    "https://b/": {"status": 200, "latency_ms": 6.0}}}
    with pytest.raises(MissingData, match="could not look now at: latency ms https://a/"):
        compare.missing_now(compare.impact_table(was, unseen))


def test_a_certificate_not_served_now_fails_and_one_not_looked_at_is_an_error() -> None:
    """7.1: the reached service no longer serves it (FAILED, saying so, never a "change");
    maintcheck could not connect at all (ERROR)."""
    declared = compare.Declared({}, frozenset())
    was = {"certificates": {"app@10.0.0.5:443": {"sha256": "af23ed6a" * 8}}}
    refused = {"certificates": {"app@10.0.0.5:443": {"error": "connection refused"}}}
    assert compare.certificates_changed("h", was, refused, declared) == [(
        "certificate app@10.0.0.5:443: could not read it now (connection refused), expected the "
        "certificate served before the window (af23ed6aaf23ed6a...)")]
    unseen = {"certificates": {"app@10.0.0.5:443": {"error": "no TCP connection",
                                                    "unobserved": True}}}
    with pytest.raises(MissingData, match="could not look now"):
        compare.certificates_changed("h", was, unseen, declared)
