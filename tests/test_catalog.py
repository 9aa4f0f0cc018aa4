"""The catalog and checks/ hold each other, whatever the team's checklist holds.

Nothing here counts the checklist's items: a team that adds line 2.7 changes the Markdown,
imports it, and these tests still hold. One test pins that importing the Markdown
(``checks/checklist.md``: as shipped, the user's checklist word for word, with
``<!-- skippable -->`` on 11.6 and 13.2) gives the catalog, ``checks/checklist.yml``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from maintcheck import catalog, mdimport
from maintcheck.catalog import MAINTENANCE_TYPES, PHASES
from maintcheck.errors import InputError
from maintcheck.suite import scan

ROOT = Path(__file__).resolve().parents[1]
MARKDOWN = ROOT / "checks" / "checklist.md"
CATALOG = ROOT / "checks" / "checklist.yml"
CAT = catalog.load(CATALOG)
REFS = scan(ROOT / "checks", ROOT)


def test_importing_the_shipped_markdown_gives_the_shipped_catalog() -> None:
    imported = mdimport.import_checklist(mdimport.read(MARKDOWN), REFS, None)
    assert imported.text == CATALOG.read_text(encoding="utf-8")


def test_reimporting_the_shipped_markdown_changes_nothing() -> None:
    imported = mdimport.import_checklist(mdimport.read(MARKDOWN), REFS, CAT)
    assert imported.text == CATALOG.read_text(encoding="utf-8")
    assert imported.lines() == []


def test_ids_are_unique() -> None:
    ids = [i.id for i in CAT.items]
    assert sorted(i for i in set(ids) if ids.count(i) > 1) == []


def test_phases_and_types_are_known() -> None:
    assert {i.phase for i in CAT.items} <= set(PHASES)
    assert {i.maintenance_type for i in CAT.items} <= {None, *MAINTENANCE_TYPES}


@pytest.mark.parametrize("item", CAT.items, ids=lambda i: i.id)
def test_every_item_has_the_checks_its_kind_says(item: catalog.Item) -> None:
    """automated: a check; manual: one question, or none (the title is then asked); both."""
    refs = [r for r in REFS if r.item == item.id]
    automated = [r for r in refs if not r.manual]
    manual = [r for r in refs if r.manual]
    assert bool(automated) == item.automated, f"{item.id} ({item.kind}): automated {automated}"
    assert len(manual) <= (1 if item.manual else 0), f"{item.id} ({item.kind}): manual {manual}"
    assert {Path(r.path).parts[1] for r in refs} <= {item.phase}, f"{item.id} in wrong phase"


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
    assert approvals and not any(i.skippable for i in approvals)
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
