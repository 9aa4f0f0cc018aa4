"""One maintcheck run: everything the plugin wires together, built from options, not pytest."""

from __future__ import annotations

import difflib
import functools
import getpass
import os
import platform
import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from maintcheck import __version__, baseline, catalog, evidence, inventory, runs
from maintcheck.catalog import MAINTENANCE_TYPES, PHASES, Catalog
from maintcheck.change import CHANGE_ID, CONTACTS, Change, Window
from maintcheck.confirmations import Confirmation, load_answers, utc_stamp
from maintcheck.errors import InputError, printable
from maintcheck.evidence import Evidence
from maintcheck.facts import PROBE_SHA256, Facts
from maintcheck.inventory import Expectations, Host
from maintcheck.redact import Redactor
from maintcheck.schema import parse_duration
from maintcheck.secret import Credential, HttpOptions, Scope
from maintcheck.targets import Targets
from maintcheck.team import load as load_team

MAX_ANSWERS_BYTES = 1024 * 1024  # README, "Limits": refused before it is read


@dataclass(frozen=True)
class Options:
    """The run's options, as given on the command line or in the ini."""

    inventory: str
    checklist: str
    reports: str
    phases: frozenset[str]
    limit: str | None = None
    change: str | None = None
    window: str | None = None
    operator: str | None = None
    contacts: dict[str, str | None] = field(default_factory=dict)
    maintenance_types: str | None = None
    answers: str | None = None
    concurrency: int = 32
    wait: str | None = None  # a duration, e.g. "90s"
    declare: tuple[str, ...] = ()
    no_baseline: bool = False


@dataclass
class Run:
    """A loaded run: catalog, inventory, targets, change, confirmations, evidence."""

    options: Options
    catalog: Catalog
    targets: Targets
    change: Change
    redactor: Redactor
    evidence: Evidence
    answers: dict[str, Confirmation]
    started: datetime
    wait: float = 0.0  # seconds failing checks may take to converge
    declared: baseline.Declared = field(
        default_factory=lambda: baseline.Declared({}, frozenset()))
    document: dict[str, Any] = field(default_factory=dict)
    signature: Path | None = None
    http_retries: list[dict[str, Any]] = field(default_factory=list)
    # this run's place in the evidence folder, claimed on the controller once checks will run
    slot: runs.Slot | None = None

    @property
    def phase(self) -> str:
        return "+".join(p for p in PHASES if p in self.options.phases)

    @property
    def report_dir(self) -> Path:
        return Path(self.options.reports) / self.change.id

    def artefact(self, suffix: str) -> Path:
        """This run's own file: ``pre.json`` for the first run of pre, ``pre.2.json`` next."""
        slot = self.slot or runs.Slot(self.report_dir, self.phase, 1)
        return slot.path(suffix.removeprefix("."))

    def http_options(self, host: Host) -> HttpOptions:
        """Timeout, CA bundle and credentials for a host's HTTP calls (never printed): each
        credential granted to the URLs it is declared for (:func:`credential_scope`)."""
        e = host.expect

        def on_retry(call: str, cause: str, then: str) -> None:
            self.http_retries.append({"at": utc_stamp(datetime.now(UTC)), "host": host.name,
                                      "via": "http", "call": call, "cause": cause, "then": then})

        return HttpOptions(timeout=float(e.http_timeout), ca_bundle=e.ca_bundle or None,
                           credentials=credential_scope(e), redactor=self.redactor,
                           on_retry=on_retry)

    def save_baseline(self) -> Path | None:
        """After a pre run: what every reachable host looks like, for post to compare with.

        A host that stopped answering during the run is left out, even if its facts came in
        before: half a snapshot would be compared with as if whole, and looking at its
        endpoints would cost every HTTP timeout again."""
        if "pre" not in self.options.phases:
            return None
        facts = self.targets.facts
        facts.settle()  # a run whose checks needed no facts may still be gathering them
        wanted = [(host, result) for host in self.targets.hosts
                  if isinstance(result := facts.results.get(host.name), Facts)
                  and host.name not in self.targets.unreachable]

        def snapshot(pair: tuple[Host, Facts]) -> tuple[str, dict[str, Any]]:
            host, result = pair
            return host.name, baseline.host_snapshot(
                host, result, self.http_options(host), self.targets.runners[host.name])

        # hosts in parallel, as they were probed: each looks at its endpoints a few times
        with ThreadPoolExecutor(max_workers=max(1, min(self.targets.concurrency,
                                                       len(wanted)))) as pool:
            hosts = dict(pool.map(snapshot, wanted))
        document = {"change": self.change.id, "inventory_sha256": self.targets.inventory.sha256,
                    "taken_at": utc_stamp(datetime.now(UTC)), "hosts": hosts}
        return evidence.write(self.artefact(".baseline.json"), self.redactor.value(document))

    def worker_output(self) -> dict[str, Any]:
        """What a pytest-xdist worker learnt that the controller's evidence needs."""
        self.targets.facts.settle()  # its early probing, if no check waited for it
        return {
            "audit": {name: r.inner.audit.entries for name, r in self.targets.runners.items()
                      if r.inner.audit.entries},
            "unreachable": dict(self.targets.unreachable),
            "http_retries": list(self.http_retries),
            "facts": {name: dict(result.raw) for name, result in self.targets.facts.results.items()
                      if isinstance(result, Facts)},
        }

    def merge_worker_output(self, output: dict[str, Any]) -> None:
        """Fold one worker's :meth:`worker_output` into this run, the controller's."""
        for name, entries in output.get("audit", {}).items():
            log = self.targets.runners[name].inner.audit
            log.entries = sorted([*log.entries, *entries], key=lambda e: str(e.get("at", "")))
        for name, cause in output.get("unreachable", {}).items():
            self.targets.unreachable.setdefault(name, cause)
        self.http_retries.extend(output.get("http_retries", []))
        for name, raw in output.get("facts", {}).items():
            self.targets.facts.results.setdefault(name, Facts(name, raw))

    def wait_for(self, item_id: str, host: Host | None) -> float:
        """Seconds a failing automated check of ``item_id`` on ``host`` may take to converge:
        the host's ``maintcheck_wait`` for the item, else ``--wait``; none before the window."""
        if self.options.phases == {"pre"}:
            return 0.0
        waits = {str(k): v for k, v in host.expect.wait.items()} if host is not None else {}
        return parse_duration(str(waits[item_id])) if item_id in waits else self.wait

    def type_selected(self, maintenance_type: str | None) -> bool:
        return maintenance_type is None or maintenance_type in self.change.maintenance_types

    def meta(self, finished: datetime) -> dict[str, Any]:
        """Everything but the outcomes, for the evidence."""
        inv = self.targets.inventory
        return {
            "change": self.change.as_dict(),
            "inventory": {"path": str(inv.path), "sha256": inv.sha256,
                          "limit": self.options.limit or "",
                          "hosts": [h.name for h in self.targets.hosts],
                          # what each host was checked through, as the inventory resolved it
                          "reached": {h.name: reached(h) for h in self.targets.hosts}},
            "maintcheck": {"version": __version__, "probe_sha256": PROBE_SHA256,
                           "suite_commit": suite_commit(Path(self.options.checklist).parent),
                           "python": platform.python_version()},
            "started_at": utc_stamp(self.started),
            "finished_at": utc_stamp(finished),
            "unreachable": dict(sorted(self.targets.unreachable.items())),
            "audit": {name: r.inner.audit.entries for name, r in sorted(
                self.targets.runners.items())},
            "connection_retries": self.connection_retries(),
        }

    def connection_retries(self) -> list[dict[str, Any]]:
        """Every connection error tried once more, ssh and HTTP, in time order."""
        found = list(self.http_retries)
        for name, runner in self.targets.runners.items():
            entries = runner.inner.audit.entries
            for i, entry in enumerate(entries):
                if int(str(entry.get("attempt", 1))) < 2:
                    continue
                first = next((e for e in reversed(entries[:i]) if e["command"] == entry["command"]
                              and e.get("outcome") == "connection failed"), {})
                then = ("answered" if entry.get("outcome") == "ran"
                        else f"{entry.get('outcome')}: {entry.get('cause', '')}".rstrip(": "))
                found.append({"at": entry["at"], "host": name, "via": "ssh",
                              "call": entry["command"], "cause": first.get("cause", ""),
                              "then": then})
        return sorted(found, key=lambda r: (str(r["at"]), str(r["host"])))


def build(options: Options, *, now: datetime | None = None) -> Run:
    """Load everything a run needs; every input problem is raised as one InputError."""
    now = now or datetime.now(UTC)
    problems: list[str] = []
    cat = catalog.load(options.checklist)
    team = load_team(Path(options.checklist).parent)
    inv = inventory.load(options.inventory, team.variables)
    redactor = redactor_for(inv, [v.full_name for v in team.variables if v.secret])
    limit = limit_of(options, inv, problems)
    change_id = change_id_of(options, inv, now, problems)
    window = window_of(options, inv, problems)
    types = maintenance_types_of(options, problems)
    wait = wait_of(options, problems)
    declared = declared_of(options, problems)
    problems += wait_problems(inv, cat)
    if options.concurrency < 1:
        problems.append(f"--concurrency must be at least 1, got {options.concurrency}")
    contacts = {c: options.contacts.get(c) or inv.shared(c) for c in CONTACTS}
    change = Change(change_id, window, options.operator or getpass.getuser(),
                    maintenance_types=types, **contacts)
    answers = answers_of(options, cat, now, problems)
    if problems:
        raise InputError("maintcheck options", problems)
    targets = Targets(inv, limit, redactor, concurrency=options.concurrency, team=team)
    return Run(options, cat, targets, change, redactor, Evidence(cat, redactor), answers, now,
               wait=wait, declared=declared)


def redactor_for(inv: inventory.Inventory, team_secrets: list[str]) -> Redactor:
    """A redactor that knows every host's secrets and the environment's."""
    redactor = Redactor()
    for host in inv.hosts:
        redactor.learn(host.variables, [*host.expect.secret_vars, *team_secrets])
    redactor.learn(dict(os.environ))
    return redactor


def limit_of(options: Options, inv: inventory.Inventory, problems: list[str]) -> str | None:
    """The ``--limit`` pattern (a ``@FILE``'s names read), which must match a host."""
    limit = options.limit or None
    if limit and limit.startswith("@"):
        limit = limit_file(limit[1:])
    if limit and not inv.select(limit):
        problems.append(f"--limit {options.limit!r} matches no host of {inv.path}")
    return limit


def change_id_of(options: Options, inv: inventory.Inventory, now: datetime,
                 problems: list[str]) -> str:
    """The change's id: given, from the inventory, or today's ad-hoc one; it names a folder."""
    change_id = options.change or inv.shared("change") or f"adhoc-{now:%Y%m%d}"
    if not CHANGE_ID.match(change_id):
        source = "--change" if options.change else (
            f"{inv.hosts[0].expect.origin('change')}: maintcheck_change")
        problems.append(f"{source} {printable(repr(change_id))} must be letters, digits, '.', "
                        "'_' or '-', at most 64 (it names the evidence folder)")
    return change_id


def window_of(options: Options, inv: inventory.Inventory, problems: list[str]) -> Window | None:
    """The maintenance window, given or from the inventory, when there is one."""
    window_text = options.window or inv.shared("window")
    if not window_text:
        return None
    try:
        return Window.parse(window_text)
    except ValueError as exc:
        problems.append(f"--window: {exc}")
        return None


def maintenance_types_of(options: Options, problems: list[str]) -> tuple[str, ...]:
    """The ``--maintenance-type`` list; an unknown one is a problem with a suggestion."""
    types = tuple(t.strip() for t in (options.maintenance_types or "").split(",") if t.strip())
    for bad in [t for t in types if t not in MAINTENANCE_TYPES]:
        close = difflib.get_close_matches(bad, MAINTENANCE_TYPES, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        problems.append(f"--maintenance-type {bad}: {hint}choose from "
                        f"{','.join(MAINTENANCE_TYPES)}")
    return types


def wait_of(options: Options, problems: list[str]) -> float:
    """``--wait`` in seconds (0: none); it applies to during and post only."""
    wait = 0.0
    if options.wait:
        try:
            wait = parse_duration(str(options.wait))
        except ValueError as exc:
            problems.append(f"--wait: {exc}")
        if wait and options.phases == {"pre"}:
            problems.append("--wait applies to checks/during and checks/post, not pre")
    return wait


def declared_of(options: Options, problems: list[str]) -> baseline.Declared:
    """The ``--declare`` changes the post phase expects."""
    try:
        return baseline.Declared.parse(options.declare)
    except ValueError as exc:
        problems.append(f"--declare {exc}")
        return baseline.Declared({}, frozenset())


def answers_of(options: Options, cat: Catalog, now: datetime,
               problems: list[str]) -> dict[str, Confirmation]:
    """The ``--answers`` file's confirmations; one too large is refused before it is read."""
    answers_size = Path(options.answers).stat().st_size if options.answers and Path(
        options.answers).is_file() else 0
    if answers_size > MAX_ANSWERS_BYTES:
        problems.append(f"{options.answers}: {answers_size / 2**20:.1f} MiB; an answers file "
                        f"may have at most {MAX_ANSWERS_BYTES // 2**20} MiB")
    elif options.answers:
        try:
            return load_answers(options.answers, cat, now=now)
        except InputError as exc:
            problems += [f"{exc.source}: {p}" for p in exc.problems]
    return {}


def credential_scope(e: Expectations) -> Scope:
    """Which of a host's credentials goes to which URL (README, Inventory reference): its HTTP
    credentials and each endpoint's ``headers`` to its own endpoints, each API's to that API."""
    def credential(service: str, headers: Mapping[str, Any] | None = None) -> Credential:
        token = e.get(f"{service}_token") or None
        return Credential(e[f"{service}_username"] or None, e[f"{service}_password"] or None,
                          token, headers or {})

    endpoints = [*e.http, *(step for journey in e.journeys for step in journey["steps"]
                            if isinstance(step, Mapping) and step.get("url"))]
    grants = [(spec["url"], credential("http", spec.get("headers")), True) for spec in endpoints]
    grants += [(e.lb_url, credential("http"), True)] if e.lb_url else []
    grants += [(url, credential(service), False) for service, url in (
        ("prometheus", e.prometheus_url), ("alertmanager", e.alertmanager_url),
        ("haproxy_stats", e.haproxy_stats_url)) if url]
    grants += [(flag["url"], credential("feature_flags"), True) for flag in e.feature_flags]
    return Scope.of(grants)


def wait_problems(inv: inventory.Inventory, cat: Catalog) -> list[str]:
    """``maintcheck_wait`` entries no check can honour: unknown, manual or pre-window items."""
    found: dict[str, None] = {}  # ordered set: a group's variable is reported once
    for host in inv.hosts:
        where = f"{host.expect.origin('wait')}: maintcheck_wait"
        for key in host.expect.wait:
            item_id = str(key)
            if item_id not in cat:
                found[f"{where}: {item_id} is not in {cat.path}"] = None
            elif not cat[item_id].automated:
                found[f"{where}: {item_id} is a manual item; manual items are never re-asked"] = None
            elif cat[item_id].phase == "pre":
                found[f"{where}: {item_id} is checked before the window; waits apply to during "
                      "and post items"] = None
    return list(found)


@functools.cache
def suite_commit(where: Path) -> str:
    """The git commit of the checks, marked ``+dirty`` when they were edited (asked once)."""
    try:
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=False)
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def reached(host: Host) -> dict[str, Any]:
    """How one host was reached: ``{"connection": "ssh", "address": ..., "port": 22, ...}``;
    extra ssh arguments by count only (they may hold a password)."""
    if host.local:
        return {"connection": "local"}
    return {"connection": "ssh", "address": host.address, "port": host.port,
            "user": host.user or "(ssh's default)",
            "become": (host.become_user or "root") if host.become else "no",
            "ssh_args": len(host.ssh_args)}


def limit_file(path: str) -> str:
    """Ansible's ``--limit @FILE``: the host names in FILE, one a line, as one pattern (the
    plugin keeps ``@FILE`` whole before pytest expands it into arguments)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--limit @{path}", [f"cannot read the limit file: {exc}"]) from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise InputError(f"--limit @{path}", ["the limit file names no host"])
    return ",".join(names)
