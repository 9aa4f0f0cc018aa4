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


@dataclass
class Reader:
    """One pass over a Markdown checklist: what it has read so far, and every problem found."""

    source: str
    problems: list[str] = field(default_factory=list)
    title: str = ""
    group_phase: str | None = "pre"  # the phase of the `## ...` group being read
    group_types: bool = False  # that group holds maintenance-type sections
    sections: list[MdSection] = field(default_factory=list)
    current: dict[str, object] | None = None  # the `### N. Title` being read
    items: list[MdItem] = field(default_factory=list)
    signoff: list[tuple[str, str]] = field(default_factory=list)
    numbers: dict[int, int] = field(default_factory=dict)  # section number -> its line

    def read(self, number: int, raw: str) -> None:
        """Take one line of the Markdown: a heading, an item, a sign-off line, or prose."""
        where = f"{self.source}:{number}"
        line, notes = split_annotations(raw)
        phase_note = self.phase_note(where, notes)
        if m := H3.match(line):
            self.section(m[1], line, number, notes, phase_note)
        elif m := H2.match(line):
            self.group(m[1], phase_note)
        elif (m := H1.match(line)) and not self.title:
            self.title = m[1]
        elif m := ITEM.match(line):
            self.item(m[1], number, notes, phase_note)
        elif m := SIGNOFF.match(line):
            if set(m[2]) <= set("_ \\"):  # a blank to fill in: the sign-off block
                self.signoff.append((signoff_field(m[1].strip()), m[1].strip()))
        elif BULLET.match(line) and self.current is not None:
            self.problems.append(f"{where}: a list line that is not an item; write "
                                 f"`- [ ] {line[2:]}`")

    def phase_note(self, where: str, notes: dict[str, str]) -> str | None:
        """The line's ``<!-- phase: ... -->``, when it names a phase."""
        phase = notes.get("phase")
        if phase is not None and phase not in PHASES:
            self.problems.append(f"{where}: phase {phase} must be one of {', '.join(PHASES)}")
            return None
        return phase

    def close(self) -> None:
        """The section being read is complete."""
        if self.current is not None:
            section = MdSection(items=tuple(self.items), **self.current)  # type: ignore[arg-type]
            self.sections.append(section)
        self.current, self.items = None, []

    def group(self, heading: str, phase_note: str | None) -> None:
        """A ``## ...`` heading: its sections' phase, or maintenance types."""
        self.close()
        heading = heading.lower()
        self.group_types = TYPES_GROUP in heading
        self.group_phase = phase_note or next(
            (p for word, p in GROUP_PHASES if heading.startswith(word)), "pre")

    def section(self, heading: str, line: str, number: int, notes: dict[str, str],
                phase_note: str | None) -> None:
        """A ``### N. Title`` heading: a section, numbered once."""
        self.close()
        where = f"{self.source}:{number}"
        head = SECTION.match(heading)
        if not head:
            self.problems.append(f"{where}: a section heading is `### N. Title`, got `{line}`")
            return
        section = int(head[1])
        if section in self.numbers:
            self.problems.append(f"{where}: section {section} again (first at line "
                                 f"{self.numbers[section]})")
            return
        self.numbers[section] = number
        self.current = {"number": section, "title": head[2], "line": number,
                        "phase": phase_note or (None if self.group_types else self.group_phase),
                        "maintenance_type": self.section_type(where, head[2], notes)}

    def section_type(self, where: str, title: str, notes: dict[str, str]) -> str | None:
        """A maintenance-type section's type: said, or its title's first word."""
        if not self.group_types:
            return None
        mtype = notes.get("type") or title.split()[0].lower()
        if mtype not in MAINTENANCE_TYPES:
            self.problems.append(f"{where}: a maintenance-type section's title starts with its "
                                 f"type ({', '.join(MAINTENANCE_TYPES)}), or says it: "
                                 "`<!-- type: security -->`")
            return None
        return mtype

    def item(self, title: str, number: int, notes: dict[str, str],
             phase_note: str | None) -> None:
        """A ``- [ ] title`` line: an item of the section being read."""
        where = f"{self.source}:{number}"
        if self.current is None:
            self.problems.append(f"{where}: an item outside any `### N. Title` section")
        elif not title:
            self.problems.append(f"{where}: an item without a title")
        elif any(i.title.lower() == title.lower() for i in self.items):
            self.problems.append(f"{where}: '{title}' twice in section {self.current['number']}")
        else:
            pinned = self.pinned_id(where, notes.get("id"))
            self.items.append(MdItem(title, number, pinned, phase_note, "skippable" in notes))

    def pinned_id(self, where: str, pinned: str | None) -> str | None:
        """The item's ``<!-- id: N.M -->``, when it is one of this section's."""
        section = str(self.current["number"]) if self.current else ""
        if pinned is not None and not (ID.match(pinned) and pinned.split(".")[0] == section):
            self.problems.append(f"{where}: id {pinned} must be '{section}.N'")
            return None
        return pinned

    def finish(self) -> None:
        """The whole file read: what is wrong across its lines."""
        self.close()
        source, sections = self.source, self.sections
        if not sections and not self.problems:
            self.problems.append(f"{source}: no `### N. Title` section with `- [ ] item` lines")
        self.problems += [f"{source}:{s.line}: section {s.number} has no items"
                          for s in sections if not s.items]
        pins = [str(i.pinned_id) for s in sections for i in s.items if i.pinned_id]
        self.problems += [f"{source}: id {i} is pinned on two lines" for i in sorted(set(pins))
                          if pins.count(i) > 1]
        fields = [f for f, _ in self.signoff]
        self.problems += [f"{source}: two sign-off lines make the field {f}"
                          for f in sorted(set(fields)) if fields.count(f) > 1]


def parse(text: str, source: str) -> Markdown:
    """Read a Markdown checklist; raises :class:`InputError` with every problem and its line."""
    reader = Reader(source)
    for number, raw in enumerate(text.splitlines(), start=1):
        reader.read(number, raw)
    reader.finish()
    if reader.problems:
        raise InputError(source, reader.problems)
    return Markdown(source, reader.title, tuple(reader.sections), tuple(reader.signoff))


def norm(title: str) -> str:
    return " ".join(title.lower().split())


Position = tuple[tuple[int, int], MdSection, MdItem]  # (section, index), its section, the item


@dataclass
class Claims:
    """The ids given to the Markdown's items so far, and the old ids among them."""

    ids: dict[tuple[int, int], str] = field(default_factory=dict)  # (section, index) -> id
    taken: set[str] = field(default_factory=set)  # old ids given to a new item

    def claim(self, key: tuple[int, int], item_id: str) -> None:
        self.ids[key] = item_id
        self.taken.add(item_id)


def import_checklist(md: Markdown, refs: list[CheckRef], previous: Catalog | None) -> Imported:
    """The catalog for ``md``, ids kept from ``previous`` where titles match."""
    old = list(previous.items) if previous else []
    positions = [((s.number, n), s, item) for s in md.sections for n, item in enumerate(s.items)]
    claims, result = Claims(), Imported("")
    claim_pinned(positions, claims)
    claim_same_titles(positions, old, claims)
    claim_renamed(positions, old, claims, result)
    moved_from = moved(positions, old, claims)
    claim_new_ids(positions, old, claims, moved_from, result, reimport=previous is not None)
    by_item: dict[str, list[CheckRef]] = {}
    for ref in refs:
        by_item.setdefault(ref.item, []).append(ref)
    keep_or_remove([o for o in old if o.id not in claims.taken], by_item, result)
    kept = {i for i, _, _ in result.kept}
    result.text = render(md, claims.ids, by_item, {i.id: i for i in old}, kept, result)
    return result


def claim_pinned(positions: list[Position], claims: Claims) -> None:
    """1. An id pinned in the Markdown is the item's."""
    for key, _, item in positions:
        if item.pinned_id:
            claims.claim(key, item.pinned_id)


def claim_same_titles(positions: list[Position], old: list[Item], claims: Claims) -> None:
    """2. The same title in the same section keeps its id."""
    for key, section, item in positions:
        match = next((o for o in old if key not in claims.ids and o.id not in claims.taken
                      and o.section == section.number and norm(o.title) == norm(item.title)),
                     None)
        if match:
            claims.claim(key, match.id)


def claim_renamed(positions: list[Position], old: list[Item], claims: Claims,
                  result: Imported) -> None:
    """3. A close title in the same section is a renamed item: it keeps its id."""
    for key, section, item in positions:
        if key in claims.ids:
            continue
        candidates = [(difflib.SequenceMatcher(None, norm(o.title), norm(item.title)).ratio(), o)
                      for o in old if o.id not in claims.taken and o.section == section.number]
        score, best = max(candidates, key=lambda c: c[0], default=(0.0, None))
        if best is not None and score >= RENAME_SIMILARITY:
            claims.claim(key, best.id)
            result.renamed.append((best.id, best.title, item.title))


def moved(positions: list[Position], old: list[Item], claims: Claims) -> dict[tuple[int, int], str]:
    """4. The same title in another section: the item moved, from this old id."""
    moved_from: dict[tuple[int, int], str] = {}
    for key, _, item in positions:
        if key in claims.ids:
            continue
        match = next((o for o in old if o.id not in claims.taken and o.id not in moved_from.values()
                      and norm(o.title) == norm(item.title)), None)
        if match:
            moved_from[key] = match.id
    return moved_from


def claim_new_ids(positions: list[Position], old: list[Item], claims: Claims,
                  moved_from: dict[tuple[int, int], str], result: Imported, *,
                  reimport: bool) -> None:
    """5. Every other item gets a new id, after the highest its section ever used."""
    highest: dict[int, int] = {}
    for item_id in [*claims.taken, *(o.id for o in old)]:
        section_no, n = map(int, item_id.split("."))
        highest[section_no] = max(highest.get(section_no, 0), n)
    for key, section, item in positions:
        if key in claims.ids:
            continue
        highest[section.number] = highest.get(section.number, 0) + 1
        new_id = f"{section.number}.{highest[section.number]}"
        claims.claim(key, new_id)
        if key in moved_from:
            claims.taken.add(moved_from[key])
            result.moved.append((moved_from[key], new_id, item.title))
        elif reimport:
            result.added.append((new_id, item.title))


def keep_or_remove(leftovers: list[Item], by_item: dict[str, list[CheckRef]],
                   result: Imported) -> None:
    """An old item gone from the Markdown is removed, unless checks still name it."""
    for o in leftovers:
        checks = [r.nodeid for r in by_item.get(o.id, [])]
        if checks:
            result.kept.append((o.id, o.title, checks))
        else:
            result.removed.append((o.id, o.title))


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
