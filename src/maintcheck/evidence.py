"""The evidence JSON: what was checked, on which host, with what outcome, and who confirmed what.

Deterministic: sorted keys, UTC times, outcomes sorted by item and host, so the same results
give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from maintcheck.catalog import Catalog, Item
from maintcheck.confirmations import Confirmation
from maintcheck.redact import Redactor

OUTCOMES = ("passed", "failed", "error", "not applicable", "pending", "skipped",
            "not yet automated", "not run")
# the order in which one outcome outweighs another when an item is summed across hosts
WEIGHT = ("failed", "error", "pending", "not yet automated", "not run", "skipped", "passed",
          "not applicable")
VERDICTS = {"failed": "FAILED", "error": "ERROR", "pending": "INCOMPLETE",
            "not yet automated": "INCOMPLETE", "not run": "INCOMPLETE"}
# a check's ``record_property(name, value)``: what it observed, kept with its outcome
RecordProperty: TypeAlias = Callable[[str, object], None]


@dataclass(frozen=True)
class Outcome:
    """One test's result on one host: ``Outcome("2.2", "web-01", "passed", "", test)``."""

    item: str
    host: str
    outcome: str
    message: str
    test: str
    manual: bool = False
    observed: tuple[tuple[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out = {"host": self.host, "outcome": self.outcome, "message": self.message,
               "test": self.test, "manual": self.manual}
        if self.observed:
            out["observed"] = dict(self.observed)
        return out


def item_state(outcomes: list[Outcome]) -> str:
    """The state of one item across its hosts and tests."""
    if not outcomes:
        return "not run"
    present = {o.outcome for o in outcomes}
    return next(w for w in WEIGHT if w in present)


def verdict(states: list[str], *, unfinished: bool = False) -> str:
    """PASSED, FAILED, ERROR or INCOMPLETE for a run, from its item states.

    ``unfinished``: the run is partial, or a manual item that may not be skipped was skipped;
    it is then INCOMPLETE at best, never PASSED.
    """
    for state in ("failed", "error", "pending", "not yet automated", "not run"):
        if state in states:
            return VERDICTS[state]
    return "INCOMPLETE" if unfinished else "PASSED"


def skipped_not_done(item: Item, outcomes: list[Outcome]) -> bool:
    """A manual item answered skip that the catalog does not mark skippable: not done."""
    return not item.skippable and any(o.manual and o.outcome == "skipped" for o in outcomes)


@dataclass
class Evidence:
    """A run's outcomes and confirmations, rendered as the evidence document."""

    catalog: Catalog
    redactor: Redactor
    outcomes: list[Outcome] = field(default_factory=list)
    confirmations: dict[str, Confirmation] = field(default_factory=dict)

    def items(self, phases: set[str]) -> list[Item]:
        """The catalog items a run of these phases answers for."""
        ids = {o.item for o in self.outcomes}
        return [i for i in self.catalog.items if i.phase in phases or i.id in ids]

    def states(self, phases: set[str]) -> dict[str, str]:
        return {i.id: item_state([o for o in self.outcomes if o.item == i.id])
                for i in self.items(phases)}

    def render(self, *, phases: set[str], meta: Mapping[str, Any],
               narrowed_by: Sequence[str] = ()) -> dict[str, Any]:
        """The whole evidence document for a run (meta: change, inventory, times, ...).

        ``narrowed_by``: what made the run partial (``-k backup``, ``--limit web``); a partial
        run's verdict is never PASSED.
        """
        items = []
        states = self.states(phases)
        unchecked = []  # items no automated check answers for: the operator does
        for item in self.items(phases):
            mine = sorted((o for o in self.outcomes if o.item == item.id),
                          key=lambda o: (o.host, o.test))
            if not item.automated or (mine and all(o.manual for o in mine)):
                unchecked.append(item.id)
            entry: dict[str, Any] = {
                "id": item.id, "title": item.title, "section": item.section,
                "section_title": item.section_title, "phase": item.phase, "kind": item.kind,
                "maintenance_type": item.maintenance_type, "state": states[item.id],
                "outcomes": [o.as_dict() for o in mine],
            }
            if item.id in self.confirmations:
                entry["confirmation"] = self.confirmations[item.id].as_dict()
            items.append(entry)
        counts = {name: 0 for name in OUTCOMES}
        for o in self.outcomes:
            counts[o.outcome] += 1
        counts["not run"] = sum(1 for s in states.values() if s == "not run")
        pending = sorted((i for i, s in states.items() if s == "pending"), key=_by_id)
        not_done = sorted((i.id for i in self.items(phases) if skipped_not_done(
            i, [o for o in self.outcomes if o.item == i.id])), key=_by_id)
        doc = dict(meta)
        doc.update({
            "warnings": warnings(self.outcomes),
            "phase": "+".join(p for p in ("pre", "during", "post") if p in phases),
            "checklist": {"title": self.catalog.title, "items": len(items)},
            "items": items,
            "summary": {"outcomes": counts, "items": {s: list(states.values()).count(s)
                                                      for s in sorted(set(states.values()))},
                        "pending_items": pending, "skipped_not_skippable": not_done,
                        "without_automated_check": unchecked},
            "selection": {"partial": bool(narrowed_by), "narrowed_by": list(narrowed_by)},
            "verdict": verdict(list(states.values()), unfinished=bool(narrowed_by or not_done)),
            "confirmations": [c.as_dict() for _, c in sorted(self.confirmations.items())],
        })
        return self.redactor.value(doc)  # type: ignore[no-any-return]


def warnings(outcomes: list[Outcome]) -> list[dict[str, str]]:
    """What checks noted short of a failure (``record_property("warnings", [...])``), each with
    its item and host, in item and host order."""
    found = [{"item": o.item, "host": o.host, "warning": str(w)}
             for o in outcomes for k, v in o.observed if k == "warnings" for w in v or ()]
    return sorted(found, key=lambda w: (tuple(int(p) for p in w["item"].split(".")
                                              if p.isdigit()), w["host"], w["warning"]))


def _by_id(item_id: str) -> tuple[int, ...]:
    return tuple(int(p) for p in item_id.split("."))


def dumps(document: Mapping[str, Any]) -> str:
    """The canonical text of an evidence document."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write(path: Path, document: Mapping[str, Any]) -> Path:
    """Write atomically, so an interrupted run never leaves half a file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(dumps(document), encoding="utf-8")
    tmp.replace(path)
    return path
