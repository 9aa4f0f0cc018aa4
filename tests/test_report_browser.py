"""The HTML report in a real browser: Debian's chromium, headless, with scripts on and off.

The report is a signed run with failing checks, made in another time zone than UTC: what an
auditor reads with scripts off (findings, environment, signer, times) is asserted on the DOM
chromium built and saved as a screenshot next to the report.

``--dump-dom`` and ``--screenshot`` print nothing once ``--blink-settings=scriptEnabled=false``
is given: headless chromium reads the page back with a script. So this drives chromium over
``--remote-debugging-pipe`` instead, where ``Emulation.setScriptExecutionDisabled`` turns the
page's scripts off while the DevTools protocol still reads the DOM and takes the screenshot.
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from report_project import CHECKLIST, make_project, report_path, row, run, text

from maintcheck import catalog as catalog_module
from maintcheck.signing import generate_key

BROWSERS = ("chromium", "chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe")
WIDTH = 1280
# a real finding on each local host: what the version check expects and what dpkg says it found
VERSION_CHECK = '''
import pytest

@pytest.mark.checklist("2.6")
def test_bash_is_recent_enough(facts, assess):
    assert assess.versions_below(facts, {"bash": "999.1"}) == []
'''


@pytest.fixture(scope="module")
def chromium() -> str:
    found = next(filter(None, map(shutil.which, BROWSERS)), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required under CI: apt-get install chromium", pytrace=False)
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("browser"))
    (root / "checks" / "pre" / "test_versions.py").write_text(VERSION_CHECK)
    keys = generate_key(root / "op.key", common_name="Dana Ops", passphrase=None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "America/New_York")  # the report's times must not be local
        run(root, "pre", "--sign-key", str(keys.key), "--sign-cert", str(keys.certificate))
    return report_path(root, "pre")


class DevTools:
    """Just enough of the DevTools protocol over chromium's pipe: fd 3 in, fd 4 out."""

    def __init__(self, browser: str, profile: Path) -> None:
        to_browser, self.writer = os.pipe()
        self.reader, from_browser = os.pipe()
        # bash, not sh: dash cannot redirect a descriptor above 9. to_browser is the lowest of
        # the four, so moving it to 3 first cannot overwrite from_browser.
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{to_browser} 4>&{from_browser}', "bash", browser,
             *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(to_browser, from_browser), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self.buffer = b""
        self.last_id = 0

    def send(self, method: str, session: str | None = None, **params: Any) -> Any:
        self.last_id += 1
        message: dict[str, Any] = {"id": self.last_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.writer, json.dumps(message).encode() + b"\0")
        wanted = self.last_id
        return self.wait(lambda m: m.get("id") == wanted)

    def wait(self, match: Any, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                message = json.loads(raw)
                if match(message):
                    if "error" in message:
                        raise RuntimeError(message["error"])
                    return message.get("result", message.get("params"))
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.reader], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self.reader, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed its pipe")
            self.buffer += chunk

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.writer)
            os.close(self.reader)


def open_page(browser: str, page: Path, *, scripts: bool, screenshot: Path) -> str:
    """Load ``page``, save a full-page screenshot, return the DOM as the browser built it."""
    tools = DevTools(browser, screenshot.parent / f"profile-{screenshot.stem}")
    try:
        target = tools.send("Target.createTarget", url="about:blank")["targetId"]
        session = tools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        tools.send("Page.enable", session)
        tools.send("Emulation.setScriptExecutionDisabled", session, value=not scripts)
        tools.send("Emulation.setDeviceMetricsOverride", session, width=WIDTH, height=900,
                   deviceScaleFactor=1, mobile=False)
        tools.send("Page.navigate", session, url=page.as_uri())
        tools.wait(lambda m: m.get("method") == "Page.loadEventFired"
                   and m.get("sessionId") == session)
        root = tools.send("DOM.getDocument", session, depth=-1)["root"]["nodeId"]
        dom: str = tools.send("DOM.getOuterHTML", session, nodeId=root)["outerHTML"]
        shot = tools.send("Page.captureScreenshot", session, format="png",
                          captureBeyondViewport=True)["data"]
        screenshot.write_bytes(base64.b64decode(shot))
        return dom
    finally:
        tools.close()


def drawn_rows(dom: str) -> list[str]:
    """The results the script drew: its tbody gets the outcome as a second class."""
    return re.findall(r'<tbody class="results-table-row (\w+)"', dom)


def assert_verdict_and_checklist(dom: str, screenshot: Path) -> None:
    assert re.search(r'id="maintcheck-verdict" class="mc-verdict mc-FAILED"><div class="mc-big">'
                     r"FAILED</div>", dom)
    for item in catalog_module.load(CHECKLIST).items:
        assert f'data-item="{item.id}"' in dom or re.search(
            rf'data-items="([\d. ]+ )?{re.escape(item.id)}( [\d. ]+)?"', dom)
    assert row(dom, "2.2").endswith("failed on local-b; passed on dead-01, local-a")
    assert "confirmed yes by alice" in row(dom, "1.1")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 50_000  # a blank page is a few kB


def test_report_renders_in_chromium(chromium: str, report: Path, tmp_path: Path) -> None:
    screenshot = tmp_path / "report.png"
    dom = open_page(chromium, report, scripts=True, screenshot=screenshot)
    assert_verdict_and_checklist(dom, screenshot)
    # every item of the phase that no automated check answers for is a question (the two
    # manual checks, and each item with no check of its own): one pending row each
    asked = json.loads(report.with_suffix(".json").read_text())["summary"][
        "without_automated_check"]
    assert len(asked) > 2
    # 2.2 fails on local-b, 2.6 on both local hosts; dead-01 errs at 2.3 and 2.6
    assert sorted(drawn_rows(dom)) == sorted(["failed"] * 3 + ["error"] * 2 + ["passed"] * 8
                                             + ["skipped"] * len(asked))
    drawn = text(dom)
    assert "2. System Health Verification" in drawn and "local-b" in drawn
    environment = re.search(r'<table id="environment"[^>]*>(.*?)</table>', dom, re.DOTALL)
    assert environment and "Inventory sha256" in text(environment.group(1))


def test_report_reads_with_scripts_off(chromium: str, report: Path) -> None:
    screenshot = report.with_name(f"{report.stem}.noscript.png")
    dom = open_page(chromium, report, scripts=False, screenshot=screenshot)
    assert drawn_rows(dom) == []  # the script really did not run
    assert_verdict_and_checklist(dom, screenshot)
    assert "Pre-Maintenance Sign-off" in text(dom)
    evidence = json.loads(report.with_suffix(".json").read_text())
    # each finding of a failed check: host, what was found and what was expected
    found = re.search(r"bash: (\S+) installed, expected >= 999\.1", row(dom, "2.6"))
    assert found, row(dom, "2.6")
    for host in ("local-a", "local-b"):
        assert f"{host}: bash: {found[1]} installed, expected >= 999.1" in row(dom, "2.6")
    assert "dead-01: ssh: connect to host 127.0.0.1" in row(dom, "2.6")
    # the environment, drawn by pytest-html's script only, is in the page as HTML too
    table = re.search(r'<table id="maintcheck-environment".*?</table>', dom, re.DOTALL)
    assert table
    environment = dict(re.findall(r"<th>(.*?)</th><td>(.*?)</td>", table.group(0)))
    assert environment["Inventory sha256"] == evidence["inventory"]["sha256"]
    assert environment["Probe sha256"] == evidence["maintcheck"]["probe_sha256"]
    assert environment["Suite commit"] == evidence["maintcheck"]["suite_commit"]
    seal = evidence["seal"]
    assert environment["Signer"] == f"CN=Dana Ops, SHA-256 fingerprint {seal['fingerprint']}"
    assert f"signed by CN=Dana Ops at {seal['signed_at'][:10]}" in text(dom)
    # every clock time shown says UTC, though the run's zone was New York's (pytest-html's
    # "11 tests took 00:00:01." is a duration)
    page = re.sub(r"\d+ tests? took [\d:]+", "", text(dom))
    times = re.findall(r"(?<![\w:])\d\d:\d\d:\d\d(?![\w:])(?: UTC)?", page)
    assert times and [t for t in times if not t.endswith(" UTC")] == [], page
