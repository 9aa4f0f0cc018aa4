"""Manual items: the operator's answers, from a prompt or an answers file, with who and when."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from maintcheck.catalog import Catalog, Item
from maintcheck.errors import InputError, counted

STATUSES = ("yes", "no", "skip")
ANSWER_KEYS = ("id", "status", "by", "note", "expires", "at")
# YAML 1.1 reads a bare yes/no as a boolean
BOOL_STATUS = {True: "yes", False: "no"}
SHORT = {"y": "yes", "yes": "yes", "n": "no", "no": "no", "s": "skip", "skip": "skip"}
# clocks of the machine that wrote an answer and of this one may differ a little
CLOCK_SKEW = timedelta(minutes=5)
# a confirmation older than this is not about this change's window
OLDEST_ANSWER = timedelta(days=366)


@dataclass(frozen=True)
class Confirmation:
    """One operator answer: ``Confirmation("1.1", "yes", "alice", "2026-...Z", "CAB-12")``."""

    item: str
    status: str
    by: str
    at: str
    note: str
    source: str  # "prompt" or the answers file
    expires: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any) -> datetime | None:
    """An ISO 8601 time that states its zone; None when it does not parse or has no zone."""
    if isinstance(text, datetime):
        moment = text
    else:
        try:
            moment = datetime.fromisoformat(str(text))
        except ValueError:
            return None
    return moment if moment.tzinfo is not None else None


def load_answers(path: str | Path, catalog: Catalog, *, now: datetime) -> dict[str, Confirmation]:
    """Answers from a YAML file; every malformed or expired answer is listed in one error."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
        root = yaml.compose(text)
    except OSError as exc:
        raise InputError(str(source), [f"cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise InputError(str(source), ["not UTF-8 text"]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}: " if mark else ""
        raise InputError(str(source), [f"{line}YAML syntax error: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise InputError(str(source), [f"YAML error: {exc}"]) from None
    if isinstance(root, yaml.MappingNode):
        entries = next((v for k, v in root.value if getattr(k, "value", None) == "answers"), None)
    else:
        entries = root
    if not isinstance(entries, yaml.SequenceNode):
        raise InputError(str(source), ["expected a list of answers (or `answers:` holding one)"])
    problems: list[str] = []
    answers: dict[str, Confirmation] = {}
    for node in entries.value:
        line = node.start_mark.line + 1
        answer = read_answer(node, catalog, now, f"{source}", problems, line)
        if answer is None:
            continue
        if answer.item in answers:
            problems.append(f"line {line}: item {answer.item} is answered twice")
        answers[answer.item] = answer
    if problems:
        raise InputError(str(source), problems)
    return answers


def read_answer(node: yaml.Node, catalog: Catalog, now: datetime, source: str,
                problems: list[str], line: int) -> Confirmation | None:
    where = f"line {line}"
    if not isinstance(node, yaml.MappingNode):
        problems.append(f"{where}: an answer must be a mapping with id, status, by")
        return None
    try:
        data = yaml.safe_load(yaml.serialize(node))
    except yaml.YAMLError as exc:
        problems.append(f"{where}: {exc}")
        return None
    before = len(problems)
    unknown = [k for k in data if k not in ANSWER_KEYS]
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; "
                        f"allowed: {', '.join(ANSWER_KEYS)}")
    item_id = str(data.get("id", ""))
    if not item_id:
        problems.append(f"{where}: missing id")
    elif item_id not in catalog:
        problems.append(f"{where}: {item_id!r} is not a checklist item")
    elif not catalog[item_id].manual:
        problems.append(f"{where}: item {item_id} is automated; it takes no answer")
    raw_status = data.get("status")
    status = BOOL_STATUS.get(raw_status) if isinstance(raw_status, bool) else str(raw_status or "")
    if status not in STATUSES:
        problems.append(f"{where}: status must be yes, no or skip, got {raw_status!r}")
    by = str(data.get("by") or "").strip()
    if not by:
        problems.append(f"{where}: missing `by` (who confirmed it)")
    expires = data.get("expires")
    expires_at = parse_time(expires) if expires is not None else None
    if expires is not None and expires_at is None:
        problems.append(f"{where}: expires {expires!r} is not an ISO 8601 time with a zone "
                        "(write e.g. 2026-11-30T06:00:00Z)")
    elif expires_at is not None and expires_at <= now:
        problems.append(f"{where}: the answer for {item_id} expired at {utc_stamp(expires_at)}")
    at = data.get("at")
    at_time = parse_time(at) if at is not None else None
    if at is not None and at_time is None:
        problems.append(f"{where}: at {at!r} is not an ISO 8601 time with a zone")
    elif at_time is not None and at_time > now + CLOCK_SKEW:
        problems.append(f"{where}: the answer for {item_id} is dated {utc_stamp(at_time)}, "
                        f"after now ({utc_stamp(now)}); a confirmation cannot come from the "
                        "future")
    elif at_time is not None and at_time < now - OLDEST_ANSWER:
        problems.append(f"{where}: the answer for {item_id} is dated {utc_stamp(at_time)}, "
                        f"more than {OLDEST_ANSWER.days} days ago; it is not about this change")
    if len(problems) > before:
        return None
    return Confirmation(item_id, str(status), by, utc_stamp(at_time or now),
                        str(data.get("note") or ""), source,
                        utc_stamp(expires_at) if expires_at else "")


def prompt(items: Iterable[Item], *, operator: str, ask: Callable[[str], str],
           say: Callable[[str], None], clock: Callable[[], datetime],
           record: Callable[[Confirmation], None] = lambda answer: None,
           questions: Mapping[str, str] | None = None) -> dict[str, Confirmation]:
    """Ask the operator about each item: yes, no or skip, and an optional note; ``b`` goes back
    one item (its new answer replaces the old), ``q`` leaves the rest pending. At the note,
    ``b`` asks the same item again and ``q`` keeps the answer, without a note, and leaves the
    rest pending.

    Each question shows a counter, the section, the title and the question (``questions``: the
    check's docstring). ``record`` gets each answer the moment it is typed, so none is lost to a
    Ctrl-C at the note, and again with its note: the later record of an item replaces it.
    """
    answers: dict[str, Confirmation] = {}
    items = list(items)
    questions = questions or {}
    if items:
        say(f"\n{counted(len(items), 'manual item')} to confirm, {operator}: y yes, n no, "
            "s skip; b back one item, q leave the rest pending. A note may follow any answer; "
            "at the note, b asks that item again and q keeps the answer and leaves the rest "
            "pending.")
    i = 0
    for _ in range(10 * len(items) + 10):  # bounded, however often the operator goes back
        if i >= len(items):
            break
        item = items[i]
        say(f"\n[{i + 1} of {len(items)}] {item.section}. {item.section_title}")
        if questions.get(item.id):
            say(f"  {questions[item.id]}")
        status = ""
        for _ in range(5):  # a bounded number of retries for a mistyped answer
            reply = ask(f"[{item.id}] {item.title} -- confirmed? "
                        "[y]es/[n]o/[s]kip/[b]ack/[q]uit: ").strip().lower()
            status = SHORT.get(reply, reply if reply in ("b", "back", "q", "quit") else "")
            if status:
                break
            say("  please answer y, n, s, b or q")
        if status in ("q", "quit"):
            break
        if status in ("b", "back"):
            i = max(0, i - 1)
            continue
        if not status:
            say(f"  no valid answer for {item.id}: it stays pending")
            i += 1
            continue
        answers[item.id] = Confirmation(item.id, status, operator, utc_stamp(clock()), "",
                                        "prompt")
        record(answers[item.id])  # on disk before the note is asked
        note = ask("  note (optional): ").strip()
        if note.lower() in ("b", "back"):  # a slip of the answer: ask this item again
            continue
        if note.lower() in ("q", "quit"):
            i += 1
            break
        if note:
            answers[item.id] = replace(answers[item.id], note=note)
            record(answers[item.id])
        i += 1
    left = [item for item in items[i:] if item.id not in answers]
    if i < len(items) and left:
        say(f"  left pending: {counted(len(left), 'item')} "
            f"({', '.join(item.id for item in left)})")
    return answers
