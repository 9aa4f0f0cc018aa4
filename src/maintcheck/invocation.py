"""What the command line asks of a run: its phases, whether it is partial, which checks it
selects by checklist line, its options and signing key. pytest's config in, plain values out."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from maintcheck import runs, selection
from maintcheck.catalog import PHASES
from maintcheck.change import CONTACTS
from maintcheck.session import Options, Run
from maintcheck.stash import ITEM_ID, SELECTION, STDIN_TTY
from maintcheck.suite import scan

if TYPE_CHECKING:
    from maintcheck.signing import Signer

PASSPHRASE_ENV = "MAINTCHECK_SIGN_PASSPHRASE"
DEFAULT_KEY = "~/.maintcheck/operator.key"  # signing.DEFAULT_KEY, without importing cryptography


def options(config: pytest.Config, phases: frozenset[str]) -> Options:
    """The run's :class:`Options` from the command line and the ini."""
    opt = config.option
    return Options(
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


def run_phases(config: pytest.Config) -> frozenset[str]:
    """The phases a run's paths select: ``checks/pre`` is pre; ``checks`` is all three."""
    checks = checks_folder(config)
    phases: set[str] = set()
    for arg in config.args:
        path = arg_path(config, arg)
        if path == checks:
            phases.update(PHASES)
        elif checks in path.parents:
            first = path.relative_to(checks).parts[0]
            phases.update({first} & set(PHASES))
    return frozenset(phases)


def checks_folder(config: pytest.Config) -> Path:
    return (config.rootpath / str(config.getini("maintcheck_checks"))).resolve()


def arg_path(config: pytest.Config, arg: str) -> Path:
    """The path a command-line argument names (``checks/pre/test_x.py::test_y``), resolved."""
    path = Path(arg.split("::")[0])
    return (path if path.is_absolute() else Path(config.invocation_params.dir, path)).resolve()


def from_root(config: pytest.Config, value: str) -> str:
    path = Path(value)
    return str(path if path.is_absolute() else config.rootpath / path)


def whole_phases(config: pytest.Config) -> set[str]:
    """The phases whose whole folder the run names (``checks``, ``checks/pre``); a run of one
    file asks nothing beyond it."""
    return {phase for arg in config.args for phase in whole_phase_of(config, arg)}


def whole_phase_of(config: pytest.Config, arg: str) -> frozenset[str]:
    """The phases one argument names whole (``checks``: all three; ``checks/pre``: pre), or
    none when it names less (a file, a test): such a run is partial."""
    checks = checks_folder(config)
    path = arg_path(config, arg)
    if "::" in arg:
        return frozenset()
    if path == checks:
        return frozenset(PHASES)
    return frozenset({path.name}) if path.parent == checks and path.name in PHASES else frozenset()


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


def refuse_cache_options(config: pytest.Config) -> None:
    """--lf, --ff and --sw read pytest's cache, which maintcheck keeps off: say so, rather than
    run everything and call the run partial."""
    if config.pluginmanager.has_plugin("cacheprovider"):
        return
    asked = [flag for flag, dest in (("--lf", "lf"), ("--ff", "failedfirst"), ("--sw", "stepwise"),
                                     ("--nf", "newfirst")) if getattr(config.option, dest, False)]
    if asked:
        raise pytest.UsageError(f"{', '.join(asked)}: pytest's cache is off in a checklist run "
                                "(one more thing to trust); --rerun-failed runs again the failed "
                                "and errored checks of the latest run, from its evidence")


def checklist_selection(config: pytest.Config, run: Run) -> selection.Selection:
    """``--item``, ``--section`` and ``--rerun-failed`` as one :class:`Selection`; a usage
    error for an id the catalog lacks, or for nothing to re-run."""
    opt = config.option
    cells = None
    if opt.rerun_failed:
        last = runs.latest(run.report_dir, run.phase)
        if last is None:
            raise pytest.UsageError(f"--rerun-failed: no earlier {run.phase} run of change "
                                    f"{run.change.id} in {run.report_dir}")
        cells = selection.failed_cells(json.loads(last.read_text(encoding="utf-8")))
        if not cells:
            raise pytest.UsageError(f"--rerun-failed: nothing failed or errored in {last.name}")
    chosen = selection.Selection(selection.ids(opt.item), selection.ids(opt.section), cells)
    problems = selection.unknown(chosen, (i.id for i in run.catalog.items))
    problems += elsewhere(config, run, chosen.items)
    if problems:
        raise pytest.UsageError("\n".join(problems))
    return chosen


def elsewhere(config: pytest.Config, run: Run, item_ids: frozenset[str]) -> list[str]:
    """``--item 7.1`` in a pre run: 7.1 has no check and no question there; say where it has."""
    if not item_ids or not all(i in run.catalog for i in item_ids):
        return []
    checks = checks_folder(config)
    phases: dict[str, set[str]] = {i: {run.catalog[i].phase} for i in item_ids}
    for ref in scan(checks) if checks.is_dir() else []:
        if ref.item in phases:
            phases[ref.item].add(Path(ref.path).resolve().relative_to(checks).parts[0])
    if any(phases[i] & run.options.phases for i in item_ids):
        return []
    found = {i: [p for p in PHASES if p in phases[i]] for i in sorted(item_ids)}
    return [f"--item {i}: no check of it in this run's {run.phase}; it is checked in "
            f"{', '.join(where)} (pytest checks/{where[0]} --item {i})"
            for i, where in found.items() if where]


def select_by_checklist(config: pytest.Config, items: list[pytest.Item]) -> None:
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
