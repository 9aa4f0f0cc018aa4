"""The terminal's ``maintcheck`` section, drawn from the run's evidence document."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from maintcheck.errors import counted, printable
from maintcheck.htmlreport import findings as finding_lines
from maintcheck.htmlreport import on_host, retry_line
from maintcheck.outcomes import LETTERS, NOT_CHECKED

MOST_FINDINGS = 30  # lines of findings on the terminal; the evidence has every one
Line = tuple[str, dict[str, bool]]  # text and the terminal's markup (red, yellow, bold)


def lines(document: Mapping[str, Any], evidence: Path | None, reportchars: str) -> list[Line]:
    """Unreachable hosts, retries, warnings, what was not checked (with ``-ra``), the letters'
    legend, what keeps the checklist incomplete, the verdict and where the evidence went."""
    out: list[Line] = []
    # what a host sent (an ssh banner, an HTTP error) cannot draw lines of its own
    out += [(printable(f"unreachable: {on_host(host, cause)}"), {"red": True})
            for host, cause in document["unreachable"].items()]
    out += [(printable(f"retried once: {retry_line(row)}"), {"yellow": True})
            for row in document.get("connection_retries", [])
            if row.get("host") not in document["unreachable"]]  # the line above says it all
    out += [(printable(f"warning: {row['item']} {row['host']}: {row['warning']}"),
             {"yellow": True}) for row in document.get("warnings", [])]
    out += findings(document)
    if set(reportchars) & {"a", "A", "s"}:  # -ra: what pytest's own summary cannot name
        out += [(printable(f"{o['outcome']}: {item['id']} {o['host']}: "
                           f"{o['message'] or item['title']}"), {})
                for item in document["items"] for o in item["outcomes"]
                if o["outcome"] in NOT_CHECKED]
    out += incomplete(document)
    out.append((f"verdict: {document['verdict']}", {"bold": True}))
    run = document["run"]
    out.append((f"evidence: {evidence} (run {run['label']}"
                + (f"; latest complete {document['phase']} run: {run['latest_complete']})"
                   if run["latest_complete"] else ")"), {}))
    return out


def findings(document: Mapping[str, Any], most: int = MOST_FINDINGS) -> list[Line]:
    """Each finding of a failed or errored check, one line: ``FAILED 2.2 web-07: ports [9] not
    listening``. The checks of an unreachable host are one line: its cause is above."""
    unreachable = document["unreachable"]
    found: list[Line] = []
    for item in document["items"]:
        for o in item["outcomes"]:
            if o["outcome"] not in ("failed", "error") or o["host"] in unreachable:
                continue
            style = {"red": True} if o["outcome"] == "failed" else {"yellow": True}
            found += [(printable(f"{o['outcome'].upper()} {item['id']} {on_host(o['host'], f)}"),
                       style) for f in finding_lines(o["message"] or item["title"])]
    if len(found) > most:
        more = f"... and {len(found) - most} more: every one is in the evidence and the report"
        found[most:] = [(more, {})]
    if unreachable:
        found.append((printable(f"ERROR every check of {', '.join(sorted(unreachable))}: "
                                "unreachable (above)"), {"yellow": True}))
    return found


def incomplete(document: Mapping[str, Any]) -> list[Line]:
    """The letters' legend and every reason the run does not answer for the whole checklist."""
    out: list[Line] = []
    seen = {o["outcome"] for i in document["items"] for o in i["outcomes"]} & set(LETTERS)
    if seen:
        out.append(("letters: " + ", ".join(f"{LETTERS[o][0]} {o}" for o in sorted(seen)), {}))
    summary = document["summary"]
    unchecked = summary.get("without_automated_check", [])
    if unchecked:
        text = (f"no automated check: {len(unchecked)} of "
                f"{counted(document['checklist']['items'], 'item')}, asked of the operator "
                f"({', '.join(unchecked)})")
        out.append((text, {}))
    pending = summary["pending_items"]
    if pending:
        text = (f"checklist incomplete: {counted(len(pending), 'item')} pending "
                f"({', '.join(pending)})")
        out.append((text, {"yellow": True}))
    not_done = summary["skipped_not_skippable"]
    if not_done:
        text = (f"checklist incomplete: {counted(len(not_done), 'item')} skipped that the "
                f"checklist does not let skip ({', '.join(not_done)})")
        out.append((text, {"yellow": True}))
    if document["selection"]["partial"]:
        out.append(("partial run, never PASSED: narrowed by "
                    + ", ".join(document["selection"]["narrowed_by"]), {"yellow": True}))
    return out
