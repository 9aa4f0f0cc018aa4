"""``maintcheck checklist import``: the team's Markdown checklist into the catalog.

These tests start from a fixed copy of the user's checklist (``tests/data/``) and checks
made up here, so they hold whatever this repository's own checklist becomes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from maintcheck import catalog, mdimport
from maintcheck.errors import InputError
from maintcheck.suite import CheckRef

SEED = Path(__file__).parent / "data" / "maintenance-checklist.md"
SHIPPED = SEED.read_text(encoding="utf-8")
REFS = [
    CheckRef("2.3", "checks/pre/test_02_system_health.py", "test_replica_streams", False, 1),
    CheckRef("2.4", "checks/pre/test_02_system_health.py", "test_backup_unit_ran", False, 2),
    CheckRef("8.4", "checks/post/test_08_documentation.py", "test_lessons_learned", True, 1),
    CheckRef("10.1", "checks/pre/test_10_rollback.py", "test_rollback_criteria", True, 1),
    CheckRef("15.1", "checks/pre/test_15_final_approval.py", "test_lead_approval", True, 1),
]
CHECK_FILES = {
    "checks/pre/test_02_system_health.py": (
        "import pytest\n\n@pytest.mark.checklist('2.3')\ndef test_replica_streams():\n"
        "    assert True\n\n@pytest.mark.checklist('2.4')\ndef test_backup_unit_ran():\n"
        "    assert True\n"),
    "checks/post/test_08_documentation.py": (
        "import pytest\n\n@pytest.mark.checklist('8.4')\n@pytest.mark.manual\n"
        "def test_lessons_learned():\n    \"\"\"Lessons learned?\"\"\"\n"),
}


def load_text(folder: Path, text: str) -> catalog.Catalog:
    path = folder / "checklist.yml"
    path.write_text(text, encoding="utf-8")
    return catalog.load(path)


@pytest.fixture(scope="module")
def cat(tmp_path_factory: pytest.TempPathFactory) -> catalog.Catalog:
    """The catalog of the seed, as a first import writes it."""
    first = mdimport.import_checklist(mdimport.parse(SHIPPED, "seed.md"), REFS, None)
    return load_text(tmp_path_factory.mktemp("catalog"), first.text)


def edited(text: str = SHIPPED) -> str:
    """The shipped checklist after a post-mortem: two lines added, one renamed, two removed."""
    text = text.replace("- [ ] Load balancer health checks passing\n",
                        "- [ ] Load balancer health checks passing\n"
                        "- [ ] NTP time synchronised on every host\n")
    text = text.replace("- [ ] Maintenance window confirmed\n",
                        "- [ ] Maintenance window confirmed\n- [ ] Customer support briefed\n")
    text = text.replace("Database replication status healthy", "Database replication healthy")
    text = text.replace("- [ ] Backup systems operational\n", "")
    return text.replace("- [ ] Lessons learned captured\n", "")


def reimport(text: str, previous: catalog.Catalog,
             refs: list[CheckRef] = REFS) -> mdimport.Imported:
    return mdimport.import_checklist(mdimport.parse(text, "team.md"), refs, previous)


def test_a_reimport_keeps_ids_gives_new_ones_and_says_what_changed(
        tmp_path: Path, cat: catalog.Catalog) -> None:
    result = reimport(edited(), cat)
    new = load_text(tmp_path, result.text)
    assert result.added == [("2.7", "NTP time synchronised on every host"),
                            ("15.7", "Customer support briefed")]
    assert result.renamed == [("2.3", "Database replication status healthy",
                               "Database replication healthy")]
    assert new["2.3"].title == "Database replication healthy" and new["2.3"].kind == "automated"
    # both removed lines still have checks: kept, and said so, until the team removes them
    assert [(i, t) for i, t, _ in result.kept] == [("2.4", "Backup systems operational"),
                                                    ("8.4", "Lessons learned captured")]
    assert "2.4" in new and "8.4" in new
    assert new["2.7"].kind == "manual" and new["2.7"].phase == "pre"
    assert new["15.7"].kind == "manual"
    # every other item kept its id, title, phase and kind
    untouched = [i for i in cat.items if i.id not in {"2.3"}]
    assert [i for i in untouched if new[i.id] != i] == []


def test_a_removed_item_without_checks_is_removed_and_said(tmp_path: Path,
                                                          cat: catalog.Catalog) -> None:
    refs = [r for r in REFS if r.item != "8.4"]
    result = reimport(edited(), cat, refs)
    assert result.removed == [("8.4", "Lessons learned captured")]
    assert "8.4" not in load_text(tmp_path, result.text)
    assert "removed 8.4: Lessons learned captured" in result.lines()


def test_a_new_id_never_reuses_one_in_use(cat: catalog.Catalog) -> None:
    text = SHIPPED.replace("- [ ] Technical lead approval\n", "")
    text = text.replace("- [ ] Maintenance window confirmed\n",
                        "- [ ] Maintenance window confirmed\n- [ ] Another approval\n")
    result = reimport(text, cat)
    assert result.added == [("15.7", "Another approval")]
    assert [k[0] for k in result.kept] == ["15.1"]


def test_an_item_moved_to_another_section_gets_its_new_sections_id(cat: catalog.Catalog
                                                                   ) -> None:
    text = SHIPPED.replace("- [ ] Rollback criteria defined\n", "")
    text = text.replace("- [ ] Escalation procedures documented\n",
                        "- [ ] Escalation procedures documented\n- [ ] Rollback criteria defined\n")
    result = reimport(text, cat)
    assert result.moved == [("10.1", "11.7", "Rollback criteria defined")]
    assert any("checks marked 10.1 must now say 11.7" in line for line in result.lines())


def test_an_id_pinned_in_the_markdown_wins(cat: catalog.Catalog) -> None:
    text = SHIPPED.replace("- [ ] Database replication status healthy",
                           "- [ ] Replicas stream from the primary <!-- id: 2.3 -->")
    result = reimport(text, cat)
    assert result.added == [] and result.renamed == [] and result.kept == []
    assert '{id: "2.3", title: "Replicas stream from the primary", kind: automated}' in result.text


def test_a_new_maintenance_type_item_says_its_phase(cat: catalog.Catalog) -> None:
    text = SHIPPED.replace("- [ ] Firewall rules validated\n",
                           "- [ ] Firewall rules validated\n"
                           "- [ ] VPN tunnels up <!-- phase: post -->\n"
                           "- [ ] Change freeze lifted\n")
    result = reimport(text, cat)
    assert '{id: "14.7", title: "VPN tunnels up", kind: manual, phase: post}' in result.text
    assert '{id: "14.8", title: "Change freeze lifted", kind: manual, phase: pre}' in result.text
    assert [n for n in result.notes if n.startswith("14.8 (team.md:")]


def test_the_signoff_block_becomes_fields() -> None:
    md = mdimport.parse(SHIPPED, "seed.md")
    assert md.signoff[0] == ("window", "Maintenance Window")
    assert ("pre_signoff", "Pre-Maintenance Sign-off") in md.signoff
    assert [s.maintenance_type for s in md.sections if s.maintenance_type] == [
        "security", "application", "infrastructure"]


def test_bad_markdown_lists_every_problem_with_its_line() -> None:
    text = ("# T\n### 1. A\n- [ ] x\n- y\n### B\n- [ ] x\n### 1. Again\n- [ ] q\n"
            "## Maintenance Types\n### 3. Odd things\n- [ ] z <!-- phase: later -->\n")
    with pytest.raises(InputError) as err:
        mdimport.parse(text, "team.md")
    assert err.value.problems == [
        "team.md:4: a list line that is not an item; write `- [ ] y`",
        "team.md:5: a section heading is `### N. Title`, got `### B`",
        "team.md:6: an item outside any `### N. Title` section",
        "team.md:7: section 1 again (first at line 2)",
        "team.md:8: an item outside any `### N. Title` section",
        ("team.md:10: a maintenance-type section's title starts with its type (security, "
         "application, infrastructure), or says it: `<!-- type: security -->`"),
        "team.md:11: phase later must be one of pre, during, post",
    ]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "maintcheck.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_command_imports_reports_and_refuses_bad_input(tmp_path: Path) -> None:
    for name, source in CHECK_FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source, encoding="utf-8")
    team = tmp_path / "checks" / "checklist.md"
    team.write_text(SHIPPED, encoding="utf-8")
    first = cli("checklist", "import", "checks/checklist.md", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    # no check says the phase of a maintenance-type item yet: each is said
    assert len([line for line in first.stdout.splitlines() if line.startswith("note: 1")]) == 18
    assert first.stdout.endswith("wrote checks/checklist.yml: 91 items in 15 sections, 89 "
                                 "without an automated check (asked of the operator)\n")
    team.write_text(edited(), encoding="utf-8")
    stale = cli("checklist", "import", "checks/checklist.md", "--check", cwd=tmp_path)
    assert stale.returncode == 1, stale.stderr
    done = cli("checklist", "import", "checks/checklist.md", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "added 2.7: NTP time synchronised on every host" in done.stdout
    assert ("renamed 2.3: 'Database replication status healthy' -> 'Database replication "
            "healthy' (keeps its id and checks)") in done.stdout
    assert ("kept 2.4: Backup systems operational: gone from the Markdown, but checked by "
            "checks/pre/test_02_system_health.py::test_backup_unit_ran; remove those checks, "
            "then import again") in done.stdout
    assert "wrote checks/checklist.yml: 93 items in 15 sections" in done.stdout
    again = cli("checklist", "import", "checks/checklist.md", "--check", cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.strip().endswith("gives it")
    team.write_text("# T\n- [ ] nothing\n", encoding="utf-8")
    bad = cli("checklist", "import", "checks/checklist.md", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr == ("maintcheck: checks/checklist.md: 1 problem:\n"
                          "  - checks/checklist.md:2: an item outside any `### N. Title` "
                          "section\n")
    assert bad.stdout == ""


def test_a_section_moved_to_another_phase_says_which_checks_to_move(cat: catalog.Catalog
                                                                    ) -> None:
    text = SHIPPED.replace("## Pre-Maintenance Checklist", "## During the window, first")
    result = reimport(text, cat)
    assert [n for n in result.notes if "checks/pre" in n] == [
        "2.3: its checks are in checks/pre, but the Markdown puts it in during: move them",
        "2.4: its checks are in checks/pre, but the Markdown puts it in during: move them"]
    assert '  - number: 2\n    title: "System Health Verification"\n    phase: during' in (
        result.text)
