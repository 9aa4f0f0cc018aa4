"""The checklist as data: ``checks/checklist.yml`` loaded into frozen records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from maintcheck.errors import InputError
from maintcheck.schema import ITEM_ID

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster

PHASES = ("pre", "during", "post")
KINDS = ("automated", "manual", "both")
MAINTENANCE_TYPES = ("security", "application", "infrastructure")


@dataclass(frozen=True)
class Item:
    """One checklist line: ``Item("2.3", "Database replication status healthy", ...)``."""

    id: str
    title: str
    section: int
    section_title: str
    phase: str
    kind: str
    maintenance_type: str | None
    # a manual item the operator may answer "skip" and still be done (e.g. "if required")
    skippable: bool = False

    @property
    def automated(self) -> bool:
        return self.kind in ("automated", "both")

    @property
    def manual(self) -> bool:
        return self.kind in ("manual", "both")

    @property
    def sort_key(self) -> tuple[int, int]:
        section, number = self.id.split(".")
        return int(section), int(number)


@dataclass(frozen=True)
class SignoffField:
    field: str
    label: str


@dataclass(frozen=True)
class Catalog:
    """Every item of the checklist, in the checklist's order."""

    path: Path
    title: str
    items: tuple[Item, ...]
    signoff: tuple[SignoffField, ...]

    def __getitem__(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def __contains__(self, item_id: object) -> bool:
        return any(item.id == item_id for item in self.items)

    def sections(self) -> list[tuple[int, str, list[Item]]]:
        """``[(1, "Planning & Preparation", [items...]), ...]`` in order."""
        out: dict[int, tuple[int, str, list[Item]]] = {}
        for item in self.items:
            out.setdefault(item.section, (item.section, item.section_title, []))[2].append(item)
        return list(out.values())


def load(path: str | Path) -> Catalog:
    """Load and validate the catalog; raises :class:`InputError` listing every problem."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=SAFE_LOADER)
        data = yaml.load(text, Loader=SAFE_LOADER)
    except OSError as exc:
        raise InputError(str(source), [f"cannot read: {exc.strerror}"]) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise InputError(str(source), [f"line {line}: {exc.problem}"]) from None
    problems: list[str] = []
    if not isinstance(data, dict) or not isinstance(data.get("sections"), list):
        raise InputError(str(source), ["expected a mapping with a `sections` list"])
    lines = item_lines(node)
    duplicates = {i: at for i, at in lines.items() if len(at) > 1}
    items: list[Item] = []
    for section in data["sections"]:
        items += section_items(section, lines, problems)
    problems += [f"lines {', '.join(map(str, at))}: duplicate id {i}"
                 for i, at in duplicates.items()]
    signoff = tuple(SignoffField(str(f.get("field")), str(f.get("label")))
                    for f in data.get("signoff") or [] if isinstance(f, dict))
    if problems:
        raise InputError(str(source), problems)
    return Catalog(source, str(data.get("title", "")), tuple(items), signoff)


def section_items(section: Any, lines: dict[str, list[int]], problems: list[str]) -> list[Item]:
    if not isinstance(section, dict):
        problems.append(f"a section is not a mapping: {section!r}")
        return []
    number, title = section.get("number"), str(section.get("title", ""))
    mtype = section.get("maintenance_type")
    if mtype is not None and mtype not in MAINTENANCE_TYPES:
        problems.append(f"section {number}: maintenance_type must be one of "
                        f"{', '.join(MAINTENANCE_TYPES)}, got {mtype!r}")
    items = []
    for raw in section.get("items") or []:
        item_id = str(raw.get("id", "")) if isinstance(raw, dict) else ""
        line = lines[item_id].pop(0) if lines.get(item_id) else "?"
        where = f"line {line}"
        if not ITEM_ID.fullmatch(item_id) or item_id.split(".")[0] != str(number):
            problems.append(f"{where}: id {item_id!r} must be '{number}.N'")
            continue
        phase = raw.get("phase", section.get("phase"))
        kind = raw.get("kind")
        if phase not in PHASES:
            problems.append(f"{where}: item {item_id} phase must be one of {PHASES}, got {phase!r}")
        if kind not in KINDS:
            problems.append(f"{where}: item {item_id} kind must be one of {KINDS}, got {kind!r}")
        if not raw.get("title"):
            problems.append(f"{where}: item {item_id} has no title")
        skippable = raw.get("skippable", False)
        if not isinstance(skippable, bool):
            problems.append(f"{where}: item {item_id} skippable must be true or false, "
                            f"got {skippable!r}")
        elif skippable and kind == "automated":
            problems.append(f"{where}: item {item_id} is automated; only a manual item's "
                            "answer can be skip")
        items.append(Item(item_id, str(raw.get("title", "")), int(str(number)), title, str(phase),
                          str(kind), mtype, skippable is True))
    return items


def item_lines(node: yaml.Node | None) -> dict[str, list[int]]:
    """The lines each item id is written on, in order, for error messages."""
    found: dict[str, list[int]] = {}

    def walk(n: yaml.Node) -> None:
        if isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                if getattr(key, "value", None) == "id" and isinstance(value, yaml.ScalarNode):
                    found.setdefault(value.value, []).append(value.start_mark.line + 1)
                walk(value)
        elif isinstance(n, yaml.SequenceNode):
            for child in n.value:
                walk(child)

    if node is not None:
        walk(node)
    return found
