"""Selecting checks by checklist line: ``--item 2.3,7.1``, ``--section 2``, ``--rerun-failed``.

pytest's ``-k`` matches substrings of keywords (each check's item id is one, so ``-k 2.3``
also runs 12.3); these options select by the catalog, exactly. ``--rerun-failed`` takes the
failed and errored checks of the latest run of this change and phase from its evidence, not
from pytest's cache (which is off: a cache in the working tree would be one more thing to
trust). Each makes the run partial.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Cell = tuple[str, str, str]  # (item id, host, test function)


@dataclass(frozen=True)
class Selection:
    """What the operator asked for; empty fields select everything."""

    items: frozenset[str] = frozenset()
    sections: frozenset[str] = frozenset()
    cells: frozenset[Cell] | None = None  # None: no --rerun-failed

    @property
    def narrows(self) -> bool:
        return bool(self.items or self.sections or self.cells is not None)

    def keeps(self, item_id: str, host: str, test: str) -> bool:
        if self.items and item_id not in self.items:
            return False
        if self.sections and item_id.split(".")[0] not in self.sections:
            return False
        return self.cells is None or (item_id, host, test) in self.cells


def ids(text: str | None) -> frozenset[str]:
    """``"2.3, 7.1"`` -> {"2.3", "7.1"}."""
    return frozenset(p.strip() for p in (text or "").split(",") if p.strip())


def unknown(selection: Selection, catalog_ids: Iterable[str]) -> list[str]:
    """Items and sections the catalog does not have: each a problem, never an empty run."""
    known = set(catalog_ids)
    sections = {i.split(".")[0] for i in known}
    return ([f"--item {i}: not in the checklist" for i in sorted(selection.items - known)]
            + [f"--section {s}: not in the checklist" for s in sorted(selection.sections
                                                                       - sections)])


def failed_cells(document: Mapping[str, Any]) -> frozenset[Cell]:
    """The automated checks a run's evidence records as failed or errored."""
    return frozenset((str(item["id"]), str(o["host"]), str(o["test"]))
                     for item in document.get("items", []) for o in item.get("outcomes", [])
                     if o.get("outcome") in ("failed", "error") and not o.get("manual"))
