"""A team's Markdown checklist into the catalog: ``### N. Section`` and ``- [ ] item`` lines.

>>> result = import_checklist(parse(text, "checklist.md"), scan(checks), previous=None)
>>> result.text  # checks/checklist.yml, as the shipped one is written

The Markdown says what the checklist holds; ``checks/`` says how each line is checked. So an
item's kind is read from its checks (an automated check, a manual question, or both; no check at
all makes it a manual item), and a maintenance-type item's phase from the folder of its checks.
A re-import keeps the id of every item whose title matches, and never drops an item that still
has checks.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from maintcheck.catalog import MAINTENANCE_TYPES, PHASES, Catalog, Item
from maintcheck.errors import InputError
from maintcheck.suite import CheckRef

H1 = re.compile(r"^#\s+(.+?)\s*$")
H2 = re.compile(r"^##\s+(.+?)\s*$")
H3 = re.compile(r"^###\s+(.*?)\s*$")
SECTION = re.compile(r"^(\d+)\.\s+(\S.*)$")
ITEM = re.compile(r"^[-*]\s+\[[ xX]\]\s*(.*?)\s*$")
BULLET = re.compile(r"^[-*]\s+")
SIGNOFF = re.compile(r"^\*\*(.+?)\*\*\s*:\s*(.*?)\s*$")
# an HTML comment on a line, invisible where the Markdown is rendered: <!-- id: 2.3 -->
ANNOTATION = re.compile(r"<!--\s*(id|phase|type)\s*:\s*([^\s>]+)\s*-->")
# a manual item whose "skip" answer counts as done (it may not apply to every change)
SKIPPABLE = re.compile(r"<!--\s*skippable\s*-->")
ID = re.compile(r"^(\d+)\.(\d+)$")
# a section under one of these second-level headings is checked in that phase
GROUP_PHASES = (("pre", "pre"), ("during", "during"), ("post", "post"))
TYPES_GROUP = "maintenance type"
RENAME_SIMILARITY = 0.6
HEADER = """\
# The maintenance checklist as data: one entry per line of the team's checklist.
# Written by `maintcheck checklist import {source}`: edit the Markdown, then import it again.
# id: section.item, stable across imports (an item keeps its id while its title matches).
# phase: pre | during | post; a maintenance-type section sets it per item, and runs only when
#   --maintenance-type selects its type.
# kind: read from checks/: automated (a check), manual (a question, or no check yet), or both.
# skippable: true (`<!-- skippable -->` on the Markdown line): a manual item that may not apply
#   to every change, whose "skip" answer counts as done. Any other skipped item leaves the run
#   INCOMPLETE.
"""


@dataclass(frozen=True)
class MdItem:
    """One ``- [ ] title`` line."""

    title: str
    line: int
    pinned_id: str | None = None
    phase: str | None = None
    skippable: bool = False


@dataclass(frozen=True)
class MdSection:
    """One ``### N. Title`` heading and its items."""

    number: int
    title: str
    line: int
    phase: str | None  # None: a maintenance-type section, phase per item
    maintenance_type: str | None
    items: tuple[MdItem, ...]


@dataclass(frozen=True)
class Markdown:
    """A parsed Markdown checklist."""

    source: str
    title: str
    sections: tuple[MdSection, ...]
    signoff: tuple[tuple[str, str], ...]  # (field, label)


@dataclass
class Imported:
    """The catalog an import writes, and what changed against the previous one."""

    text: str
    added: list[tuple[str, str]] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)
    renamed: list[tuple[str, str, str]] = field(default_factory=list)  # id, old, new title
    moved: list[tuple[str, str, str]] = field(default_factory=list)  # old id, new id, title
    kept: list[tuple[str, str, list[str]]] = field(default_factory=list)  # id, title, checks
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """What the import did, one line each, for the terminal."""
        out = [f"added {i}: {t}" for i, t in self.added]
        out += [f"renamed {i}: '{old}' -> '{new}' (keeps its id and checks)"
                for i, old, new in self.renamed]
        out += [f"moved {old} -> {new}: {t} (checks marked {old} must now say {new})"
                for old, new, t in self.moved]
        out += [f"removed {i}: {t}" for i, t in self.removed]
        out += [f"kept {i}: {t}: gone from the Markdown, but checked by {', '.join(c)}; "
                "remove those checks, then import again" for i, t, c in self.kept]
        return out + [f"note: {n}" for n in self.notes]


def signoff_field(label: str) -> str:
    """``"Pre-Maintenance Sign-off"`` -> ``"pre_signoff"``; ``"Maintenance Lead"`` -> ``"lead"``."""
    words = re.findall(r"[a-z0-9]+", label.lower().replace("sign-off", "signoff"))
    return "_".join(w for w in words if w != "maintenance") or "field"


def split_annotations(text: str) -> tuple[str, dict[str, str]]:
    """The line without its ``<!-- key: value -->`` comments, and those values."""
    found = {m[1]: m[2] for m in ANNOTATION.finditer(text)}
    if SKIPPABLE.search(text):
        found["skippable"] = "true"
    return SKIPPABLE.sub("", ANNOTATION.sub("", text)).strip(), found


def parse(text: str, source: str) -> Markdown:
    """Read a Markdown checklist; raises :class:`InputError` with every problem and its line."""
    problems: list[str] = []
    title = ""
    group_phase: str | None = "pre"
    group_types = False
    sections: list[MdSection] = []
    current: dict[str, object] | None = None
    items: list[MdItem] = []
    signoff: list[tuple[str, str]] = []
    numbers: dict[int, int] = {}

    def close() -> None:
        if current is not None:
            sections.append(MdSection(items=tuple(items), **current))  # type: ignore[arg-type]

    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{source}:{number}"
        line, notes = split_annotations(raw)
        phase_note = notes.get("phase")
        if phase_note is not None and phase_note not in PHASES:
            problems.append(f"{where}: phase {phase_note} must be one of {', '.join(PHASES)}")
            phase_note = None
        if m := H3.match(line):
            close()
            items = []
            current = None
            head = SECTION.match(m[1])
            if not head:
                problems.append(f"{where}: a section heading is `### N. Title`, got `{line}`")
                continue
            section = int(head[1])
            if section in numbers:
                problems.append(f"{where}: section {section} again (first at line "
                                f"{numbers[section]})")
                continue
            numbers[section] = number
            mtype = None
            if group_types:
                mtype = notes.get("type") or head[2].split()[0].lower()
                if mtype not in MAINTENANCE_TYPES:
                    problems.append(f"{where}: a maintenance-type section's title starts with "
                                    f"its type ({', '.join(MAINTENANCE_TYPES)}), or says it: "
                                    "`<!-- type: security -->`")
                    mtype = None
            current = {"number": section, "title": head[2], "line": number,
                       "phase": phase_note or (None if group_types else group_phase),
                       "maintenance_type": mtype}
        elif m := H2.match(line):
            close()
            current, items = None, []
            heading = m[1].lower()
            group_types = TYPES_GROUP in heading
            group_phase = phase_note or next(
                (p for word, p in GROUP_PHASES if heading.startswith(word)), "pre")
        elif (m := H1.match(line)) and not title:
            title = m[1]
        elif m := ITEM.match(line):
            if current is None:
                problems.append(f"{where}: an item outside any `### N. Title` section")
            elif not m[1]:
                problems.append(f"{where}: an item without a title")
            elif any(i.title.lower() == m[1].lower() for i in items):
                problems.append(f"{where}: '{m[1]}' twice in section {current['number']}")
            else:
                pinned = notes.get("id")
                if pinned is not None and not (ID.match(pinned)
                                               and pinned.split(".")[0] == str(current["number"])):
                    problems.append(f"{where}: id {pinned} must be '{current['number']}.N'")
                    pinned = None
                items.append(MdItem(m[1], number, pinned, phase_note, "skippable" in notes))
        elif m := SIGNOFF.match(line):
            label = m[1].strip()
            if set(m[2]) <= set("_ \\"):  # a blank to fill in: the sign-off block
                signoff.append((signoff_field(label), label))
        elif BULLET.match(line) and current is not None:
            problems.append(f"{where}: a list line that is not an item; write `- [ ] {line[2:]}`")
    close()
    if not sections and not problems:
        problems.append(f"{source}: no `### N. Title` section with `- [ ] item` lines")
    problems += [f"{source}:{s.line}: section {s.number} has no items"
                 for s in sections if not s.items]
    pins = [str(i.pinned_id) for s in sections for i in s.items if i.pinned_id]
    problems += [f"{source}: id {i} is pinned on two lines" for i in sorted(set(pins))
                 if pins.count(i) > 1]
    fields = [f for f, _ in signoff]
    problems += [f"{source}: two sign-off lines make the field {f}" for f in sorted(set(fields))
                 if fields.count(f) > 1]
    if problems:
        raise InputError(source, problems)
    return Markdown(source, title, tuple(sections), tuple(signoff))


def norm(title: str) -> str:
    return " ".join(title.lower().split())


def import_checklist(md: Markdown, refs: list[CheckRef], previous: Catalog | None) -> Imported:
    """The catalog for ``md``, ids kept from ``previous`` where titles match."""
    old = list(previous.items) if previous else []
    taken: set[str] = set()  # old ids given to a new item
    ids: dict[tuple[int, int], str] = {}  # (section, index) -> id
    result = Imported("")
    old_by_id = {i.id: i for i in old}

    def claim(key: tuple[int, int], item_id: str) -> None:
        ids[key] = item_id
        taken.add(item_id)

    positions = [((s.number, n), s, item) for s in md.sections for n, item in enumerate(s.items)]
    for key, _, item in positions:  # 1. pinned in the Markdown
        if item.pinned_id:
            claim(key, item.pinned_id)
    for key, section, item in positions:  # 2. the same title in the same section
        match = next((o for o in old if key not in ids and o.id not in taken
                      and o.section == section.number and norm(o.title) == norm(item.title)),
                     None)
        if match:
            claim(key, match.id)
    for key, section, item in positions:  # 3. renamed: a close title in the same section
        if key in ids:
            continue
        candidates = [(difflib.SequenceMatcher(None, norm(o.title), norm(item.title)).ratio(), o)
                      for o in old if o.id not in taken and o.section == section.number]
        score, best = max(candidates, key=lambda c: c[0], default=(0.0, None))
        if best is not None and score >= RENAME_SIMILARITY:
            claim(key, best.id)
            result.renamed.append((best.id, best.title, item.title))
    moved_from: dict[tuple[int, int], str] = {}
    for key, section, item in positions:  # 4. moved: the same title in another section
        if key in ids:
            continue
        match = next((o for o in old if o.id not in taken and o.id not in moved_from.values()
                      and norm(o.title) == norm(item.title)), None)
        if match:
            moved_from[key] = match.id
    highest: dict[int, int] = {}
    for item_id in [*taken, *(o.id for o in old)]:
        section_no, n = map(int, item_id.split("."))
        highest[section_no] = max(highest.get(section_no, 0), n)
    for key, section, item in positions:  # 5. new ids after the highest ever used
        if key in ids:
            continue
        highest[section.number] = highest.get(section.number, 0) + 1
        new_id = f"{section.number}.{highest[section.number]}"
        claim(key, new_id)
        if key in moved_from:
            taken.add(moved_from[key])
            result.moved.append((moved_from[key], new_id, item.title))
        elif previous is not None:
            result.added.append((new_id, item.title))
    by_item: dict[str, list[CheckRef]] = {}
    for ref in refs:
        by_item.setdefault(ref.item, []).append(ref)
    leftovers = [o for o in old if o.id not in taken]
    for o in leftovers:
        checks = [r.nodeid for r in by_item.get(o.id, [])]
        if checks:
            result.kept.append((o.id, o.title, checks))
        else:
            result.removed.append((o.id, o.title))
    kept = {i for i, _, _ in result.kept}
    result.text = render(md, ids, by_item, old_by_id, kept, result)
    return result


def kind_of(refs: list[CheckRef]) -> str:
    automated = any(not r.manual for r in refs)
    manual = any(r.manual for r in refs)
    return "both" if automated and manual else "automated" if automated else "manual"


def phase_of(refs: list[CheckRef]) -> str | None:
    """The phase folder the item's checks are in (``checks/<phase>/...``), when one."""
    found = {part for r in refs for part in Path(r.path).parts if part in PHASES}
    return found.pop() if len(found) == 1 else None


def render(md: Markdown, ids: dict[tuple[int, int], str], refs: dict[str, list[CheckRef]],
           old: dict[str, Item], kept: set[str], result: Imported) -> str:
    """The catalog YAML, in the shipped file's layout."""
    q = json.dumps  # a JSON string is a YAML double-quoted scalar
    out = [HEADER.format(source=Path(md.source).name), f"title: {q(md.title, ensure_ascii=False)}",
           "", "sections:"]
    for section in md.sections:
        out.append(f"  - number: {section.number}")
        out.append(f"    title: {q(section.title, ensure_ascii=False)}")
        if section.maintenance_type:
            out.append(f"    maintenance_type: {section.maintenance_type}")
        else:
            out.append(f"    phase: {section.phase}")
        out.append("    items:")
        entries = [(ids[(section.number, n)], item.title, item.phase, item.line, item.skippable)
                   for n, item in enumerate(section.items)]
        entries += [(i, old[i].title, old[i].phase, 0, False)
                    for i in sorted(kept, key=lambda x: int(x.split(".")[1]))
                    if int(i.split(".")[0]) == section.number]
        for item_id, title, hint, line, skippable in entries:
            mine = refs.get(item_id, [])
            fields = [f"id: {q(item_id)}", f"title: {q(title, ensure_ascii=False)}",
                      f"kind: {kind_of(mine)}"]
            phase = hint or phase_of(mine)
            if section.phase is None:
                if phase is None:
                    before = old.get(item_id)
                    phase = before.phase if before is not None else "pre"
                    if before is None:
                        result.notes.append(
                            f"{item_id} ({md.source}:{line}): phase pre, as no check says "
                            "otherwise; write `<!-- phase: post -->` on its line to change it")
                fields.append(f"phase: {phase}")
            elif hint and hint != section.phase:
                fields.append(f"phase: {hint}")
            if section.phase is not None and phase not in (None, hint or section.phase):
                result.notes.append(f"{item_id}: its checks are in checks/{phase}, but the "
                                    f"Markdown puts it in {hint or section.phase}: move them")
            # kept from the catalog when the Markdown does not say it (issue 18's attribute)
            if skippable or getattr(old.get(item_id), "skippable", False):
                fields.append("skippable: true")
            out.append(f"      - {{{', '.join(fields)}}}")
    for item_id in sorted(kept):
        if int(item_id.split(".")[0]) not in {s.number for s in md.sections}:
            result.notes.append(f"{item_id}: its section is gone from the Markdown, so it cannot "
                                "be kept in the catalog; its checks now name no item")
    if md.signoff:
        out += ["", "signoff:"]
        out += [f"  - {{field: {f}, label: {q(label, ensure_ascii=False)}}}"
                for f, label in md.signoff]
    return "\n".join(out) + "\n"


def read(path: Path) -> Markdown:
    """Parse the Markdown file at ``path``; any problem is an :class:`InputError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(str(path), [f"cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise InputError(str(path), ["not UTF-8 text"]) from None
    return parse(text, str(path))
