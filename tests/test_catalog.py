"""The catalog and checks/ hold each other: every item has a test, every test an item."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from maintcheck import catalog
from maintcheck.errors import InputError
from maintcheck.suite import scan

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "seed" / "maintenance-checklist.md"
CAT = catalog.load(ROOT / "checks" / "checklist.yml")
REFS = scan(ROOT / "checks", ROOT)


def test_catalog_has_the_91_items_of_15_sections() -> None:
    assert len(CAT.items) == 91
    assert [n for n, _, _ in CAT.sections()] == list(range(1, 16))
    assert len([i for i in CAT.items if i.section == 4]) == 7


@pytest.mark.skipif(not SEED.exists(), reason="the seed checklist is not beside the repo")
def test_titles_are_the_checklists_own_words() -> None:
    seed = SEED.read_text(encoding="utf-8")
    titles = re.findall(r"^- \[ \] (.+?)\s*$", seed, re.MULTILINE)
    assert [i.title for i in CAT.items] == titles


def test_phases_follow_the_sections() -> None:
    phase = {i.section: i.phase for i in CAT.items if i.maintenance_type is None}
    assert {s for s, p in phase.items() if p == "pre"} == {1, 2, 3, 10, 11, 15}
    assert {s for s, p in phase.items() if p == "during"} == {4, 5, 6}
    assert {s for s, p in phase.items() if p == "post"} == {7, 8, 9}
    assert {i.maintenance_type for i in CAT.items if i.section in (12, 13, 14)} == {
        "security", "application", "infrastructure"}


def test_ids_are_unique() -> None:
    ids = [i.id for i in CAT.items]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("item", CAT.items, ids=lambda i: i.id)
def test_every_item_has_its_checks(item: catalog.Item) -> None:
    refs = [r for r in REFS if r.item == item.id]
    automated = [r for r in refs if not r.manual]
    manual = [r for r in refs if r.manual]
    assert bool(automated) == item.automated, f"{item.id} ({item.kind}): automated {automated}"
    assert len(manual) == (1 if item.manual else 0), f"{item.id} ({item.kind}): manual {manual}"
    assert {Path(r.path).parts[1] for r in refs} == {item.phase}, f"{item.id} in wrong phase"


def test_every_check_names_a_catalog_item() -> None:
    strays = [r.nodeid for r in REFS if r.item not in CAT]
    assert strays == []


def test_a_broken_catalog_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "checklist.yml"
    bad.write_text(
        "sections:\n"
        "  - number: 1\n    title: One\n    phase: pre\n    items:\n"
        "      - {id: '1.1', title: A, kind: manual}\n"
        "      - {id: '1.1', title: B, kind: sometimes}\n"
        "      - {id: '2.1', title: C, kind: manual}\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        catalog.load(bad)
    text = str(err.value)
    assert "line 7: item 1.1 kind must be one of" in text
    assert "duplicate id 1.1" in text
    assert "'2.1' must be '1.N'" in text


def test_approvals_are_never_skippable() -> None:
    """1.1, 1.2 and section 15 are approvals: a skip of one leaves the run INCOMPLETE."""
    approvals = [i for i in CAT.items if i.id in ("1.1", "1.2") or i.section == 15]
    assert len(approvals) == 8 and not any(i.skippable for i in approvals)
    assert {i.id for i in CAT.items if i.skippable} == {"11.6", "13.2"}
    assert all(i.manual for i in CAT.items if i.skippable)


def test_a_skippable_automated_item_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "checklist.yml"
    path.write_text("sections:\n  - number: 1\n    title: T\n    phase: pre\n    items:\n"
                    "      - {id: '1.1', title: A, kind: automated, skippable: true}\n"
                    "      - {id: '1.2', title: B, kind: manual, skippable: sometimes}\n")
    with pytest.raises(InputError) as caught:
        catalog.load(path)
    assert caught.value.problems == [
        "line 6: item 1.1 is automated; only a manual item's answer can be skip",
        "line 7: item 1.2 skippable must be true or false, got 'sometimes'"]
