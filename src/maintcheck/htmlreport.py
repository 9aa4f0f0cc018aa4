"""The HTML report's own content: verdict, checklist view, sign-off block and environment.

pytest-html draws its results and environment tables with JavaScript, but it writes the summary
prefix into the page as static HTML. So what an auditor must read goes there, and still reads
in a viewer that blocks scripts. The ``render_*`` functions take the evidence document and
return escaped HTML; only :class:`HtmlReport` knows pytest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import pytest

from maintcheck import runs
from maintcheck.catalog import PHASES, Catalog, Item
from maintcheck.errors import counted
from maintcheck.evidence import WEIGHT
from maintcheck.session import Run

NO_HOST = frozenset({"-", "n/a"})  # an item checked once, or not applicable to any host
MESSAGE_CHARS = 240
MARKS = {"passed": "✔", "failed": "✘", "error": "⚠", "pending": "…", "not applicable": "–",
         "skipped": "↷", "not run": "○"}
WHEN = {"pre": "before the window", "during": "during the window", "post": "after the window"}
STYLE = """<style>
.mc-verdict{padding:12px 16px;margin:8px 0 16px;color:#fff;border-radius:4px}
.mc-verdict .mc-big{font-size:32px;font-weight:bold;letter-spacing:2px}
.mc-verdict p{color:#fff;margin:4px 0}
.mc-PASSED{background:#1b5e20}.mc-FAILED{background:#b71c1c}
.mc-ERROR{background:#bf360c}.mc-INCOMPLETE{background:#7a5c00}
.mc-checklist,.mc-signoff{border-collapse:collapse;width:100%;max-width:1100px;color:#222;
  font-size:13px;margin-bottom:16px}
.mc-checklist td,.mc-checklist th,.mc-signoff td,.mc-signoff th{border:1px solid #ddd;
  padding:4px 8px;text-align:left;vertical-align:top}
.mc-checklist .mc-section th{background:#eceff1;font-size:14px}
.mc-checklist .mc-section.mc-other-phase th{background:#f7f7f7;color:#777;font-weight:normal}
.mc-checklist .mc-id{white-space:nowrap;width:3em}.mc-checklist .mc-state{width:40%}
.mc-checklist ul{margin:2px 0 0;padding-left:18px;color:#555}
.mc-checklist .mc-warn{color:#7a5c00}
.mc-note{color:#333;margin:2px 0 0}
.mc-passed .mc-state{color:#1b5e20}.mc-failed .mc-state{color:#b71c1c;font-weight:bold}
.mc-error .mc-state{color:#bf360c;font-weight:bold}.mc-pending .mc-state{color:#7a5c00}
.mc-not-applicable,.mc-other-phase{color:#777}.mc-not-run .mc-state{color:#7a5c00}
.mc-signoff th{width:16em;background:#fafafa}
</style>"""
NOSCRIPT = ("<noscript><p>The results table below needs JavaScript; the verdict, checklist, "
            "sign-off and environment above are complete without it.</p></noscript>")


def report_title(document: Mapping[str, Any]) -> str:
    """``CHG-1 · pre · FAILED``."""
    return f"{document['change']['id']} · {document['phase']} · {document['verdict']}"


def render_summary(document: Mapping[str, Any], catalog: Catalog,
                   pre: Mapping[str, Any] | None = None, pytest_version: str = "") -> str:
    """The static block at the top of the report: verdict, checklist view, sign-off, and the
    environment table (pytest-html draws its own copy with JavaScript only)."""
    return "\n".join([
        STYLE, render_verdict(document), "<h2>Checklist</h2>",
        render_checklist(document, catalog), "<h2>Sign-off</h2>",
        render_signoff(document, catalog, pre), render_impact(document),
        render_reached(document), render_environment(environment(document, pytest_version)),
        NOSCRIPT,
    ])


def render_environment(table: Mapping[str, str]) -> str:
    """The run's provenance as static HTML: inventory and probe sha256, suite commit, signer."""
    rows = "".join(f"<tr><th>{escape(name)}</th><td>{escape(value)}</td></tr>"
                   for name, value in table.items())
    return ('<h2>Environment</h2><table id="maintcheck-environment" class="mc-signoff">'
            f"{rows}</table>")


def render_reached(document: Mapping[str, Any]) -> str:
    """What each host was checked through: connection, address, port, user, become."""
    reached = document.get("inventory", {}).get("reached", {})
    if not reached:
        return ""
    rows = "".join(
        f"<tr><td>{escape(host)}</td><td>{escape(how['connection'])}</td>"
        f"<td>{escape(str(how.get('address', '')))}</td><td>{escape(str(how.get('port', '')))}"
        f"</td><td>{escape(str(how.get('user', '')))}</td>"
        f"<td>{escape(str(how.get('become', '')))}</td></tr>"
        for host, how in sorted(reached.items()))
    return ('<h2>Hosts checked</h2><table id="maintcheck-reached" class="mc-signoff">'
            "<tr><th>host</th><th>through</th><th>address</th><th>port</th><th>user</th>"
            f"<th>become</th></tr>{rows}</table>")


def render_impact(document: Mapping[str, Any]) -> str:
    """The pre-versus-post table: host, metric, before, after and delta. Items 8.3 and 13.6
    give every metric; the 7.1 comparisons give what changed (units, ports, packages, ...)."""
    rows = [(o["host"], item["id"], row) for item in document["items"]
            for o in item["outcomes"] for key in ("impact", "changed")
            for row in o.get("observed", {}).get(key, [])]
    if not rows:
        return ""
    seen: set[tuple[str, str]] = set()
    cells = []
    for host, item_id, row in rows:
        if (host, row["metric"]) in seen:
            continue
        seen.add((host, row["metric"]))
        cells.append("<tr>" + "".join(f"<td>{escape(str(v if v is not None else '—'))}</td>"
                                      for v in (host, row["metric"], row["before"],
                                                row["after"], row["delta"], item_id)) + "</tr>")
    return ('<h2>Before and after the window</h2>'
            '<table id="maintcheck-impact" class="mc-signoff"><tr><th>host</th><th>metric</th>'
            '<th>before</th><th>after</th><th>delta</th><th>item</th></tr>' + "".join(cells)
            + "</table>")


def render_verdict(document: Mapping[str, Any]) -> str:
    """The verdict, big, with the run's counts and any unreachable host."""
    verdict = str(document["verdict"])
    change = document["change"]
    counts = document["summary"]["items"]
    tally = ", ".join(f"{counts[s]} {s}" for s in WEIGHT if counts.get(s))
    unchecked = document["summary"].get("without_automated_check", [])
    lines = [
        (f"change {change['id']} · phase {document['phase']} · operator {change['operator']} · "
         f"{utc(document['started_at'])} to {utc(document['finished_at'])}"),
        f"{counted(document['checklist']['items'], 'item')}: {tally}",
        *(f"no automated check: {counted(len(unchecked), 'item')}, asked of the operator ({ids})"
          for ids in [", ".join(unchecked)] if unchecked),
        *(f"unreachable: {on_host(h, cause)}" for h, cause in document["unreachable"].items()),
        *(f"retried once: {retry_line(r)}" for r in document.get("connection_retries", [])),
        *(f"warning: {w['item']} {on_host(w['host'], w['warning'])}"
          for w in document.get("warnings", [])),
        *run_lines(document),
    ]
    return (f'<div id="maintcheck-verdict" class="mc-verdict mc-{escape(verdict)}">'
            f'<div class="mc-big">{escape(verdict)}</div>'
            + "".join(f"<p>{escape(line)}</p>" for line in lines) + "</div>")


def run_lines(document: Mapping[str, Any]) -> list[str]:
    """Which run this is, whether it was partial, and who signs it (or NOT SIGNED)."""
    run, seal = document.get("run"), document.get("seal")
    if not run or not seal:
        return []  # evidence written before runs had their own files
    selection = document.get("selection", {})
    latest = run["latest_complete"]
    lines = [f"run {run['label']}"
             + (f" (partial: {', '.join(selection['narrowed_by'])})"
                if selection.get("partial") else "")
             + (f"; latest complete {document['phase']} run: {latest}" if latest
                else f"; no complete {document['phase']} run yet")]
    if seal["signed"]:
        lines.append(f"signed by {seal['signer']} at {utc(seal['signed_at'])} (the signer's "
                     f"clock), SHA-256 fingerprint {seal['fingerprint']}")
    else:
        lines.append("NOT SIGNED: no operator key; `maintcheck keygen` makes one")
    return lines


def retry_line(row: Mapping[str, Any]) -> str:
    """``web-01: GET https://... (connection refused), retried: answered HTTP 200``."""
    return (f"{row['host']}: {row['via']} {row['call'][:200]} ({row['cause'] or 'no cause'}), "
            f"retried: {row['then']}")


def render_checklist(document: Mapping[str, Any], catalog: Catalog) -> str:
    """Every section of the checklist, in its order, with each item's state across hosts.

    Items another phase checks are one line per section, not one grey row each: the items this
    run answers for, and the sign-off after them, stay within sight."""
    entries = {e["id"]: e for e in document["items"]}
    rows = []
    for number, title, items in catalog.sections():
        here = [item for item in items if item.id in entries]
        elsewhere = [item for item in items if item.id not in entries]
        if not here:
            rows.append(f'<tr class="mc-section mc-other-phase" data-section="{number}" '
                        f'data-items="{escape(ids(elsewhere))}"><th colspan="3">{number}. '
                        f"{escape(title)}: {escape(other_phases(elsewhere))}</th></tr>")
            continue
        rows.append(f'<tr class="mc-section" data-section="{number}"><th colspan="3">{number}. '
                    f"{escape(title)}</th></tr>")
        rows += [item_row(item, entries[item.id], document) for item in here]
        if elsewhere:
            rows.append(f'<tr class="mc-other-phase" data-items="{escape(ids(elsewhere))}">'
                        f'<td class="mc-id"></td><td colspan="2">also in '
                        f"section {number}: {escape(other_phases(elsewhere))}</td></tr>")
    return f'<table id="maintcheck-checklist" class="mc-checklist">{"".join(rows)}</table>'


def item_row(item: Item, entry: Mapping[str, Any], document: Mapping[str, Any]) -> str:
    """One item of this run: its title, answer, findings and warnings, and its state."""
    state = str(entry["state"])
    details = "".join(f"<li>{escape(line)}</li>" for line in problems(entry))
    details += "".join(
        f'<li class="mc-warn">warning: {escape(on_host(w["host"], w["warning"]))}</li>'
        for w in document.get("warnings", []) if w["item"] == item.id)
    confirmation = entry.get("confirmation")
    return (f'<tr class="mc-{state.replace(" ", "-")}" data-item="{escape(item.id)}">'
            f'<td class="mc-id">{escape(item.id)}</td>'
            f"<td>{escape(item.title)}"
            + (f'<p class="mc-note">{escape(confirmed(confirmation))}</p>'
               if confirmation else "")
            + (f"<ul>{details}</ul>" if details else "")
            + f'</td><td class="mc-state">{MARKS.get(state, "")} {escape(describe(entry))}'
            "</td></tr>")


def ids(items: list[Item]) -> str:
    return " ".join(item.id for item in items)


def other_phases(items: list[Item]) -> str:
    """``6 items, checked after the window (post)``; per phase when a section spans several."""
    by_phase: dict[str, list[Item]] = {}
    for item in items:
        by_phase.setdefault(item.phase, []).append(item)
    return "; ".join(
        f"{counted(len(group), 'item')} ({', '.join(i.id for i in group)}), "
        f"checked {WHEN.get(phase, f'in the {phase} phase')} ({phase})"
        for phase, group in sorted(by_phase.items(), key=lambda p: PHASES.index(p[0])
                                   if p[0] in PHASES else len(PHASES)))


def describe(entry: Mapping[str, Any]) -> str:
    """``passed on all 3 hosts``, ``failed on web-02; passed on web-01``, ``pending: ...``."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for outcome in entry["outcomes"]:
        groups.setdefault(outcome["outcome"], []).append(outcome)
    if not groups:
        return "not run: no check ran for this item"
    parts = []
    for state in sorted(groups, key=lambda s: WEIGHT.index(s) if s in WEIGHT else len(WEIGHT)):
        hosts = sorted({o["host"] for o in groups[state]} - NO_HOST)
        reasons = list(dict.fromkeys(first_line(o["message"]) for o in groups[state]
                                     if o["message"]))
        if state in ("not applicable", "pending", "skipped") and reasons:
            parts.append(f"{state}: {'; '.join(reasons)}")
        elif state == "passed" and len(groups) == 1 and len(hosts) > 1:
            parts.append(f"passed on all {len(hosts)} hosts")
        elif hosts:
            parts.append(f"{state} on {', '.join(hosts)}")
        else:
            parts.append(state)
    return "; ".join(parts)


def problems(entry: Mapping[str, Any]) -> list[str]:
    """One line per failure or error: ``web-02: expected nginx running, found inactive``."""
    return [on_host(o["host"], line) for o in entry.get("outcomes", ())
            if o["outcome"] in ("failed", "error") and o["message"]
            for line in findings(o["message"])]


def findings(message: str) -> list[str]:
    """The findings of a check's message, one line each: the lines under its ``host: N
    finding(s)`` head, or its first line when it has no such head."""
    lines = [line.strip() for line in message.strip().splitlines()]
    if lines and re.search(r": \d+ finding\(s\)(:|$)", lines[0]):
        listed = []
        for line in lines[1:]:
            if not line or line.startswith(("assert ", "+", "-", "where ")):
                break
            listed.append(line)
        if listed:
            return listed
    return [first_line(message)]


def on_host(host: str, message: str) -> str:
    """``web-02: message``, unless the message names the host already."""
    return message if host in NO_HOST or message.startswith(f"{host}:") else f"{host}: {message}"


def confirmed(confirmation: Mapping[str, Any]) -> str:
    """``confirmed yes by alice at 2026-11-27 01:02:03 UTC: CAB-42``."""
    verb = {"yes": "confirmed yes", "no": "answered no", "skip": "skipped"}.get(
        confirmation["status"], confirmation["status"])
    note = confirmation.get("note") or "no note"
    return f"{verb} by {confirmation['by']} at {utc(confirmation['at'])}: {note}"


def render_signoff(document: Mapping[str, Any], catalog: Catalog,
                   pre: Mapping[str, Any] | None = None) -> str:
    """The checklist's sign-off block, filled in from the change and this run (or pre.json)."""
    values = signoff_values(document, pre)
    rows = "".join(f'<tr data-field="{escape(f.field)}"><th>{escape(f.label)}</th>'
                   f"<td>{escape(values.get(f.field, ''))}</td></tr>" for f in catalog.signoff)
    return f'<table id="maintcheck-signoff" class="mc-signoff">{rows}</table>'


def signoff_values(document: Mapping[str, Any],
                   pre: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The sign-off fields: contacts from the change, sign-offs from this run or ``pre``."""
    change = document["change"]
    phases = str(document["phase"]).split("+")
    values = {k: str(v) or "not given" for k, v in change.items() if isinstance(v, str)}
    values["window"] = window(change["window"]) if change["window"] else "not given"
    values["pre_signoff"] = (
        signed_off(document) if "pre" in phases
        else f"{signed_off(pre)} (from {pre.get('run', {}).get('label', 'pre')}.json)" if pre
        else "no pre-maintenance run on record")
    values["post_signoff"] = signed_off(document) if "post" in phases else "pending"
    values["date_completed"] = utc(document["finished_at"]) if "post" in phases else ""
    return values


def signed_off(document: Mapping[str, Any]) -> str:
    return (f"{document['verdict']}, run by {document['change']['operator']}, "
            f"{utc(document['finished_at'])}")


def environment(meta: Mapping[str, Any], pytest_version: str) -> dict[str, str]:
    """The environment table: the run's provenance and nothing else; the signer once the run
    knows it (its evidence's ``seal`` block)."""
    change, inventory, tool = meta["change"], meta["inventory"], meta["maintcheck"]
    table = {
        "Change": change["id"], "Window": window(change["window"]) or "not given",
        "Operator": change["operator"], "Inventory": inventory["path"],
        "Inventory sha256": inventory["sha256"], "maintcheck": tool["version"],
        "Probe sha256": tool["probe_sha256"], "Suite commit": tool["suite_commit"],
        "Python": tool["python"], "pytest": pytest_version,
    }
    seal = meta.get("seal")
    if seal:
        table["Signer"] = (f"{seal['signer']}, SHA-256 fingerprint {seal['fingerprint']}"
                           if seal["signed"] else "unsigned: no operator key")
    return table


def window(text: str) -> str:
    return " to ".join(utc(part) for part in text.split("/")) if text else ""


def utc(stamp: str) -> str:
    """``2026-11-27T01:02:03Z`` as ``2026-11-27 01:02:03 UTC``."""
    return stamp.replace("T", " ").removesuffix("Z") + " UTC" if stamp.endswith("Z") else stamp


def first_line(message: str) -> str:
    line = message.strip().splitlines()[0] if message.strip() else ""
    return line if len(line) <= MESSAGE_CHARS else line[:MESSAGE_CHARS - 1] + "…"


def sort_key(item_id: str) -> str:
    """``2.3`` as ``002.003``: pytest-html sorts columns as text, so 10.1 would precede 2.1."""
    return ".".join(part.zfill(3) for part in item_id.split("."))


class HtmlReport:
    """pytest-html hooks: title, static summary, item/section/host columns, our environment."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.report: Any = None  # pytest-html's report data, whose title we set at the end

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # before pytest-html's trylast sessionstart copies the table into the report
        self.replace_environment(session.config, self.run.meta(self.run.started))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        self.report = report
        report.title = self.run.redactor.text(f"{self.run.change.id} · {self.run.phase}")

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], session: pytest.Session) -> None:
        if not self.run.document:  # the Recorder's tryfirst sessionfinish renders it
            return
        # redact what goes in, not the HTML that comes out: escaping would hide a secret
        document = self.run.redactor.value(self.run.document)
        if self.report is not None:
            self.report.title = report_title(document)
        # xdist workers send their own metadata, CI variables included, as they finish
        self.replace_environment(session.config, document)
        pre = None if "pre" in self.run.options.phases else self.earlier("pre")
        prefix.insert(0, render_summary(document, self.run.catalog, pre, pytest.__version__))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells[1:1] = ['<th class="sortable" data-column-type="item">Item</th>',
                      '<th class="sortable" data-column-type="section">Section</th>',
                      '<th class="sortable" data-column-type="host">Host</th>']

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        props = dict(getattr(report, "user_properties", ()))
        item_id, host = str(props.get("item", "")), str(props.get("host", ""))
        number, section = "", ""
        if item_id in self.run.catalog:
            entry = self.run.catalog[item_id]
            number, section = str(entry.section), f"{entry.section}. {entry.section_title}"
        text = self.run.redactor.text
        # the comment leads the cell's text, so sorting the column sorts numerically
        cells[1:1] = [
            f'<td class="col-item"><!--{sort_key(item_id)}-->{escape(text(item_id))}</td>',
            f'<td class="col-section"><!--{sort_key(number)}-->{escape(section)}</td>',
            f'<td class="col-host">{escape(text(host))}</td>',
        ]

    def replace_environment(self, config: pytest.Config, meta: Mapping[str, Any]) -> None:
        """Ours only: pytest-metadata adds CI variables, which can carry credentials."""
        try:
            from pytest_metadata.plugin import metadata_key
        except ImportError:
            return
        table = config.stash.get(metadata_key, None)
        if table is None:
            return
        table.clear()  # in place: pytest-html holds this very dict
        table.update({k: escape(self.run.redactor.text(v))
                      for k, v in environment(meta, pytest.__version__).items()})

    def earlier(self, phase: str) -> dict[str, Any] | None:
        """An earlier phase's evidence of this change, for the sign-off block."""
        try:
            label = runs.latest_complete(self.run.report_dir, phase) or phase
            document = json.loads(self.run.report_dir.joinpath(f"{label}.json").read_text())
        except (OSError, ValueError):
            return None
        value = self.run.redactor.value(document)
        return value if isinstance(value, dict) and "verdict" in value else None


GENERATED = re.compile(r"<p>Report generated on (\d{2}-\w{3}-\d{4}) at (\d{2}:\d{2}:\d{2}) by ")


def stamp_in_utc(path: Path) -> None:
    """pytest-html's "Report generated on DATE at TIME" is the machine's local time with no
    zone: rewrite it in UTC, saying so, like every other time in the report."""
    page = path.read_text(encoding="utf-8")
    found = GENERATED.search(page)
    if found is None:
        return
    local = datetime.strptime(f"{found[1]} {found[2]}", "%d-%b-%Y %H:%M:%S").astimezone()
    when = local.astimezone(UTC)
    path.write_text(page[:found.start()] + f"<p>Report generated on {when:%Y-%m-%d} at "
                    f"{when:%H:%M:%S} UTC by " + page[found.end():], encoding="utf-8")
