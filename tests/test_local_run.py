"""Real runs of the shipped suite against the default inventory: this machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from maintcheck import catalog, exitcodes

ROOT = Path(__file__).resolve().parents[1]


def run_phase(phase: str, reports: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", f"checks/{phase}", "--no-prompt", "-p", "no:randomly",
         "-o", f"maintcheck_reports={reports}", "--change", "CI-LOCAL",
         "--maintenance-type", "security,application,infrastructure", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        check=False)


@pytest.fixture(scope="module")
def three_phases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    reports = tmp_path_factory.mktemp("reports")
    docs = {}
    for phase in ("pre", "during", "post"):
        result = run_phase(phase, reports)
        # manual items stay pending with --no-prompt: INCOMPLETE, or FAILED where this machine is
        assert result.returncode in (exitcodes.BY_VERDICT["FAILED"],
                                     exitcodes.BY_VERDICT["INCOMPLETE"]), result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        docs[phase] = json.loads((reports / "CI-LOCAL" / f"{phase}.json").read_text())
    return docs


def test_three_phases_cover_exactly_the_catalogs_items(three_phases: dict[str, dict]) -> None:
    ids = [i["id"] for doc in three_phases.values() for i in doc["items"]]
    expected = [i.id for i in catalog.load(ROOT / "checks" / "checklist.yml").items]
    assert sorted(ids) == sorted(expected)


def test_local_capacity_is_really_measured(three_phases: dict[str, dict]) -> None:
    item = next(i for i in three_phases["pre"]["items"] if i["id"] == "2.2")
    assert [o["host"] for o in item["outcomes"]] == ["this-machine"]
    assert item["outcomes"][0]["outcome"] in ("passed", "failed")
    audit = three_phases["pre"]["audit"]["this-machine"]
    # one probe for all host facts, and one for the pending-update list that 12.1 asks for
    assert len([e for e in audit if e.get("probe")]) == 2


def test_no_item_is_silently_passed(three_phases: dict[str, dict]) -> None:
    for doc in three_phases.values():
        for item in doc["items"]:
            if item["kind"] == "manual":
                assert item["state"] == "pending", item
            assert item["state"] != "not run", item


def test_status_file_absent_fails_during_and_passes_after(three_phases: dict[str, dict]) -> None:
    during = next(i for i in three_phases["during"]["items"] if i["id"] == "4.1")
    post = next(i for i in three_phases["post"]["items"] if i["id"] == "9.1")
    assert during["state"] == "failed" and "absent, expected present" in during[
        "outcomes"][0]["message"]
    assert post["state"] == "passed"


def test_the_evidence_says_how_each_host_was_reached(three_phases: dict[str, dict]) -> None:
    for doc in three_phases.values():
        assert doc["inventory"]["reached"] == {"this-machine": {"connection": "local"}}


def test_a_change_id_with_a_line_break_is_refused_and_names_no_folder(tmp_path: Path) -> None:
    result = run_phase("pre", tmp_path, "--change", "CHG-1\n")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "--change 'CHG-1\\n' must be letters, digits" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("option", "said"), [
    ("--limit=~(", "'~(': Invalid host list pattern"),
    ("--inventory=/dev/null", "not an inventory: neither a file nor a folder"),
    ("--limit=@/nonexistent/retry.txt", "cannot read the limit file"),
])
def test_bad_options_are_one_usage_error_never_a_traceback(tmp_path: Path, option: str,
                                                           said: str) -> None:
    result = run_phase("pre", tmp_path, option)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert said in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "INTERNALERROR" not in result.stdout + result.stderr


@pytest.mark.parametrize("form", ["apart", "joined"])
def test_limit_from_a_file_as_ansible_reads_it(tmp_path: Path, form: str) -> None:
    """``--limit @FILE`` as Ansible takes it, though pytest expands a bare ``@FILE`` argument
    into arguments of its own; and ``--limit=@FILE``."""
    hosts = tmp_path / "retry.txt"
    hosts.write_text("this-machine\n\n")
    limit = ["--limit", f"@{hosts}"] if form == "apart" else [f"--limit=@{hosts}"]
    result = run_phase("pre", tmp_path / "reports", *limit, "-k", "capacity")
    assert result.returncode != pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    doc = json.loads((tmp_path / "reports" / "CI-LOCAL" / "pre.json").read_text())
    assert doc["inventory"]["hosts"] == ["this-machine"]


def test_select_by_checklist_line_and_rerun_what_failed(tmp_path: Path) -> None:
    """--item and --section select by the catalog; --rerun-failed takes the failed and errored
    checks of the latest run from its evidence (pytest's cache is off); each run is partial."""
    folder = tmp_path / "CI-LOCAL"
    whole = run_phase("during", tmp_path)
    first = json.loads((folder / "during.json").read_text())
    failed = sorted({(i["id"], o["test"]) for i in first["items"] for o in i["outcomes"]
                     if o["outcome"] in ("failed", "error")})
    assert failed, whole.stdout  # on a machine with no status file, 4.1 fails
    run_phase("during", tmp_path, "--rerun-failed")
    again = json.loads((folder / "during.2.json").read_text())
    ran = sorted({(i["id"], o["test"]) for i in again["items"] for o in i["outcomes"]
                  if o["outcome"] not in ("not run",)})
    assert ran == failed
    assert again["selection"]["partial"] is True and again["verdict"] != "PASSED"
    run_phase("during", tmp_path, "--item", "5.5,6.6", "--section", "5")
    third = json.loads((folder / "during.3.json").read_text())
    assert {i["id"] for i in third["items"] if i["outcomes"]} == {"5.5"}
    refused = run_phase("during", tmp_path, "--item", "9.9")
    assert refused.returncode == pytest.ExitCode.USAGE_ERROR
    assert "--item 9.9: not in the checklist" in refused.stdout + refused.stderr
    assert not (folder / "during.4.json").exists()


def test_ra_names_not_applicable_and_pending_items_and_the_letters(tmp_path: Path) -> None:
    result = run_phase("pre", tmp_path, "-ra")
    said = result.stdout
    assert "pending: 1.1 -: nobody has confirmed it yet" in said, said[-3000:]
    assert "not applicable: 2.3 n/a: no selected host declares" in said
    assert "letters: n not applicable, p pending" in said


def test_k_selects_by_checklist_line_and_v_lines_name_it(tmp_path: Path) -> None:
    """``-k 2.2`` matches the item id (as a substring: 12.2 would match too; --item is exact);
    with -v each line carries the item id and title."""
    result = run_phase("pre", tmp_path, "-k", "2.2", "-v")
    doc = json.loads((tmp_path / "CI-LOCAL" / "pre.json").read_text())
    ran = {i["id"] for i in doc["items"] for o in i["outcomes"]}
    assert ran == {"2.2", "12.2"}, result.stdout  # 12.2: a question, matched as a substring
    assert "test_capacity_within_thresholds[this-machine] PASSED 2.2 " in result.stdout
    assert "partial run, never PASSED: narrowed by -k 2.2" in result.stdout
