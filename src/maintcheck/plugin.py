"""maintcheck's pytest plugin: options, markers and hook wiring. The logic lives in the modules
each hook calls: ``invocation`` (what the command line asks), ``questions`` and ``prompting``
(manual items), ``outcomes`` (how a check ended), ``recording`` (the evidence), ``waiting``
(--wait), ``sealing`` (the manifest), ``fixtures`` (what a check receives)."""

from __future__ import annotations

import atexit
import gc
import sys
from collections.abc import Generator
from typing import Any

import pytest

from maintcheck import invocation, journal, outcomes, prompting, questions
from maintcheck.change import CONTACTS
from maintcheck.errors import CheckError, InputError, ServiceFailed, printable, shown
from maintcheck.htmlreport import HtmlReport
from maintcheck.outcomes import Ended
from maintcheck.progress import TerminalWatcher
from maintcheck.recording import Recorder
from maintcheck.sealing import Sealer
from maintcheck.session import build
from maintcheck.stash import ENDED, ITEM_ID, RUN, SELECTION, STDIN_TTY
from maintcheck.targets import NotApplicable
from maintcheck.waiting import WaitLoop

pytest_plugins = ["maintcheck.fixtures"]

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
    phases = invocation.run_phases(config)
    if not phases:
        return  # not a checklist run: the project's own tests, say
    opt = config.option
    try:
        run = build(invocation.options(config, phases))
    except InputError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[RUN] = run
    invocation.refuse_cache_options(config)
    # refused before the run claims its label: a usage error leaves no evidence behind
    config.stash[SELECTION] = invocation.checklist_selection(config, run)
    if opt.collectonly:
        return  # nothing ran: no evidence, no report, nothing to sign
    controller = not hasattr(config, "workerinput")
    if controller:
        signer = invocation.load_operator_signer(config)
        narrowed_by = invocation.narrowing(config)
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
        recorder = Recorder(run, narrowed_by, signer)
        config.pluginmanager.register(recorder, "maintcheck-recorder")
        config.pluginmanager.register(WaitLoop(run, recorder.schedule, recorder.failing),
                                      "maintcheck-wait")
        config.pluginmanager.register(HtmlReport(run), "maintcheck-html")
        tsa = (opt.tsa or config.getini("maintcheck_tsa")
               or run.targets.inventory.shared("tsa") or None)
        config.pluginmanager.register(Sealer(run, signer, tsa), "maintcheck-sealer")
    if invocation.gather_early(config):  # last: bad options and keys stop the run first
        run.targets.facts.start()


def pytest_sessionstart(session: pytest.Session) -> None:
    """While a check waits for the hosts' probes, the terminal shows who is awaited."""
    config = session.config
    run = config.stash.get(RUN, None)
    reporter = config.pluginmanager.getplugin("terminalreporter")
    if run is not None and reporter is not None and not hasattr(config, "workerinput"):
        run.targets.facts.watcher = TerminalWatcher(
            reporter, config.pluginmanager.getplugin("capturemanager"))


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
    c = run.change
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
    items += questions.unimplemented(session, run)
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
        item.extra_keyword_matches.add(mark.args[0])  # -k 2.3 (a substring: 12.3 too)
    if problems:
        raise pytest.UsageError("checks without a checklist item:\n  - " + "\n  - ".join(problems))
    invocation.select_by_checklist(config, items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Ask the operator about manual items, on the controller, before any test runs."""
    run = session.config.stash.get(RUN, None)
    if run is not None and not hasattr(session.config, "workerinput"):
        prompting.ask_operator(session, run)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    run = item.config.stash.get(RUN, None)
    if run is None:
        return
    entry = run.catalog[item.stash[ITEM_ID]]
    if not run.type_selected(entry.maintenance_type):
        outcomes.not_applicable(f"maintenance type {entry.maintenance_type!r} not selected "
                                "(--maintenance-type)")
    callspec = getattr(item, "callspec", None)
    target = callspec.params.get("target") if callspec else None
    if isinstance(target, NotApplicable):
        outcomes.not_applicable(target.reason)
    todo = item.get_closest_marker("not_yet_automated")
    if todo is not None:
        outcomes.not_yet_automated(todo.args[0] if todo.args else "no check yet")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """A manual item's outcome is the operator's answer; its body is the question."""
    run = pyfuncitem.config.stash.get(RUN, None)
    if run is None or pyfuncitem.get_closest_marker("manual") is None:
        return None
    questions.answered(run, pyfuncitem.stash[ITEM_ID])
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[
        None, pytest.TestReport, pytest.TestReport]:
    """Each report of a check carries how it ended (item, host, outcome, message) in its
    properties: what the evidence, JUnit and the summary read, also from an xdist worker."""
    report = yield
    run = item.config.stash.get(RUN, None)
    if run is None or ITEM_ID not in item.stash:
        return report
    callspec = getattr(item, "callspec", None)
    target = callspec.params.get("target") if callspec else None
    error = call.excinfo.value if call.excinfo is not None else None
    if error is not None and report.failed and (
            isinstance(error, CheckError) or not outcomes.is_finding(error)):
        report.when = "setup"  # could not check (a host, or a bug): pytest's ERROR, not FAILED
    if report.longrepr is not None and not report.skipped:
        text = (outcomes.findings_text(error, str(target or "-")) if error is not None
                and outcomes.is_finding(error) and plain_findings(item.config)
                else str(report.longrepr))
        report.longrepr = shown(run.redactor.text(text))
    report.sections = [(k, shown(run.redactor.text(v))) for k, v in report.sections]
    ended = outcomes.classify(report, call)
    if call.excinfo is not None and call.excinfo.errisinstance(outcomes.Unchecked):
        report.longrepr = outcomes.at_check(report.longrepr, item)
    if (call.excinfo is not None and call.excinfo.errisinstance(ServiceFailed)
            and target is not None and not ended.message.startswith(f"{target}:")):
        # a probe names the endpoint; the evidence, the host
        ended = Ended(ended.outcome, f"{target}: {ended.message}")
    if report.when == "teardown" and report.passed and ENDED in item.stash:
        ended = item.stash[ENDED]  # JUnit takes a testcase's properties from its teardown
    elif report.when == "call" or not report.passed:
        item.stash[ENDED] = ended
    report.user_properties += [
        ("item", item.stash[ITEM_ID]), ("host", str(target) if target is not None else "-"),
        ("outcome", ended.outcome), ("message", shown(run.redactor.text(ended.message))),
        ("manual", "yes" if item.get_closest_marker("manual") else "no"),
    ]
    return report


def plain_findings(config: pytest.Config) -> bool:
    """A finding, or a host maintcheck could not look at, is shown as its lines without a
    traceback, unless --tb or -l (--showlocals) asks for one; a bug in a check keeps pytest's."""
    return config.getoption("tbstyle", "auto") == "auto" and not config.getoption(
        "showlocals", False)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    props = dict(getattr(report, "user_properties", ()))  # collect reports have none
    return outcomes.teststatus(props.get("outcome"), report.when or "")


@pytest.hookimpl(specname="pytest_report_teststatus", wrapper=True)
def pytest_report_teststatus_with_item(report: pytest.TestReport,
                                       config: pytest.Config) -> Generator[None, Any, Any]:
    """With -v, each check's line carries its checklist line: ``PASSED 2.2 System resources``.
    (Not without: pytest's short summary would cut the finding to make room.)"""
    status = yield
    run = config.stash.get(RUN, None)
    item_id = str(dict(getattr(report, "user_properties", ())).get("item", ""))
    if run is None or not item_id or not status or not status[2] or config.get_verbosity() < 1:
        return status
    return outcomes.labelled(status, item_id, printable(run.catalog[item_id].title))


def pytest_assertrepr_compare(op: str, left: object, right: object) -> list[str] | None:
    """``assert findings == []`` fails with the host and what was found, one per line."""
    from maintcheck.assess import Findings

    if isinstance(left, Findings) and op == "==" and right == []:
        # the first line is what pytest's short summary shows: the findings themselves
        return [f"{left.host}: {len(left)} finding(s): {'; '.join(left)}",
                *(f"  {f}" for f in left)]
    return None
