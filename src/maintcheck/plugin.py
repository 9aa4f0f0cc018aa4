"""maintcheck's pytest plugin: options, markers, stash and wiring. Logic lives in the modules."""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
import time
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from maintcheck import baseline, exitcodes, journal, runs
from maintcheck import evidence as evidence_json
from maintcheck.catalog import PHASES, Item
from maintcheck.change import CONTACTS, Change
from maintcheck.confirmations import Confirmation, prompt
from maintcheck.errors import (
    CheckError,
    InputError,
    MissingData,
    ServiceFailed,
    printable,
    shown,
)
from maintcheck.evidence import Outcome
from maintcheck.facts import Facts
from maintcheck.htmlreport import HtmlReport, retry_line
from maintcheck.inventory import Expectations, Host
from maintcheck.runner import Runner
from maintcheck.session import Options, Run, build
from maintcheck.suite import scan
from maintcheck.targets import NotApplicable

if TYPE_CHECKING:
    from maintcheck.signing import Signer

RUN = pytest.StashKey[Run]()
ITEM_ID = pytest.StashKey[str]()
OUTCOME = pytest.StashKey[tuple[str, str]]()  # a check's outcome and message, as it ended
AFTER = pytest.StashKey[dict[str, tuple[Facts, dict[str, Any]]]]()
STDIN_TTY = pytest.StashKey[bool]()
# maintcheck's own letters in pytest's progress line
LEGEND = {"pending": "p", "not applicable": "n", "not yet automated": "t"}
SELECTION = pytest.StashKey[Any]()  # maintcheck.selection.Selection: --item, --section
NOT_APPLICABLE = "not applicable: "
PENDING = "pending: "
NOT_YET = "not yet automated: "
RETRIED = ("failed", "error")
MAX_POLL_SECONDS = 10.0
PASSPHRASE_ENV = "MAINTCHECK_SIGN_PASSPHRASE"
DEFAULT_KEY = "~/.maintcheck/operator.key"  # signing.DEFAULT_KEY, without importing cryptography
OWN_PROPERTIES = frozenset({"item", "host", "outcome", "message", "manual"})

MARKERS = (
    "checklist(id): the checklist item a test implements, e.g. checklist('2.3')",
    "manual: the item is confirmed by the operator; the test's docstring is the question",
    "not_yet_automated(reason): an automated item whose check is not written yet",
    ("applies_to(variable, value=None): run on the hosts that declare maintcheck_<variable> "
     "(with that value, when given)"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("maintcheck", "maintcheck: the maintenance checklist")
    group.addoption("--inventory", help="Ansible inventory (file or folder); default from ini")
    group.addoption("--limit", help="Ansible host pattern, e.g. 'web:&prod' or '!db-02'")
    group.addoption("--item", help="run only these checklist items, e.g. '2.3,7.1' (partial)")
    group.addoption("--section", help="run only these checklist sections, e.g. '2,5' (partial)")
    group.addoption("--rerun-failed", action="store_true",
                    help="run again the checks that failed or errored in the latest run of this "
                         "change and phase, as its evidence records them (partial)")
    group.addoption("--change", help="change request id (names the evidence folder)")
    group.addoption("--window", help="maintenance window START/END, ISO 8601 with zone")
    group.addoption("--operator", help="who runs the checks (default: the OS user)")
    for contact in CONTACTS:
        group.addoption(f"--{contact.replace('_', '-')}", dest=f"maintcheck_{contact}",
                        help=f"sign-off: {contact.replace('_', ' ')}")
    group.addoption("--maintenance-type", dest="maintenance_type",
                    help="comma list of security,application,infrastructure")
    group.addoption("--answers", help="YAML answers file for manual items")
    group.addoption("--wait", help="re-run failing checks until they pass, up to DURATION "
                    "(e.g. 90s, 5m); for during and post")
    group.addoption("--declare", action="append", default=[],
                    help="a change the window makes: NAME>=VERSION or cert:NAME (repeatable)")
    group.addoption("--no-baseline", action="store_true",
                    help="post: skip the comparison with the pre baseline")
    group.addoption("--no-prompt", action="store_true", help="never prompt; unanswered = pending")
    group.addoption("--sign-key", help="operator private key (PEM, mode 0600); default from ini")
    group.addoption("--sign-cert", help="operator certificate (PEM); default from ini")
    group.addoption("--tsa", help="RFC 3161 timestamping authority URL: trusted time for the "
                    "signature (default from ini maintcheck_tsa)")
    group.addoption("--concurrency", type=int, default=32, help="hosts probed at once (32)")
    parser.addini("maintcheck_inventory", "default inventory", default="inventory/local.yml")
    parser.addini("maintcheck_checklist", "the checklist catalog", default="checks/checklist.yml")
    parser.addini("maintcheck_checks", "folder of the checks", default="checks")
    parser.addini("maintcheck_reports", "folder for evidence", default="reports")
    parser.addini("maintcheck_sign_key", "operator private key", default="")
    parser.addini("maintcheck_sign_cert", "operator certificate", default="")
    parser.addini("maintcheck_tsa", "RFC 3161 timestamping authority URL", default="")


def run_phases(config: pytest.Config) -> frozenset[str]:
    """The phases a run's paths select: ``checks/pre`` is pre; ``checks`` is all three."""
    checks = (config.rootpath / config.getini("maintcheck_checks")).resolve()
    phases: set[str] = set()
    for arg in config.args:
        path = arg_path(config, arg)
        if path == checks:
            phases.update(PHASES)
        elif checks in path.parents:
            first = path.relative_to(checks).parts[0]
            phases.update({first} & set(PHASES))
    return frozenset(phases)


def arg_path(config: pytest.Config, arg: str) -> Path:
    """The path a command-line argument names (``checks/pre/test_x.py::test_y``), resolved."""
    path = Path(arg.split("::")[0])
    return (path if path.is_absolute() else Path(config.invocation_params.dir, path)).resolve()


def from_root(config: pytest.Config, value: str) -> str:
    path = Path(value)
    return str(path if path.is_absolute() else config.rootpath / path)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config,
                                  args: list[str]) -> Generator[None, None, None]:
    """Note whether stdin is a terminal, before pytest's capture puts /dev/null on fd 0; and
    keep Ansible's ``--limit @FILE`` whole: pytest would expand ``@FILE`` into arguments."""
    early_config.stash[STDIN_TTY] = sys.stdin is not None and sys.stdin.isatty()
    for i in range(len(args) - 1):
        if args[i] == "--limit" and args[i + 1].startswith("@"):
            args[i:i + 2] = [f"--limit={args[i + 1]}"]
            break
    return (yield)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    phases = run_phases(config)
    if not phases:
        return  # not a checklist run: the project's own tests, say
    opt = config.option
    options = Options(
        inventory=opt.inventory or from_root(config, config.getini("maintcheck_inventory")),
        checklist=from_root(config, config.getini("maintcheck_checklist")),
        reports=from_root(config, config.getini("maintcheck_reports")),
        phases=phases, limit=opt.limit, change=opt.change, window=opt.window,
        operator=opt.operator,
        contacts={c: getattr(opt, f"maintcheck_{c}") for c in CONTACTS},
        maintenance_types=opt.maintenance_type, answers=opt.answers,
        concurrency=opt.concurrency, wait=opt.wait, declare=tuple(opt.declare),
        no_baseline=opt.no_baseline,
    )
    try:
        run = build(options)
    except InputError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[RUN] = run
    # refused before the run claims its label: a usage error leaves no evidence behind
    config.stash[SELECTION] = checklist_selection(config, run)
    if opt.collectonly:
        return  # nothing ran: no evidence, no report, nothing to sign
    controller = not hasattr(config, "workerinput")
    if controller:
        signer = load_operator_signer(config)
        narrowed_by = narrowing(config)
        try:
            run.slot = journal.start(run, narrowed_by)
        except InputError as exc:
            raise pytest.UsageError(str(exc)) from None
    if getattr(opt, "xmlpath", None) is None:
        opt.xmlpath = str(run.artefact(".xml"))
    if hasattr(opt, "htmlpath") and not opt.htmlpath:
        opt.htmlpath = str(run.artefact(".html"))
        opt.self_contained_html = True
    if controller:
        config.pluginmanager.register(Recorder(run, narrowed_by, signer), "maintcheck-recorder")
        config.pluginmanager.register(HtmlReport(run), "maintcheck-html")
        tsa = (opt.tsa or config.getini("maintcheck_tsa")
               or run.targets.inventory.shared("tsa") or None)
        config.pluginmanager.register(Sealer(run, signer, tsa), "maintcheck-sealer")
    if gather_early(config):  # last: bad options and keys stop the run before a host is asked
        run.targets.facts.start()


def narrowing(config: pytest.Config) -> list[str]:
    """What makes this run answer for less than its whole phase: a partial run is never PASSED."""
    opt = config.option
    found = [f"{flag} {value}" for flag, value in (
        ("-k", opt.keyword), ("-m", opt.markexpr), ("--limit", opt.limit),
        ("--item", opt.item), ("--section", opt.section),
        ("--rerun-failed", "the failed and errored checks of the latest run"
         if opt.rerun_failed else None),
        *(("--deselect", d) for d in getattr(opt, "deselect", None) or ()),
        *(("--ignore", d) for d in getattr(opt, "ignore", None) or ()),
        *(("--ignore-glob", d) for d in getattr(opt, "ignore_glob", None) or ())) if value]
    found += [flag for flag, on in (("--lf", getattr(opt, "lf", False)),
                                    ("--sw", getattr(opt, "stepwise", False))) if on]
    found += [arg for arg in config.args if not whole_phase_of(config, arg)]
    return found


def gather_early(config: pytest.Config) -> bool:
    """Probe the hosts while pytest collects (the probe overlaps collection)?

    Not when the operator may be asked about manual items first (the facts would be as old as
    the answers take), not when ``-k``/``-m`` may select few hosts, and not on an xdist
    controller (its workers probe).
    """
    opt = config.option
    interactive = not opt.no_prompt and config.stash.get(STDIN_TTY, False)
    controller = bool(getattr(opt, "numprocesses", None)) and not hasattr(config, "workerinput")
    return not (interactive or opt.keyword or opt.markexpr or controller)


def load_operator_signer(config: pytest.Config) -> Signer | None:
    """The operator's key and certificate, checked before any host is touched."""
    key = config.option.sign_key or config.getini("maintcheck_sign_key")
    cert = config.option.sign_cert or config.getini("maintcheck_sign_cert")
    if not key and not cert:  # signed by default: the operator's key at its documented place
        default = Path(os.path.expanduser(DEFAULT_KEY))
        if not default.exists():
            return None
        key, cert = str(default), str(default.with_suffix(".crt"))
    from maintcheck.signing import SigningError, load_signer  # cryptography: only to sign

    if not key or not cert:
        raise pytest.UsageError("signing needs both --sign-key and --sign-cert")
    passphrase = os.environ.get(PASSPHRASE_ENV)
    try:
        return load_signer(Path(from_root(config, key)), Path(from_root(config, cert)),
                           passphrase.encode() if passphrase else None)
    except SigningError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_sessionfinish(session: pytest.Session) -> None:
    run = session.config.stash.get(RUN, None)
    workeroutput = getattr(session.config, "workeroutput", None)
    if run is not None and workeroutput is not None:  # a pytest-xdist worker: tell the controller
        workeroutput["maintcheck"] = run.worker_output()


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(RUN, None)
    if run is not None:
        run.targets.close()  # no ssh connection outlives the run
        # At exit CPython's collector walks every object again while it tears the modules
        # down: 0.45 s after a 200-host run. Nothing left then needs collecting. (atexit, not
        # here: a process that runs pytest in-process goes on and needs its collector.)
        atexit.unregister(gc.freeze)
        atexit.register(gc.freeze)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    run = config.stash.get(RUN, None)
    if run is None:
        return None
    c: Change = run.change
    inv = run.targets.inventory
    return [printable(line) for line in (  # the lead's name comes from the inventory
        (f"maintcheck: change {c.id}, phase {run.phase}, window {c.window or 'not given'}, "
         f"operator {c.operator}"),
        f"inventory: {inv.path} (sha256 {inv.sha256[:12]}), {len(run.targets.hosts)} host(s)"
        + (f", limit {run.options.limit}" if run.options.limit else ""),
        f"maintenance types: {', '.join(c.maintenance_types) or 'none'}; lead {c.lead or '-'}",
    )]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    run = metafunc.config.stash.get(RUN, None)
    if run is None or "target" not in metafunc.fixturenames:
        return
    mark = metafunc.definition.get_closest_marker("applies_to")
    wanted, value = (list(mark.args) + [None])[:2] if mark else (None, None)
    hosts = run.targets.select(wanted, value)
    if hosts:
        metafunc.parametrize("target", hosts, ids=[printable(h.name) for h in hosts])
        return
    declares = f"maintcheck_{wanted}" + (f": {value}" if value is not None else "")
    reason = (f"no selected host declares {declares}" if wanted
              else "the inventory selects no host")
    metafunc.parametrize("target", [NotApplicable(reason)], ids=["n/a"])


@pytest.hookimpl(tryfirst=True)  # before -k and -m deselect: they apply to questions too
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    run = config.stash.get(RUN, None)
    if run is None:
        return
    items += questions(session, run)
    problems = []
    for item in items:
        mark = item.get_closest_marker("checklist")
        if mark is None or not mark.args:
            problems.append(f"{item.nodeid}: no @pytest.mark.checklist('N.M') marker")
            continue
        if mark.args[0] not in run.catalog:
            problems.append(f"{item.nodeid}: {mark.args[0]!r} is not in {run.catalog.path}")
            continue
        item.stash[ITEM_ID] = mark.args[0]
    if problems:
        raise pytest.UsageError("checks without a checklist item:\n  - " + "\n  - ".join(problems))
    select_by_checklist(config, run, items)


def checklist_selection(config: pytest.Config, run: Run) -> Any:
    """``--item``, ``--section`` and ``--rerun-failed`` as one :class:`Selection`; a usage
    error for an id the catalog lacks, or for nothing to re-run."""
    from maintcheck import runs, selection

    opt = config.option
    cells = None
    if opt.rerun_failed:
        phase = "+".join(p for p in PHASES if p in run.options.phases)
        last = runs.latest(run.report_dir, phase)
        if last is None:
            raise pytest.UsageError(f"--rerun-failed: no earlier {phase} run of change "
                                    f"{run.change.id} in {run.report_dir}")
        cells = selection.failed_cells(json.loads(last.read_text(encoding="utf-8")))
        if not cells:
            raise pytest.UsageError(f"--rerun-failed: nothing failed or errored in {last.name}")
    chosen = selection.Selection(selection.ids(opt.item), selection.ids(opt.section), cells)
    problems = selection.unknown(chosen, (i.id for i in run.catalog.items))
    if problems:
        raise pytest.UsageError("\n".join(problems))
    return chosen


def select_by_checklist(config: pytest.Config, run: Run, items: list[pytest.Item]) -> None:
    """Keep the checks ``--item``, ``--section`` and ``--rerun-failed`` name."""
    chosen = config.stash[SELECTION]
    if not chosen.narrows:
        return
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        host = str(callspec.params.get("target", "-")) if callspec else "-"
        test = getattr(item, "originalname", item.name)
        (kept if chosen.keeps(item.stash[ITEM_ID], host, test) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def manual_questions(items: list[pytest.Item]) -> dict[str, str]:
    """Item id -> the question its manual check asks (the check's docstring, as the
    ``manual`` marker promises)."""
    found: dict[str, str] = {}
    for item in items:
        doc = getattr(getattr(item, "function", None), "__doc__", None)
        if item.get_closest_marker("manual") and doc and ITEM_ID in item.stash:
            found.setdefault(item.stash[ITEM_ID], " ".join(doc.split()))
    return found


def pytest_collection_finish(session: pytest.Session) -> None:
    """Ask the operator about manual items, on the controller, before any test runs."""
    config = session.config
    run = config.stash.get(RUN, None)
    if run is None or hasattr(config, "workerinput"):
        return
    wanted = []
    for item in session.items:
        item_id = item.stash.get(ITEM_ID, "")
        entry = run.catalog[item_id] if item_id else None
        if (entry and item.get_closest_marker("manual") and run.type_selected(
                entry.maintenance_type) and entry.id not in run.answers
                and entry not in wanted):
            wanted.append(entry)
    if not wanted or config.option.no_prompt or config.option.collectonly:
        return
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        # capture puts /dev/null on fd 0: only with it lifted can we see the terminal
        capman.suspend_global_capture(in_=True)

    def keep(answer: Confirmation) -> None:  # on disk at once: Ctrl-C or a crash keeps it
        journal.record(run, answer)
        run.answers[answer.item] = answer

    try:
        if sys.stdin is not None and sys.stdin.isatty():
            for answer in journal.offer_resume(run, wanted, ask=input, say=print):
                keep(answer)
            prompt([e for e in wanted if e.id not in run.answers], operator=run.change.operator,
                   ask=input, say=print, clock=lambda: datetime.now(UTC), record=keep,
                   questions=manual_questions(session.items))
    except (EOFError, KeyboardInterrupt):
        print("\nprompt ended: the answers given are kept (the next run of this phase offers "
              "them again); the remaining manual items stay pending")
    finally:
        if capman is not None:
            capman.resume_global_capture()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    run = item.config.stash.get(RUN, None)
    if run is None:
        return
    entry = run.catalog[item.stash[ITEM_ID]]
    if not run.type_selected(entry.maintenance_type):
        pytest.skip(f"{NOT_APPLICABLE}maintenance type {entry.maintenance_type!r} not selected "
                    "(--maintenance-type)")
    callspec = getattr(item, "callspec", None)
    target = callspec.params.get("target") if callspec else None
    if isinstance(target, NotApplicable):
        pytest.skip(f"{NOT_APPLICABLE}{target.reason}")
    todo = item.get_closest_marker("not_yet_automated")
    if todo is not None:
        pytest.skip(f"{NOT_YET}{todo.args[0] if todo.args else 'no check yet'}")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """A manual item's outcome is the operator's answer; its body is the question."""
    run = pyfuncitem.config.stash.get(RUN, None)
    if run is None or pyfuncitem.get_closest_marker("manual") is None:
        return None
    answered(run, pyfuncitem.stash[ITEM_ID])
    return True


def answered(run: Run, item_id: str) -> None:
    """The operator's answer as an outcome: pending, skipped, failed, or (yes) passed."""
    answer = run.answers.get(item_id)
    if answer is None:
        pytest.skip(f"{PENDING}nobody has confirmed it yet (prompt, or --answers FILE)")
    if answer.status == "skip":
        done = ("" if run.catalog[answer.item].skippable
                else " (not skippable: the checklist stays incomplete)")
        pytest.skip(f"skipped by {answer.by} at {answer.at}: {answer.note or 'no note'}{done}")
    if answer.status == "no":
        pytest.fail(f"{answer.by} answered no at {answer.at}: {answer.note or 'no note'}",
                    pytrace=False)


class Catalogued(pytest.File):
    """The catalog, as the parent of the questions for items no check implements."""

    def collect(self) -> list[pytest.Item]:
        return []


class Question(pytest.Item):
    """A catalog item no check implements: a manual item, its title the question."""

    def __init__(self, *, entry: Item, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry = entry
        self.add_marker(pytest.mark.checklist(entry.id))
        self.add_marker(pytest.mark.manual)

    def runtest(self) -> None:
        answered(self.config.stash[RUN], self.entry.id)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"[{self.entry.id}] {self.entry.title} (no check yet)"


def questions(session: pytest.Session, run: Run) -> list[pytest.Item]:
    """A question for each item of the run's whole phases that no check implements."""
    phases = whole_phases(session.config)
    checks = (session.config.rootpath / session.config.getini("maintcheck_checks")).resolve()
    implemented = {ref.item for ref in scan(checks)} if checks.is_dir() else set()
    missing = [i for i in run.catalog.items if i.phase in phases and i.id not in implemented]
    if not missing:
        return []
    parent = Catalogued.from_parent(session, path=run.catalog.path.resolve())
    return [Question.from_parent(parent, name=f"question[{i.id}]", entry=i) for i in missing]


def whole_phases(config: pytest.Config) -> set[str]:
    """The phases whose whole folder the run names (``checks``, ``checks/pre``); a run of one
    file asks nothing beyond it."""
    return {phase for arg in config.args for phase in whole_phase_of(config, arg)}


def whole_phase_of(config: pytest.Config, arg: str) -> frozenset[str]:
    """The phases one argument names whole (``checks``: all three; ``checks/pre``: pre), or
    none when it names less (a file, a test): such a run is partial."""
    checks = (config.rootpath / config.getini("maintcheck_checks")).resolve()
    path = arg_path(config, arg)
    if "::" in arg:
        return frozenset()
    if path == checks:
        return frozenset(PHASES)
    return frozenset({path.name}) if path.parent == checks and path.name in PHASES else frozenset()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[
        None, pytest.TestReport, pytest.TestReport]:
    report = yield
    run = item.config.stash.get(RUN, None)
    if run is None or ITEM_ID not in item.stash:
        return report
    if call.excinfo is not None and call.excinfo.errisinstance(CheckError) and report.failed:
        report.when = "setup"  # could not check: pytest's ERROR, never FAILED
    if report.longrepr is not None and not report.skipped:
        report.longrepr = shown(run.redactor.text(str(report.longrepr)))
    report.sections = [(k, shown(run.redactor.text(v))) for k, v in report.sections]
    callspec = getattr(item, "callspec", None)
    target = callspec.params.get("target") if callspec else None
    outcome, message = classify(report, call)
    if (call.excinfo is not None and call.excinfo.errisinstance(ServiceFailed)
            and target is not None and not message.startswith(f"{target}:")):
        message = f"{target}: {message}"  # a probe names the endpoint; the evidence, the host
    if report.when == "teardown" and report.passed and OUTCOME in item.stash:
        # JUnit takes a testcase's properties from its teardown: they must say how it ended
        outcome, message = item.stash[OUTCOME]
    elif report.when == "call" or not report.passed:
        item.stash[OUTCOME] = (outcome, message)
    report.user_properties += [
        ("item", item.stash[ITEM_ID]), ("host", str(target) if target is not None else "-"),
        ("outcome", outcome), ("message", shown(run.redactor.text(message))),
        ("manual", "yes" if item.get_closest_marker("manual") else "no"),
    ]
    return report


def classify(report: pytest.TestReport, call: pytest.CallInfo[None]) -> tuple[str, str]:
    """maintcheck's outcome of one report, and its one-line message."""
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(
            report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        if reason.startswith(NOT_APPLICABLE):
            return "not applicable", reason[len(NOT_APPLICABLE):]
        if reason.startswith(PENDING):
            return "pending", reason[len(PENDING):]
        if reason.startswith(NOT_YET):
            return "not yet automated", reason[len(NOT_YET):]
        return "skipped", reason
    if report.passed:
        return "passed", ""
    message = ""
    if call.excinfo is not None:
        message = str(call.excinfo.value).strip() or call.excinfo.typename
    if report.when != "call":
        return "error", message or f"error at {report.when}"
    return "failed", message


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    props = dict(getattr(report, "user_properties", ()))  # collect reports have none
    outcome = props.get("outcome")
    if outcome == "not applicable" and report.when == "setup":
        return "not applicable", "n", "N/A"
    if outcome == "pending" and report.when == "call":
        return "pending", "p", "PENDING"
    if outcome == "not yet automated" and report.when == "setup":
        return "not yet automated", "t", "NOT YET AUTOMATED"
    return None


def keep_last_reports(session: pytest.Session, retried: set[str], still: set[str]) -> None:
    """After --wait re-runs, the summary shows each check once: its last outcome."""
    reporter = session.config.pluginmanager.getplugin("terminalreporter")
    if reporter is None or not retried:
        return
    for category in ("failed", "error"):
        kept: dict[str, Any] = {}
        others = []
        for report in reporter.stats.get(category, []):
            nodeid = getattr(report, "nodeid", None)
            if nodeid in retried:
                if nodeid in still:
                    kept[nodeid] = report  # the latest failure of a check that never passed
            else:
                others.append(report)
        reporter.stats[category] = others + list(kept.values())


class Recorder:
    """Collects outcomes on the controller and writes the evidence at the end."""

    def __init__(self, run: Run, narrowed_by: list[str], signer: Signer | None) -> None:
        self.run = run
        self.narrowed_by = narrowed_by
        self.signer = signer
        self.evidence_path: Path | None = None
        self.outcomes: dict[str, Outcome] = {}  # by node id: a re-run replaces its outcome
        self.failed_at: dict[str, float] = {}
        self.waits: dict[str, float] = {}  # by node id: seconds it may take to converge
        self.loop_started = time.monotonic()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if "item" not in props:
            return
        if report.when == "call" or (report.when == "setup" and not report.passed) or (
                report.when == "teardown" and report.failed):
            observed = [(k, v) for k, v in report.user_properties if k not in OWN_PROPERTIES]
            outcome = str(props["outcome"])
            if outcome in RETRIED:
                self.failed_at.setdefault(report.nodeid, time.monotonic())
            elif outcome == "passed" and self.waits.get(report.nodeid):
                # from the start of the checks; 0: it passed at its first look
                converged = (time.monotonic() - self.loop_started
                             if report.nodeid in self.failed_at else 0.0)
                observed.append(("converged_after_seconds", round(converged, 1)))
            self.outcomes[report.nodeid] = Outcome(
                str(props["item"]), str(props["host"]), outcome, str(props["message"]),
                report.nodeid.split("::")[-1].split("[")[0], props.get("manual") == "yes",
                tuple(observed))

    def still_failing(self, items: list[pytest.Item]) -> list[pytest.Item]:
        """Automated items whose latest outcome is failed or error."""
        return [i for i in items if i.nodeid in self.outcomes
                and self.outcomes[i.nodeid].outcome in RETRIED
                and not self.outcomes[i.nodeid].manual]

    def wait_of(self, item: pytest.Item) -> float:
        """How long this check may take to converge (inventory's maintcheck_wait, or --wait)."""
        if ITEM_ID not in item.stash or item.get_closest_marker("manual") is not None:
            return 0.0
        callspec = getattr(item, "callspec", None)
        target = callspec.params.get("target") if callspec else None
        return self.run.wait_for(item.stash[ITEM_ID], target if isinstance(target, Host)
                                 else None)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        """With --wait or maintcheck_wait, re-run failing automated checks until they pass or
        their time runs out."""
        self.waits = {item.nodeid: self.wait_of(item) for item in session.items}
        self.loop_started = time.monotonic()
        result = yield
        longest = max(self.waits.values(), default=0.0)
        if not longest or session.shouldstop or session.shouldfail:
            return result
        interval = min(MAX_POLL_SECONDS, max(1.0, longest / 10))
        retried: set[str] = set()
        for _ in range(int(longest / interval) + 2):  # bounded, whatever the clock does
            left = {i.nodeid: self.loop_started + self.waits[i.nodeid] - time.monotonic()
                    for i in self.still_failing(session.items)}
            if not any(s > 0 for s in left.values()):
                break
            time.sleep(min(interval, max(left.values())))
            failing = [i for i in self.still_failing(session.items)
                       if self.loop_started + self.waits[i.nodeid] > time.monotonic()]
            self.run.targets.forget({str(self.outcomes[i.nodeid].host) for i in failing})
            for item in failing:
                retried.add(item.nodeid)
                item.ihook.pytest_runtest_protocol(item=item, nextitem=None)
        still = self.still_failing(session.items)
        keep_last_reports(session, retried, {i.nodeid for i in still})
        session.testsfailed = len(still)
        return result

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        """Whatever deselected checks (-k, -m, --lf, --deselect, a plugin) makes the run partial."""
        if items:
            self.narrowed_by.append(f"{len(items)} check(s) deselected")

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A pytest-xdist worker's audit log, unreachable hosts and facts join the evidence."""
        output = getattr(node, "workeroutput", {}).get("maintcheck")
        if output:
            self.run.merge_worker_output(output)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Write the evidence first, so the HTML report can be drawn from it."""
        run = self.run
        run.save_baseline()
        run.evidence.confirmations = dict(run.answers)
        run.evidence.outcomes = list(self.outcomes.values())
        finished = datetime.now(UTC)
        meta = {**run.meta(finished),
                **journal.identity(run, self.signer, finished, bool(self.narrowed_by))}
        run.document = run.evidence.render(phases=set(run.options.phases), meta=meta,
                                           narrowed_by=self.narrowed_by)
        self.evidence_path = evidence_json.write(run.artefact(".json"), run.document)
        session.exitstatus = exitcodes.of_run(run.document["verdict"], session.exitstatus)
        journal.finish(run, session.exitstatus)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        document = self.run.document
        if not document:
            return
        tr = terminalreporter
        tr.section("maintcheck")
        # what a host sent (an ssh banner, an HTTP error) cannot draw lines of its own
        for host, cause in document["unreachable"].items():
            tr.write_line(printable(f"unreachable: {host}: {cause}"), red=True)
        for row in document.get("connection_retries", []):
            tr.write_line(printable(f"retried once: {retry_line(row)}"), yellow=True)
        for row in document.get("warnings", []):
            tr.write_line(printable(f"warning: {row['item']} {row['host']}: {row['warning']}"),
                          yellow=True)
        shown = set(tr.config.getoption("reportchars") or "")
        for item in document["items"] if shown & {"a", "A", "s"} else ():
            for o in item["outcomes"]:  # -ra: what pytest's own summary cannot name
                if o["outcome"] in ("not applicable", "pending", "not yet automated"):
                    tr.write_line(printable(f"{o['outcome']}: {item['id']} {o['host']}: "
                                            f"{o['message'] or item['title']}"))
        letters = {o["outcome"] for i in document["items"] for o in i["outcomes"]} & set(LEGEND)
        if letters:
            tr.write_line("letters: " + ", ".join(f"{LEGEND[o]} {o}" for o in sorted(letters)))
        unchecked = document["summary"].get("without_automated_check", [])
        if unchecked:
            tr.write_line(f"no automated check: {len(unchecked)} of "
                          f"{document['checklist']['items']} items, asked of the operator "
                          f"({', '.join(unchecked)})")
        pending = document["summary"]["pending_items"]
        if pending:
            tr.write_line(f"checklist incomplete: {len(pending)} items pending "
                          f"({', '.join(pending)})", yellow=True)
        not_done = document["summary"]["skipped_not_skippable"]
        if not_done:
            tr.write_line(f"checklist incomplete: {len(not_done)} item(s) skipped that the "
                          f"checklist does not let skip ({', '.join(not_done)})", yellow=True)
        if document["selection"]["partial"]:
            tr.write_line("partial run, never PASSED: narrowed by "
                          + ", ".join(document["selection"]["narrowed_by"]), yellow=True)
        tr.write_line(f"verdict: {document['verdict']}", bold=True)
        tr.write_line(f"evidence: {self.evidence_path} (run {document['run']['label']}"
                      + (f"; latest complete {document['phase']} run: "
                         f"{document['run']['latest_complete']})"
                         if document["run"]["latest_complete"] else ")"))


class Sealer:
    """Writes the run's manifest, signed when there is a key, after pytest-html and JUnit."""

    def __init__(self, run: Run, signer: Signer | None, tsa: str | None) -> None:
        self.run = run
        self.signer = signer
        self.tsa = tsa
        self.lines: list[tuple[str, dict[str, bool]]] = []

    # innermost wrapper: after pytest-html and JUnit write, before the terminal summary
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        result = yield
        xml = Path(getattr(session.config.option, "xmlpath", None) or self.run.artefact(".xml"))
        if xml == self.run.artefact(".xml") and xml.is_file():
            from maintcheck.junit import keep_last_attempts

            keep_last_attempts(xml)  # before the seal: one testcase per check, its last attempt
        html = self.run.artefact(".html")
        if html.is_file():  # pytest-html stamps local time with no zone; the evidence is UTC
            from maintcheck.htmlreport import stamp_in_utc

            stamp_in_utc(html)
        self.lines = journal.seal(self.run, self.signer, self.tsa)
        return result

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line, style in self.lines:
            terminalreporter.write_line(line, **style)


# --- fixtures: how checks reach the run ---

@pytest.fixture(scope="session")
def maintcheck_run(request: pytest.FixtureRequest) -> Run:
    run = request.config.stash.get(RUN, None)
    if run is None:
        pytest.fail("maintcheck fixtures need a checklist run (pytest checks/...)",
                    pytrace=False)
    return run


@pytest.fixture
def record_property(request: pytest.FixtureRequest) -> Any:
    """pytest's own, without its warning about xunit2: maintcheck's JUnit carries each check's
    properties (item, host, outcome) by design, and its checks record what they observed."""
    def append(name: str, value: object) -> None:
        request.node.user_properties.append((name, value))
    return append


@pytest.fixture
def expect(target: Host) -> Expectations:
    """What the inventory expects of this host."""
    return target.expect


@pytest.fixture
def facts(maintcheck_run: Run, target: Host) -> Facts:
    """This host's facts, gathered once for every host of the run."""
    return maintcheck_run.targets.facts_of(target)


@pytest.fixture
def runner(maintcheck_run: Run, target: Host) -> Runner:
    """The read-only runner of this host."""
    return maintcheck_run.targets.runners[target.name]


@pytest.fixture(scope="session")
def change(maintcheck_run: Run) -> Change:
    """The change: id, window, operator, contacts."""
    return maintcheck_run.change


@pytest.fixture(scope="session")
def confirmations(maintcheck_run: Run) -> dict[str, Confirmation]:
    return maintcheck_run.answers


@pytest.fixture(scope="session")
def assess() -> Any:
    """The findings functions: ``assert assess.capacity(facts, expect) == []``."""
    from maintcheck import assess as module

    return module


@pytest.fixture
def now() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)


@pytest.fixture(scope="session")
def window_start(change: Change) -> int | None:
    """The window's start as a Unix time, or None when no window was given."""
    return int(change.window.start.timestamp()) if change.window else None


@pytest.fixture(scope="session")
def pre_evidence(maintcheck_run: Run) -> Path:
    """Where this change's pre-maintenance evidence is: its latest complete pre run's."""
    return maintcheck_run.report_dir / f"{runs.pre_run(maintcheck_run.report_dir)}.json"


def pytest_assertrepr_compare(op: str, left: object, right: object) -> list[str] | None:
    """``assert findings == []`` fails with the host and what was found, one per line."""
    from maintcheck.assess import Findings

    if isinstance(left, Findings) and op == "==" and right == []:
        # the first line is what pytest's short summary shows: the findings themselves
        return [f"{left.host}: {len(left)} finding(s): {'; '.join(left)}",
                *(f"  {f}" for f in left)]
    return None


@pytest.fixture(scope="session")
def assess_services() -> Any:
    """Findings for service observations: ``assess_services.certificate(...) == []``."""
    from maintcheck import assess_services as module

    return module


@pytest.fixture(scope="session")
def probes() -> Any:
    """The service probes: http, tls, postgres, haproxy, prometheus."""
    from maintcheck import probes as module

    return module


@pytest.fixture
def http_options(maintcheck_run: Run, target: Host) -> dict[str, Any]:
    """Timeout, CA bundle and credentials for this host's HTTP calls (never printed).

    A host whose probe failed is not asked over HTTP either: every check of it is ERROR with
    the one cause. Above all when its host key is unknown or changed: then nothing that answers
    at its address can be trusted to be it.
    """
    maintcheck_run.targets.facts_of(target)  # probed once per run; raises the host's cause
    return maintcheck_run.http_options(target)


@pytest.fixture(scope="session")
def baseline_of_change(maintcheck_run: Run) -> dict[str, Any]:
    """The pre baseline of this change and inventory (ERROR when absent or foreign)."""
    if maintcheck_run.options.no_baseline:
        pytest.skip(f"{NOT_APPLICABLE}the comparison was skipped with --no-baseline")
    folder = maintcheck_run.report_dir
    return baseline.load(folder / runs.baseline_name(runs.pre_run(folder)),
                         change=maintcheck_run.change.id,
                         inventory_sha256=maintcheck_run.targets.inventory.sha256)


@pytest.fixture
def before(baseline_of_change: dict[str, Any], target: Host) -> Any:
    """This host as the pre baseline saw it."""
    return baseline.before(baseline_of_change, target.name)


@pytest.fixture
def after(request: pytest.FixtureRequest, maintcheck_run: Run, target: Host,
          facts: Facts) -> dict[str, Any]:
    """This host now, in the baseline's terms: looked at once per host (and per probe of it,
    so a --wait re-run looks again), not once per check; its endpoints may be slow."""
    seen = request.config.stash.setdefault(AFTER, {})
    if target.name not in seen or seen[target.name][0] is not facts:
        seen[target.name] = (facts, baseline.host_snapshot(
            target, facts, maintcheck_run.http_options(target),
            maintcheck_run.targets.runners[target.name]))
    return seen[target.name][1]


@pytest.fixture(scope="session")
def declared(maintcheck_run: Run) -> Any:
    """Changes the change declares (--declare)."""
    return maintcheck_run.declared


@pytest.fixture(scope="session")
def compare() -> Any:
    """Baseline comparisons: ``compare.units_stopped(host, before, after) == []``."""
    return baseline


@pytest.fixture(scope="session")
def inventory_hosts(maintcheck_run: Run) -> list[Host]:
    """Every host the run selected."""
    return list(maintcheck_run.targets.hosts)


@pytest.fixture(scope="session")
def inventory_addresses(inventory_hosts: list[Host]) -> dict[str, str]:
    """Name -> address of every host the run selected."""
    return {h.name: h.address for h in inventory_hosts}


@pytest.fixture
def endpoints(target: Host, http_options: dict[str, Any]) -> list[tuple[Any, Any]]:
    """Each declared HTTP endpoint of this host, fetched once: (spec, observation)."""
    from maintcheck.probes import http

    return [(spec, http.fetch(spec["url"], expect_contains=spec.get("contains"),
                              headers=spec.get("headers"), **http_options))
            for spec in target.expect.http]


@pytest.fixture
def routed(target: Host, http_options: dict[str, Any]) -> list[Any]:
    """``lb_url`` sent through this host's frontend, each answer with the backend servers whose
    HAProxy session counter it moved: (servers, observation)."""
    from maintcheck import assess_services
    from maintcheck.probes import routing

    e = target.expect
    if not (e.haproxy_stats_url and e.haproxy_backends):
        raise MissingData(f"{target.name}: maintcheck_lb_url needs maintcheck_haproxy_stats_url "
                          "and maintcheck_haproxy_backends, to see which server got each request")
    servers = sorted({f"{b}/{s}" for b, names in e.haproxy_backends.items() for s in names})
    return routing.through_frontend(
        e.lb_url, assess_services.backend_address(e.lb_url, target.address),
        stats_url=e.haproxy_stats_url, servers=servers, expect_contains=e.lb_contains or None,
        stats_options={k: http_options[k] for k in ("on_retry", "credentials", "redactor",
                                                    "ca_bundle")}, **http_options)


@pytest.fixture
def journey_steps(target: Host, http_options: dict[str, Any]) -> list[tuple[Any, Any]]:
    """Every step of this host's declared journeys, fetched in order: (step, observation)."""
    from maintcheck.probes import http

    return [(step, http.fetch(step["url"], expect_contains=step.get("contains"),
                              headers=step.get("headers"), **http_options))
            for journey in target.expect.journeys for step in journey["steps"]]


@pytest.fixture
def prometheus_targets(target: Host, http_options: dict[str, Any]) -> list[Any]:
    """The scrape targets of the Prometheus this host declares."""
    from maintcheck.probes import prometheus

    return prometheus.targets(target.expect.prometheus_url, **http_options)


@pytest.fixture(scope="session")
def runner_of(maintcheck_run: Run) -> Any:
    """The runner of another host by name: ``runner_of("web-01")``."""
    def find(name: str) -> Runner:
        try:
            return maintcheck_run.targets.runners[name]
        except KeyError:
            raise MissingData(f"{name} is not a selected inventory host") from None
    return find
