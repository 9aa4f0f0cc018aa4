"""Fleet-scale speed: ``pytest checks/pre`` beside plain testinfra and the ssh floor.

    .venv/bin/python bench/run.py [--hosts 10,50,200]      # root: it boots the hosts (make bench)

For each N it boots N bare hosts (sshd only, tests/fleet/bare.py) in a free fleet slot and
measures, with a and c interleaved and repeated (the median is shown):

  a  ``pytest checks/pre --no-prompt`` against the N hosts, wall time, reports written;
  b  the same host-level facts as plain testinfra tests with testinfra's defaults
     (bench/testinfra_equivalent/test_plain.py), once; above ``--testinfra-sample`` hosts it
     runs on that many and scales linearly (testinfra runs one host after another), and says so;
  c  the floor: one ``ssh host true`` per host, all started at once.

a/c is the median of each round's ratio. It also measures ``--collect-only`` (start-up and
collection), where a's time went (bench/stopwatch.py marks the phases: launch to the first probe,
the checks, the report writing), the probe's wall time (from the evidence's audit log) and so
a minus the probe, the peak memory of the pytest process tree (the sum of the RSS of pytest and
every ssh it started, ControlMaster processes included) and the load average. With ``--cpus 0``
everything (the hosts, a, b and c) runs on those CPUs only: how a/c depends on the cores. Every
host is torn down at the end, also on error or Ctrl-C; a crashed run's leftovers go with the
next run in that slot (or ``python -m fleet clean``).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fleet import FleetError, preflight
from fleet.bare import BareFleet, bare_spec

VENV_BIN = Path(sys.executable).parent
PLAIN = ROOT / "bench" / "testinfra_equivalent" / "test_plain.py"
PAGE = os.sysconf("SC_PAGE_SIZE")
PR_SET_CHILD_SUBREAPER = 36
POLL = 0.05  # seconds between memory samples (a run's end is seen at once, by its pidfd)
PSS_EVERY = 5
STOPWATCH_ENV = "MAINTCHECK_BENCH_TIMING"  # bench/stopwatch.py writes the run's phase times there


def say(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# --- measuring one process tree ----------------------------------------------------------------

@dataclass
class Measured:
    """One timed run: wall seconds, exit status, peak memory, CPU of the waited tree."""

    seconds: float
    status: int
    peak_tree_rss: int = 0  # bytes: the sum of RSS over the tree, sampled every POLL seconds
    peak_tree_pss: int = 0  # bytes: the sum of PSS (shared pages split), every PSS_EVERY polls
    max_rss: int = 0  # bytes: the largest single process (getrusage of the waited child)
    cpu_seconds: float = 0.0
    started_at: float = 0.0  # time.time() at launch and at exit, to line up with the run's own
    ended_at: float = 0.0


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's), read from /proc."""
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                out += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text()
                        .split()]
    return out


def tree(roots: Sequence[int]) -> set[int]:
    seen: set[int] = set()
    todo = list(roots)
    for _ in range(100_000):  # bounded walk
        if not todo:
            break
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo += children(pid)
    return seen


def rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def pss(pid: int) -> int:
    """Proportional set size: each shared page counted once over all who share it."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


class Adopted:
    """Processes that our children orphaned (ssh ControlMasters daemonize) and we adopted.

    The bench is a child subreaper, so a daemonized ssh master is re-parented to it and is still
    counted in the tree it came from; ``kill_all`` ends the ones still running after a run.
    """

    def __init__(self, fleet_pids: set[int]) -> None:
        self.fleet_pids = fleet_pids  # our other children: the fleet's host launchers
        self.pids: set[int] = set()

    def current(self, exclude: int) -> list[int]:
        found = [p for p in children(os.getpid()) if p not in self.fleet_pids and p != exclude]
        self.pids.update(found)
        return found

    def kill_all(self) -> None:
        for pid in sorted(self.pids):
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
        self.pids.clear()


def measure(argv: Sequence[str], *, timeout: float, adopted: Adopted, log: Path | None = None,
            env: dict[str, str] | None = None, memory: bool = False) -> Measured:
    """Run ``argv`` and time it; with ``memory``, sample its tree's memory (bounded).

    Sampling walks /proc every POLL seconds on the same two cores: timed runs do not sample.
    The end is seen when it happens (the process's pidfd turns readable), not at the next poll:
    polling would add half a POLL to every timed run on average.
    """
    out = log.open("wb") if log else subprocess.DEVNULL
    started_at, started = time.time(), time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    pidfd = os.pidfd_open(proc.pid)
    deadline = started + timeout
    peak = peak_pss = 0
    try:
        for n in range(int(timeout / POLL) + 2):  # bounded: a poll ends each turn, at the latest
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                seconds = time.monotonic() - started
                proc.returncode = os.waitstatus_to_exitcode(status)
                return Measured(seconds, proc.returncode, peak, peak_pss, usage.ru_maxrss * 1024,
                                usage.ru_utime + usage.ru_stime, started_at, time.time())
            if memory:
                pids = tree([proc.pid, *adopted.current(exclude=proc.pid)])
                peak = max(peak, sum(rss(p) for p in pids))
                if n % PSS_EVERY == 0:  # smaps_rollup costs more: sampled less often
                    peak_pss = max(peak_pss, sum(pss(p) for p in pids))
            left = deadline - time.monotonic()
            if left <= 0:
                break
            # until it ends, or the next sample is due
            select.select([pidfd], [], [], min(POLL, left) if memory else left)
        raise TimeoutError(f"{argv[0]} ran past {timeout:.0f} s")
    finally:
        os.close(pidfd)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the session we started, by its id
            proc.wait(timeout=30)
        if log:
            out.close()  # type: ignore[union-attr]


# --- the three measurements --------------------------------------------------------------------

def floor(fleet: BareFleet) -> tuple[float, float]:
    """(c) one ``ssh host true`` per host, all at once: wall seconds and the hosts' CPU seconds."""
    argv = fleet.ssh_argv()
    cpu0 = host_cpu(fleet)
    started = time.monotonic()
    procs = [subprocess.Popen([*argv, f"root@{h.ip}", "true"], stdin=subprocess.DEVNULL)
             for h in fleet.hosts.values()]
    try:
        codes = [p.wait(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                p.wait(timeout=30)
    seconds = time.monotonic() - started
    if any(codes):
        raise RuntimeError(f"the floor failed on {sum(1 for c in codes if c)} hosts")
    return seconds, host_cpu(fleet) - cpu0


def fleet_tasks(fleet: BareFleet) -> set[int]:
    """Every thread of the fleet's hosts (sshd, ...), from their cgroups (v1 and v2)."""
    found: set[int] = set()
    for cg in fleet._cg_slot:
        for listing in [*cg.rglob("tasks"), *cg.rglob("cgroup.threads")]:
            with contextlib.suppress(OSError, ValueError):
                found.update(int(t) for t in listing.read_text().split())
    return found


def pin(fleet: BareFleet, cpus: set[int]) -> int:
    """Run the fleet's hosts and this benchmark, so a, b and c too, on ``cpus`` only; how many
    of the fleet's threads were pinned. What the hosts start later inherits it from sshd."""
    os.sched_setaffinity(0, cpus)
    pinned = 0
    for task in fleet_tasks(fleet):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(task, cpus)
            pinned += 1
    return pinned


def host_cpu(fleet: BareFleet) -> float:
    """CPU seconds used so far by every process of the fleet's hosts (sshd, the probe, ...)."""
    for cg in fleet._cg_slot:  # cgroup v1: cpuacct
        if (cg / "cpuacct.usage").exists():
            return int((cg / "cpuacct.usage").read_text()) / 1e9
    for cg in fleet._cg_slot:  # cgroup v2
        stat = cg / "cpu.stat"
        if stat.exists() and "usage_usec " in stat.read_text():
            return int(stat.read_text().split("usage_usec ", 1)[1].split()[0]) / 1e6
    return float("nan")


def suite_argv(inventory: Path, reports: Path, concurrency: int, extra: Sequence[str]
               ) -> list[str]:
    return [str(VENV_BIN / "pytest"), "checks/pre", "--inventory", str(inventory),
            "--no-prompt", "-o", f"maintcheck_reports={reports}", "-q",
            "--concurrency", str(concurrency), *extra]


@dataclass
class SuiteRun:
    measured: Measured
    probe_seconds: float
    outcomes: dict[str, int]
    host_cpu: float  # seconds, all hosts together
    phases: dict[str, float] = field(default_factory=dict)  # seconds; see phases()


def suite(fleet: BareFleet, concurrency: int, extra: Sequence[str], adopted: Adopted,
          workdir: Path, *, memory: bool = False) -> SuiteRun:
    """(a) the pre suite against the fleet, in a throwaway reports folder."""
    reports = Path(tempfile.mkdtemp(prefix="reports-", dir=workdir))
    argv = [*suite_argv(fleet.inventory_path, reports, concurrency, extra), "-p", "stopwatch"]
    marks = reports / "stopwatch.json"
    env = {**os.environ, STOPWATCH_ENV: str(marks), "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "bench"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cpu0 = host_cpu(fleet)
    m = measure(argv, timeout=900, adopted=adopted, log=reports / "pytest.log", memory=memory,
                env=env)
    cpu = host_cpu(fleet) - cpu0
    evidence = next(reports.glob("*/pre.json"), None)
    if evidence is None or not marks.exists():
        raise RuntimeError(f"no evidence or no timings written; see {reports / 'pytest.log'}")
    doc = json.loads(evidence.read_text())
    outcomes = {k: v for k, v in doc["summary"]["outcomes"].items() if v}
    return SuiteRun(m, probe_wall(doc["audit"]), outcomes, cpu,
                    phases(m, json.loads(marks.read_text()), doc["audit"]))


def phases(m: Measured, marks: dict[str, float], audit: dict[str, list[dict[str, Any]]]
           ) -> dict[str, float]:
    """Where a run's wall time went, in seconds: ``startup`` from launch to the first probe
    sent; ``checks`` from the first check to the last; ``reports`` from then to the exit
    (evidence, baseline, pytest-html, JUnit, signature, closing the connections)."""
    first = min((start for start, _ in probe_spans(audit)), default=marks["configured"])
    return {"startup": first - m.started_at, "checks": marks["reports"] - marks["checks"],
            "reports": m.ended_at - marks["reports"]}


def probe_spans(audit: dict[str, list[dict[str, Any]]]) -> list[tuple[float, float]]:
    """When each probe the audit log records was sent and answered, as Unix times."""
    spans = []
    for entries in audit.values():
        for e in entries:
            if e.get("probe") and "seconds" in e:
                start = datetime.fromisoformat(e["at"]).timestamp()
                spans.append((start, start + float(e["seconds"])))
    return spans


def probe_wall(audit: dict[str, list[dict[str, Any]]]) -> float:
    """From the first probe sent to the last one answered, in seconds."""
    spans = probe_spans(audit)
    if not spans:
        return 0.0
    return max(end for _, end in spans) - min(start for start, _ in spans)


def collect_only(fleet: BareFleet, concurrency: int, adopted: Adopted, workdir: Path, *,
                 env: dict[str, str] | None = None) -> float:
    reports = Path(tempfile.mkdtemp(prefix="collect-", dir=workdir))
    argv = [*suite_argv(fleet.inventory_path, reports, concurrency, ()), "--collect-only"]
    return measure(argv, timeout=300, adopted=adopted, env=env).seconds


def warm_up(fleet: BareFleet, adopted: Adopted, workdir: Path) -> None:
    """One --collect-only that may write bytecode: pytest caches its rewritten modules as it
    does on any machine after the first run (PYTHONDONTWRITEBYTECODE would make every run
    rewrite ~140 modules of the plugins' packages again, ~0.6 s)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    collect_only(fleet, 32, adopted, workdir, env=env)


def testinfra(fleet: BareFleet, sample: int, adopted: Adopted, workdir: Path
              ) -> tuple[Measured, int, dict[str, int]]:
    """(b) the plain testinfra suite on the first ``sample`` hosts; its run and outcome counts."""
    names = list(fleet.hosts)[:sample]
    junit = workdir / f"testinfra-{len(fleet.hosts)}.xml"
    argv = [str(VENV_BIN / "pytest"), str(PLAIN), "--ansible-inventory",
            str(fleet.inventory_path), "--hosts", ",".join(f"ansible://{n}" for n in names),
            "-q", f"--junitxml={junit}"]
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}
    m = measure(argv, timeout=7200, adopted=adopted, env=env,
                log=workdir / f"testinfra-{len(fleet.hosts)}.log")
    suite_node = ElementTree.parse(junit).getroot().find("testsuite") if junit.exists() else None
    counts = {k: int(suite_node.get(k, -1)) if suite_node is not None else -1
              for k in ("tests", "failures", "errors", "skipped")}
    return m, len(names), counts


# --- one fleet size ----------------------------------------------------------------------------

@dataclass
class Row:
    hosts: int
    concurrency: int
    a: float
    c: float
    b: float | None = None
    b_sampled_hosts: int = 0
    b_outcomes: dict[str, int] = field(default_factory=dict)
    a_runs: list[float] = field(default_factory=list)
    c_runs: list[float] = field(default_factory=list)
    peak_tree_rss: int = 0
    pytest_max_rss: int = 0
    a_cpu_seconds: float = 0.0
    probe_seconds: float = 0.0
    collect_seconds: float = 0.0
    outcomes: dict[str, int] = field(default_factory=dict)
    boot_seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)
    peak_tree_pss: int = 0
    a_host_cpu: float = 0.0  # seconds per host, host side (sshd, probe)
    c_host_cpu: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # of the median a: see phases()
    cpus: list[int] = field(default_factory=list)  # --cpus: every run on these only

    @property
    def a_over_c(self) -> float:
        """The median of each round's a/c: a and c are measured in turns, and the machine's
        speed drifts between rounds (seen here: the same floor 3.1 s, then 4.6 s)."""
        return statistics.median(a / c for a, c in zip(self.a_runs, self.c_runs, strict=True))

    @property
    def b_over_a(self) -> float | None:
        return None if self.b is None else self.b / self.a

    @property
    def overhead(self) -> float:
        """a minus the probe: what pytest adds before the first probe and after the last
        answer, running the checks included."""
        return self.a - self.probe_seconds

    @property
    def own(self) -> float:
        """pytest's own start-up, collection and report writing: ``--collect-only`` (start-up
        and collection, nothing probed) plus the run's report writing."""
        return self.collect_seconds + self.phases.get("reports", 0.0)


def wait_for_quiet(max_load: float, patience: float) -> float:
    """Wait (bounded) until the 1-minute load is below ``max_load``; return the load seen."""
    deadline = time.monotonic() + patience
    for _ in range(int(patience / 5) + 1):
        load = os.getloadavg()[0]
        if load < max_load or time.monotonic() >= deadline:
            break
        say(f"load {load:.2f} >= {max_load}: waiting for a quieter machine")
        time.sleep(5)
    load = os.getloadavg()[0]
    if load >= max_load:
        say(f"measuring anyway at load {load:.2f}: the figures will be noisy")
    return load


def bench_size(n: int, args: argparse.Namespace, workdir: Path) -> list[Row]:
    rows: list[Row] = []
    say(f"booting {n} bare hosts (a first run on this machine builds the base image first)")
    with BareFleet(bare_spec(n), verbose=args.verbose) as fleet:
        say(f"{n} hosts up in {fleet.boot_seconds:.1f} s (slot {fleet.slot}, {fleet.addr.network})")
        adopted = Adopted({h.launcher.pid for h in fleet.hosts.values() if h.launcher})
        if args.cpus:
            say(f"on CPUs {cpu_list(args.cpus)} only: the {pin(fleet, args.cpus)} threads of the "
                "hosts, this benchmark, and so a, b and c")
        try:
            warm_up(fleet, adopted, workdir)
            for conc in args.concurrency:
                row = measure_setting(fleet, conc, args, adopted, workdir)
                if not args.skip_testinfra and not rows:
                    m, hosts_run, counts = testinfra(fleet, args.testinfra_sample, adopted,
                                                     workdir)
                    row.b = m.seconds * n / hosts_run
                    row.b_sampled_hosts, row.b_outcomes = hosts_run, counts
                    adopted.kill_all()
                elif rows:  # testinfra has no --concurrency: measured once per size
                    row.b, row.b_sampled_hosts = rows[0].b, rows[0].b_sampled_hosts
                rows.append(row)
                print_row(row)
        finally:
            adopted.kill_all()
            say(f"tearing down the {n} hosts")
    return rows


def measure_setting(fleet: BareFleet, conc: int, args: argparse.Namespace, adopted: Adopted,
                    workdir: Path) -> Row:
    """a and c, interleaved and repeated; one more a for memory; --collect-only."""
    n = len(fleet.hosts)
    load0 = wait_for_quiet(args.max_load, args.patience)
    floor(fleet)  # warm-up: caches, ARP, sshd's first forks
    c_runs: list[tuple[float, float]] = []
    suites: list[SuiteRun] = []
    for _ in range(args.repeat):
        c_runs.append(floor(fleet))
        suites.append(suite(fleet, conc, args.pytest_args, adopted, workdir))
        adopted.kill_all()  # ControlMasters a run may have left: not the next one's
    mid = sorted(suites, key=lambda r: r.measured.seconds)[len(suites) // 2]
    memory = suite(fleet, conc, args.pytest_args, adopted, workdir, memory=True).measured
    adopted.kill_all()
    return Row(
        n, conc, a=mid.measured.seconds, c=statistics.median(c for c, _ in c_runs),
        a_runs=[r.measured.seconds for r in suites], c_runs=[c for c, _ in c_runs],
        peak_tree_rss=memory.peak_tree_rss, peak_tree_pss=memory.peak_tree_pss,
        pytest_max_rss=max(memory.max_rss, *(r.measured.max_rss for r in suites)),
        a_cpu_seconds=mid.measured.cpu_seconds, probe_seconds=mid.probe_seconds,
        outcomes=mid.outcomes, boot_seconds=fleet.boot_seconds or 0.0,
        a_host_cpu=statistics.median(r.host_cpu for r in suites) / n,
        c_host_cpu=statistics.median(cpu for _, cpu in c_runs) / n,
        collect_seconds=statistics.median(collect_only(fleet, conc, adopted, workdir)
                                          for _ in range(3)),
        load=(load0, os.getloadavg()[0]), phases=mid.phases, cpus=sorted(args.cpus or ()))


# --- output ------------------------------------------------------------------------------------

def mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def print_row(r: Row) -> None:
    b = "skipped" if r.b is None else f"{r.b:.1f} s" + (
        f" (extrapolated from {r.b_sampled_hosts} hosts)" if r.b_sampled_hosts < r.hosts else "")
    say(f"N={r.hosts} concurrency={r.concurrency}: a={r.a:.2f} s (runs "
        f"{', '.join(f'{x:.2f}' for x in r.a_runs)}), c={r.c:.2f} s (runs "
        f"{', '.join(f'{x:.2f}' for x in r.c_runs)}), b={b}; probe {r.probe_seconds:.2f} s, "
        f"collect-only {r.collect_seconds:.2f} s, phases of a "
        f"{', '.join(f'{k} {v:.2f} s' for k, v in r.phases.items())}, host CPU per host "
        f"{1000 * r.a_host_cpu:.0f} ms (a) / {1000 * r.c_host_cpu:.0f} ms (c), "
        f"outcomes {r.outcomes}" + (f", testinfra {r.b_outcomes}" if r.b_outcomes else ""))


def table(rows: list[Row]) -> str:
    head = ("| N | a: maintcheck | b: testinfra | c: ssh floor | a/c | b/a | peak memory "
            "(RSS sum / PSS sum / pytest) | a per host | pytest's own: collect-only + reports | "
            "a: to first probe / checks | a minus probe | host CPU per host (a / c) | load |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        b = "—" if r.b is None else f"{r.b:.0f} s" + ("*" if r.b_sampled_hosts < r.hosts else "")
        ba = "—" if r.b_over_a is None else f"{r.b_over_a:.0f}"
        conc = "" if r.concurrency == 32 else f" (concurrency {r.concurrency})"
        conc += f" (CPUs {cpu_list(r.cpus)})" if r.cpus else ""
        lines.append(
            f"| {r.hosts}{conc} | {r.a:.2f} s | {b} | {r.c:.2f} s | {r.a_over_c:.2f} | {ba} | "
            f"{mib(r.peak_tree_rss)} / {mib(r.peak_tree_pss)} / {mib(r.pytest_max_rss)} | "
            f"{1000 * r.a / r.hosts:.0f} ms | {r.own:.2f} s ({r.collect_seconds:.2f} + "
            f"{r.phases.get('reports', 0):.2f}) | {r.phases.get('startup', 0):.2f} / "
            f"{r.phases.get('checks', 0):.2f} s | {r.overhead:.2f} s | "
            f"{1000 * r.a_host_cpu:.0f} / {1000 * r.c_host_cpu:.0f} ms | "
            f"{r.load[0]:.2f}→{r.load[1]:.2f} |")
    sampled = [r.b_sampled_hosts for r in rows if r.b is not None and r.b_sampled_hosts < r.hosts]
    if sampled:
        lines.append(f"\n\\* extrapolated linearly from a run on the first {min(sampled)} hosts "
                     "(testinfra checks one host after another)")
    return "\n".join(lines)


@dataclass(frozen=True)
class Goal:
    """A goal of issue 9: ``Goal("a/c", 50, "<= 1.5", ...)``."""

    name: str
    hosts: int
    target: str
    value: Callable[[Row], float | None]
    met: Callable[[float], bool]
    shown: str = "{:.2f}"


GOALS = (
    Goal("a/c", 50, "<= 1.5", lambda r: r.a_over_c, lambda v: v <= 1.5),
    Goal("b/a", 50, ">= 30", lambda r: r.b_over_a, lambda v: v >= 30, "{:.0f}"),
    Goal("peak RSS of the pytest tree", 200, "< 1024 MiB",
         lambda r: r.peak_tree_rss / 2**20, lambda v: v < 1024, "{:.0f} MiB"),
    Goal("pytest's own start-up, collection and report writing", 200, "< 2 s",
         lambda r: r.own, lambda v: v < 2, "{:.2f} s"),
)


def verdicts(rows: list[Row]) -> list[str]:
    out = []
    for goal in GOALS:
        row = next((r for r in rows if r.hosts == goal.hosts), None)
        value = goal.value(row) if row else None
        verdict = ("not measured" if value is None else
                   f"{goal.shown.format(value)} {'met' if goal.met(value) else 'MISSED'}")
        out.append(f"goal: {goal.name} at {goal.hosts} hosts {goal.target}: {verdict}")
    return out


# --- main --------------------------------------------------------------------------------------

def int_list(text: str) -> list[int]:
    values = [int(x) for x in text.split(",") if x.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a comma list of positive integers")
    return values


def cpu_set(text: str) -> set[int]:
    """``0`` or ``0,1``: CPUs this machine has."""
    try:
        cpus = {int(x) for x in text.split(",") if x.strip()}
    except ValueError:
        cpus = set()
    if not cpus or not cpus <= os.sched_getaffinity(0):
        raise argparse.ArgumentTypeError(
            f"{text!r}: a comma list of CPUs this process may use "
            f"({cpu_list(os.sched_getaffinity(0))})")
    return cpus


def cpu_list(cpus: Iterable[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench/run.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int_list, default=[10, 50, 200],
                    help="fleet sizes, at most 200 (default 10,50,200)")
    ap.add_argument("--concurrency", type=int_list, default=[32],
                    help="maintcheck --concurrency values to measure (default 32)")
    ap.add_argument("--repeat", type=int, default=5, help="runs of a and c per size (median)")
    ap.add_argument("--testinfra-sample", type=int, default=50,
                    help="run testinfra on at most this many hosts and scale (default 50)")
    ap.add_argument("--skip-testinfra", action="store_true", help="do not measure b")
    ap.add_argument("--cpus", type=cpu_set, help="run everything on these CPUs only, e.g. 0: "
                    "how a/c changes with the cores (default: every CPU)")
    ap.add_argument("--pytest-args", default="", help="extra arguments for (a), e.g. '-n 2'")
    ap.add_argument("--max-load", type=float, default=1.0,
                    help="wait for the 1-minute load to drop below this (default 1.0)")
    ap.add_argument("--patience", type=float, default=300,
                    help="seconds to wait for that load at most (default 300)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--verbose", action="store_true", help="show the fleet harness's output")
    args = ap.parse_args(argv)
    if max(args.hosts) > 200:
        ap.error("--hosts: at most 200 hosts per fleet")
    args.pytest_args = args.pytest_args.split()
    return args


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through every teardown


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    problems = preflight()
    if problems:
        say("cannot boot hosts here: " + "; ".join(problems))
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    # daemonized ssh ControlMasters come back to us, so their memory is counted and they end
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    rows: list[Row] = []
    say(f"load at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="maintcheck-bench-") as tmp:
        try:
            for n in args.hosts:
                rows += bench_size(n, args, Path(tmp))
        except (FleetError, RuntimeError, TimeoutError, KeyboardInterrupt) as exc:
            say(f"stopped: {exc}")
            if not rows:
                return 1
        finally:
            if rows:
                print(table(rows))
                print("\n".join(verdicts(rows)))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) | {"a_over_c": r.a_over_c,
                                                      "b_over_a": r.b_over_a,
                                                      "overhead": r.overhead, "own": r.own}
                                         for r in rows],
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
