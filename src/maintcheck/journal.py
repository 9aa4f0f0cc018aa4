"""A run's life in its evidence folder: claimed, answered, finished, sealed (no pytest here).

>>> run.slot = start(run, narrowed_by=[])           # pre.journal.jsonl, or pre.2.journal.jsonl
>>> record(run, answer)                            # each answer on disk as it is given
>>> finish(run, 0); seal(run, signer)              # the run's manifest, signed
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from maintcheck import runs
from maintcheck.catalog import Item
from maintcheck.confirmations import Confirmation, utc_stamp
from maintcheck.errors import InputError

if TYPE_CHECKING:
    from maintcheck.session import Run
    from maintcheck.signing import Signer

__all__ = ["finish", "identity", "offer_resume", "record", "seal", "start"]

CONFIRMATION_FIELDS = tuple(f.name for f in fields(Confirmation))


def start(run: Run, narrowed_by: list[str]) -> runs.Slot:
    """Claim this run's place in the folder: its number, and its journal."""
    try:
        return runs.claim(run.report_dir, run.phase, {
            "at": utc_stamp(run.started), "operator": run.change.operator,
            "narrowed_by": list(narrowed_by)})
    except OSError as error:
        raise InputError(str(run.report_dir), [
            f"cannot start this run's evidence: {error.strerror or error}"]) from None


def record(run: Run, answer: Confirmation) -> None:
    """Append one answer to the run's journal, synced to the disk before the next question."""
    if run.slot is not None:
        run.slot.journal.append({"event": "answer", **answer.as_dict()})


def earlier_answers(run: Run) -> tuple[str, list[Confirmation]]:
    """The answers journaled by the latest earlier run of this phase that has any."""
    if run.slot is None:
        return "", []
    for label in reversed(runs.labels(run.report_dir, run.phase)):
        if label == run.slot.label:
            continue
        found = {}
        for entry in runs.read_journal(run.report_dir / f"{label}.{runs.JOURNAL}"):
            values = {k: str(entry.get(k) or "") for k in CONFIRMATION_FIELDS}
            if entry.get("event") == "answer" and values["item"] and values["status"]:
                found[values["item"]] = Confirmation(**values)
        if found:
            return label, list(found.values())
    return "", []


def offer_resume(run: Run, wanted: Iterable[Item], *, ask: Callable[[str], str],
                 say: Callable[[str], None]) -> list[Confirmation]:
    """Offer the answers an earlier run of this phase journaled (it may have been cut short by
    Ctrl-C or a crash); return those the operator takes over."""
    label, answers = earlier_answers(run)
    ids = {item.id for item in wanted}
    offered = [a for a in answers if a.item in ids and a.item not in run.answers]
    if not offered:
        return []
    say(f"\nrun {label} of this change recorded {len(offered)} answer(s):")
    for a in offered:
        say(f"  [{a.item}] {a.status} by {a.by} at {a.at}" + (f": {a.note}" if a.note else ""))
    if ask("resume them? [y]es/[n]o: ").strip().lower() not in ("y", "yes"):
        return []
    return [Confirmation(a.item, a.status, a.by, a.at, a.note,
                         f"{a.source}, resumed from run {label}", a.expires) for a in offered]


def identity(run: Run, signer: Signer | None, finished: datetime,
             partial: bool) -> dict[str, Any]:
    """The evidence's ``run`` and ``seal`` blocks: which run this is, the latest complete run of
    its phase, and who will sign it when (the report shows it before the seal is made)."""
    slot = run.slot or runs.Slot(run.report_dir, run.phase, 1)
    latest = slot.label if not partial else runs.latest_complete(run.report_dir, run.phase)
    block: dict[str, Any] = {"run": {"label": slot.label, "number": slot.number,
                                     "latest_complete": latest or "",
                                     "journal": slot.files(runs.JOURNAL)}}
    if signer is None:
        block["seal"] = {"signed": False, "manifest": slot.files("manifest.json")}
    else:
        from maintcheck.signing import fingerprint

        block["seal"] = {"signed": True, "signer": signer.subject,
                         "fingerprint": fingerprint(signer.certificate),
                         "signed_at": utc_stamp(finished),
                         "manifest": slot.files("manifest.json")}
    return block


def finish(run: Run, status: int) -> None:
    if run.slot is not None:
        run.slot.journal.append({"event": "finished", "at": utc_stamp(datetime.now(UTC)),
                                 "verdict": run.document.get("verdict", ""),
                                 "exit_status": int(status)})


def seal(run: Run, signer: Signer | None,
         tsa: str | None = None) -> list[tuple[str, dict[str, bool]]]:
    """Write the run's manifest, signed with ``signer`` when given (and timestamped by ``tsa``,
    an RFC 3161 authority's URL); the terminal's lines."""
    from maintcheck.signing import DEFAULT_KEY, SigningError, seal_run

    if run.slot is None:
        return []
    stamp = run.document.get("seal", {}).get("signed_at")
    at = datetime.fromisoformat(stamp) if stamp else datetime.now(UTC)
    try:
        sealed = seal_run(run.report_dir, run.slot.label, signer, now=at, tsa=tsa)
    except SigningError as error:
        return [(f"evidence NOT sealed: {error}", {"red": True})]
    run.signature = sealed.signature
    lines: list[tuple[str, dict[str, bool]]] = []
    if sealed.foreign:
        lines.append((f"not written by any run, so not signed: {', '.join(sealed.foreign)}",
                      {"red": True}))
    if signer is not None:
        seal_block = run.document["seal"]
        lines.append((f"signed: {sealed.signature} by {seal_block['signer']} at {stamp}",
                      {"green": True}))
        lines.append((f"signer's SHA-256 fingerprint: {seal_block['fingerprint']}", {}))
        if sealed.token is not None:
            lines.append((f"trusted time: {sealed.token.name} from {tsa}", {"green": True}))
        elif sealed.timestamp_problem:
            lines.append((f"NO trusted time: {sealed.timestamp_problem}", {"red": True}))
    else:
        lines.append(((f"evidence NOT signed (manifest {sealed.manifest.name} only): no key at "
                      f"{DEFAULT_KEY}; make one with `maintcheck keygen --name 'Your Name'`, or "
                      "pass --sign-key and --sign-cert"), {"yellow": True}))
    return lines
