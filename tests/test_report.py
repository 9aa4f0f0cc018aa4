"""The HTML report: title, checklist view, sign-off, columns and environment, secrets redacted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from report_project import (
    CHECKLIST,
    CI_PASSWORD,
    TOKEN,
    blob,
    make_project,
    report_path,
    row,
    run,
    text,
)

from maintcheck import catalog as catalog_module
from maintcheck.htmlreport import describe, render_checklist, signoff_values
from maintcheck.signing import generate_key, verify_directory


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def pre(project: Path) -> str:
    return run(project, "pre")


def static_block(page: str) -> str:
    """What pytest-html writes as HTML, not as data for its script."""
    start = page.index('<div class="additional-summary prefix">')
    return page[start:page.index('<p class="run-count">', start)]


def verdict_text(page: str) -> str:
    found = re.search(r'<div id="maintcheck-verdict".*?</div>\s*<h2>', page, re.DOTALL)
    assert found
    return text(found.group(0))


def test_title_carries_change_phase_and_verdict(pre: str) -> None:
    assert '<title id="head-title">CHG-7 · pre · FAILED</title>' in pre
    assert '<h1 id="title">CHG-7 · pre · FAILED</h1>' in pre


def test_verdict_is_static_html_with_counts_and_unreachable_hosts(pre: str) -> None:
    assert 'class="mc-verdict mc-FAILED"' in static_block(pre)
    said = verdict_text(static_block(pre))
    assert said.startswith("FAILED change CHG-7 · phase pre · operator dana")
    # pending: 1.2, and each item this project has no check for (asked, never dropped)
    pending = [i.id for i in catalog_module.load(CHECKLIST).items if i.phase == "pre"
               and "pending: nobody" in row(pre, i.id)]
    assert "1.2" in pending
    assert re.search(rf"\b1 failed\b.*\b1 error\b.*\b{len(pending)} pending\b", said), said
    assert "unreachable: dead-01:" in said


def test_checklist_view_has_every_section_in_order(pre: str) -> None:
    block = static_block(pre)
    sections = [text(s) for s in re.findall(r'<tr class="mc-section[^"]*"[^>]*>(.*?)</tr>', block)]
    cat = catalog_module.load(CHECKLIST)
    assert len(sections) == 15
    for said, (number, title, _) in zip(sections, cat.sections(), strict=True):
        assert said.startswith(f"{number}. {title}")
    # every item once: a row of its own, or named in its section's line of another phase
    rows = re.findall(r'data-item="([\d.]+)"', block)
    collapsed = [i for ids in re.findall(r'data-items="([\d. ]+)"', block) for i in ids.split()]
    assert sorted(rows + collapsed) == sorted(i.id for i in cat.items)
    assert rows == [i.id for i in cat.items if i.phase == "pre"]


def test_items_of_other_phases_are_one_line_per_section(pre: str) -> None:
    """Not 47 grey rows before the sign-off block: a whole section of another phase is one
    line, and a section's items of another phase one line after its own."""
    lines = {m[0]: text(m[1]) for m in re.findall(
        r'<tr class="mc-section mc-other-phase" data-section="(\d+)"[^>]*>(.*?)</tr>', pre)}
    assert list(lines) == ["4", "5", "6", "7", "8", "9"]
    assert lines["7"] == ("7. System Verification: 6 items (7.1, 7.2, 7.3, 7.4, 7.5, 7.6), "
                          "checked after the window (post)")
    assert lines["4"].endswith("checked during the window (during)")
    rest = re.findall(r'<tr class="mc-other-phase" data-items="([\d. ]+)">(.*?)</tr>', pre)
    assert len(rest) == 3  # sections 12, 13 and 14 mix pre and post items
    assert rest[0][0] == "12.4 12.5 12.6"
    assert text(rest[0][1]) == ("also in section 12: 3 items (12.4, 12.5, 12.6), checked after "
                                "the window (post)")


def test_checklist_view_states_across_hosts(pre: str) -> None:
    assert row(pre, "2.1").endswith("passed on all 3 hosts")
    assert "failed on local-b; passed on dead-01, local-a" in row(pre, "2.2")
    assert "local-b: local-b rejected ***" in row(pre, "2.2")
    assert "error on dead-01; passed on local-a, local-b" in row(pre, "2.3")
    assert "dead-01: " in row(pre, "2.3")
    assert row(pre, "2.4").endswith("not applicable: no selected host declares maintcheck_backups")
    assert "pending: nobody has confirmed it yet" in row(pre, "1.2")
    # no check implements 2.5 in this project: it is asked, with its title, never "not run"
    assert row(pre, "2.5").endswith("pending: nobody has confirmed it yet (prompt, or --answers "
                                    "FILE)")


def test_manual_item_shows_who_when_and_note(pre: str) -> None:
    confirmed = row(pre, "1.1")
    assert re.search(r"confirmed yes by alice at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: "
                     r"CAB-42 approved", confirmed)
    assert confirmed.endswith("✔ passed")


def signoff(page: str) -> dict[str, str]:
    block = re.search(r'<table id="maintcheck-signoff".*?</table>', page, re.DOTALL)
    assert block
    return {label: text(value) for label, value in
            re.findall(r"<th>(.*?)</th><td>(.*?)</td>", block.group(0))}


def test_signoff_block_is_filled_in_by_pre_then_post(project: Path, pre: str) -> None:
    fields = signoff(pre)
    assert list(fields) == ["Maintenance Window", "Maintenance Lead", "Technical Contact",
                            "Business Contact", "Emergency Contact", "Pre-Maintenance Sign-off",
                            "Post-Maintenance Sign-off", "Date Completed"]
    assert fields["Maintenance Window"] == "2026-11-27 01:00:00 UTC to 2026-11-27 03:00:00 UTC"
    assert fields["Maintenance Lead"] == "Lee Lead"
    assert fields["Technical Contact"] == "Tess Tech"
    assert fields["Business Contact"] == "Bo Biz"
    assert fields["Emergency Contact"] == "Em +1-555-0100"
    assert re.fullmatch(r"FAILED, run by dana, \S+ \S+ UTC", fields["Pre-Maintenance Sign-off"])
    assert fields["Post-Maintenance Sign-off"] == "pending"
    assert fields["Date Completed"] == ""

    post = signoff(run(project, "post", "--limit", "local-a"))
    assert post["Pre-Maintenance Sign-off"] == fields["Pre-Maintenance Sign-off"] + (
        " (from pre.json)")
    # 7.1 passed, but the post phase's other items have no check here: not run
    assert re.fullmatch(r"INCOMPLETE, run by dana, \S+ \S+ UTC",
                        post["Post-Maintenance Sign-off"])
    finished = json.loads(report_path(project, "post").with_suffix(".json").read_text())
    assert post["Date Completed"] == finished["finished_at"].replace("T", " ")[:-1] + " UTC"


def test_results_table_has_item_section_and_host_columns(pre: str) -> None:
    header = re.search(r'<thead id="results-table-head">(.*?)</thead>', pre, re.DOTALL)
    assert header
    assert text(header.group(1)).split() == ["Result", "Item", "Section", "Host", "Test",
                                             "Duration", "Links"]
    tests = blob(pre)["tests"]
    cells = tests["checks/pre/test_pre.py::test_only_local_b_misbehaves[local-b]"][0]
    assert [text(c) for c in cells["resultsTableRow"][:4]] == [
        "Failed", "2.2", "2. System Health Verification", "local-b"]
    assert cells["item"].endswith("2.2") and cells["host"] == "local-b"


def test_environment_is_the_runs_provenance_only(project: Path, pre: str) -> None:
    environment = blob(pre)["environment"]
    evidence = json.loads(report_path(project, "pre").with_suffix(".json").read_text())
    assert list(environment) == ["Change", "Window", "Operator", "Inventory", "Inventory sha256",
                                 "maintcheck", "Probe sha256", "Suite commit", "Python",
                                 "pytest", "Signer"]
    assert environment["Signer"] == "unsigned: no operator key"
    assert environment["Change"] == "CHG-7" and environment["Operator"] == "dana"
    assert environment["Inventory sha256"] == evidence["inventory"]["sha256"]
    assert environment["Suite commit"] == evidence["maintcheck"]["suite_commit"]
    assert environment["pytest"] == pytest.__version__
    # the same table as static HTML, for a viewer that runs no script
    static = re.search(r'<table id="maintcheck-environment".*?</table>', static_block(pre))
    assert static
    assert dict(re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", static.group(0))) == {
        k: v.replace("&", "&amp;") for k, v in environment.items()}


def test_secrets_never_reach_the_report(pre: str) -> None:
    assert TOKEN not in pre and CI_PASSWORD not in pre
    assert "GIT_URL" not in pre and "git.example.org" not in pre


def test_signature_covers_this_runs_report(tmp_path: Path) -> None:
    """The summary goes in before pytest-html writes, and the seal comes after: no stale file."""
    root = make_project(tmp_path)
    run(root, "pre")  # an earlier report on disk, as in a re-run
    keys = generate_key(root / "op.key", common_name="Dana Ops", passphrase=None)
    page = run(root, "pre", "--sign-key", str(keys.key), "--sign-cert", str(keys.certificate))
    verified = verify_directory(report_path(root, "pre").parent)
    assert report_path(root, "pre").name == "pre.2.html" and "pre.2.html" in verified.files
    assert [(r.label, r.signer) for r in verified.runs] == [("pre", None),
                                                            ("pre.2", "CN=Dana Ops")]
    finished = json.loads(report_path(root, "pre").with_suffix(".json").read_text())["finished_at"]
    assert f"{finished.replace('T', ' ')[:-1]} UTC" in verdict_text(page)
    fingerprint = verified.runs[-1].fingerprint
    assert f"signed by CN=Dana Ops at {finished.replace('T', ' ')[:-1]} UTC" in verdict_text(page)
    signer = re.search(r"<tr><th>Signer</th><td>(.*?)</td></tr>", static_block(page))
    assert signer and signer.group(1) == f"CN=Dana Ops, SHA-256 fingerprint {fingerprint}"


def entry(*outcomes: tuple[str, str, str]) -> dict[str, object]:
    return {"outcomes": [{"host": h, "outcome": o, "message": m} for h, o, m in outcomes]}


@pytest.mark.parametrize(("outcomes", "said"), [
    ([("web-01", "passed", ""), ("web-02", "passed", "")], "passed on all 2 hosts"),
    ([("web-01", "passed", "")], "passed on web-01"),
    ([("-", "passed", "")], "passed"),
    ([("web-02", "failed", "x"), ("web-01", "failed", "y"), ("web-03", "passed", "")],
     "failed on web-01, web-02; passed on web-03"),
    ([("n/a", "not applicable", "no selected host declares maintcheck_backups")],
     "not applicable: no selected host declares maintcheck_backups"),
    ([], "not run: no check ran for this item"),
])
def test_describe_sums_an_item_across_hosts(outcomes: list[tuple[str, str, str]],
                                             said: str) -> None:
    assert describe(entry(*outcomes)) == said


def test_everything_rendered_is_escaped() -> None:
    cat = catalog_module.load(CHECKLIST)
    document = {"items": [{"id": "2.2", "state": "failed", **entry(
        ("<b>web</b>", "failed", "found <script>alert(1)</script>"))}]}
    page = render_checklist(document, cat)
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_signoff_of_a_post_run_without_pre_evidence() -> None:
    document = {"change": {"id": "C", "window": "", "operator": "op", "lead": "",
                           "technical_contact": "", "business_contact": "",
                           "emergency_contact": ""},
                "phase": "post", "verdict": "PASSED", "finished_at": "2026-11-27T04:00:00Z"}
    values = signoff_values(document)
    assert values["pre_signoff"] == "no pre-maintenance run on record"
    assert values["post_signoff"] == "PASSED, run by op, 2026-11-27 04:00:00 UTC"
    assert values["date_completed"] == "2026-11-27 04:00:00 UTC"
    assert values["window"] == values["lead"] == "not given"


def test_warnings_reach_the_evidence_the_verdict_box_and_the_items_row() -> None:
    """A check's warnings (record_property("warnings", [...])) are not only in the JSON."""
    from maintcheck.evidence import Outcome, warnings
    from maintcheck.htmlreport import render_verdict

    said = "app.test at 10.0.0.5:443: expires in 10 days (2026-12-16), within the 30 days' warning"
    outcomes = [Outcome("5.5", "web-01", "passed", "", "test_certificates_valid",
                        observed=(("warnings", [said]),)),
                Outcome("5.5", "web-02", "passed", "", "test_certificates_valid",
                        observed=(("warnings", []),))]
    found = warnings(outcomes)
    assert found == [{"item": "5.5", "host": "web-01", "warning": said}]
    document = {"items": [{"id": "5.5", "state": "passed", **entry(("web-01", "passed", ""))}],
                "warnings": found, "verdict": "PASSED", "phase": "during",
                "change": {"id": "C", "operator": "op"}, "started_at": "2026-12-06T01:00:00Z",
                "finished_at": "2026-12-06T01:01:00Z", "checklist": {"items": 1},
                "summary": {"items": {"passed": 1}}, "unreachable": {}}
    row_html = render_checklist(document, catalog_module.load(CHECKLIST))
    assert f'<li class="mc-warn">warning: web-01: {said}</li>'.replace("'", "&#x27;") in row_html
    assert f"warning: 5.5 web-01: {said}".replace("'", "&#x27;") in render_verdict(document)


def test_the_checklist_view_lists_every_finding_not_the_assert_line() -> None:
    """Without JavaScript, the item's row says what is wrong: one line per finding."""
    from maintcheck.htmlreport import problems

    message = ("assert lb-01: 2 finding(s): web/web-01: received none of the 4 requests; "
               "https://app/ served by web/web-02: HTTP 503, expected 200\n"
               "    web/web-01: received none of the 4 requests\n"
               "    https://app/ served by web/web-02: HTTP 503, expected 200")
    assert problems(entry(("lb-01", "failed", message))) == [
        "lb-01: web/web-01: received none of the 4 requests",
        "lb-01: https://app/ served by web/web-02: HTTP 503, expected 200"]
    assert problems(entry(("web-01", "error", "web-01: ssh: connect refused\nmore"))) == [
        "web-01: ssh: connect refused"]


def test_a_failed_check_s_first_line_carries_its_findings() -> None:
    """pytest's short summary shows the first line of the explanation: the findings, not a
    count or a repr."""
    from maintcheck.assess import Findings
    from maintcheck.plugin import pytest_assertrepr_compare

    found = Findings("web-07", ["ports [9] not listening, expected listening"])
    assert pytest_assertrepr_compare("==", found, []) == [
        "web-07: 1 finding(s): ports [9] not listening, expected listening",
        "  ports [9] not listening, expected listening"]


def test_the_generated_line_is_stamped_in_utc(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-html writes the operator's local time with no zone; the report says UTC."""
    import time

    from maintcheck.htmlreport import stamp_in_utc

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        page = tmp_path / "pre.html"
        page.write_text('<p>Report generated on 06-Dec-2026 at 21:30:00 by <a href="x">')
        stamp_in_utc(page)
        assert page.read_text() == ('<p>Report generated on 2026-12-07 at 02:30:00 UTC by '
                                    '<a href="x">')
    finally:
        monkeypatch.undo()
        time.tzset()
