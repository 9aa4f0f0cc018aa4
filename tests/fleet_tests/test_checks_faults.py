"""Faults on the fleet, run as a user runs the checklist: no false PASS, no false FAIL, and the
run ends within a bound taken from the inventory's timeouts, with its evidence written.

Each fault is compared with the healthy run of the same phase: only the cells the fault can
honestly change may change, and only to the outcome that is true.  (A link down and a hung
sshd are proven in test_checks_unreachable.py.)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fleet import Fleet, faults, observe
from fleet import roles as r
from fleet.host import HostError, bounded_wait
from fleet_tests.checkfaults import run_in_progress, window_state
from fleet_tests.checkrun import (
    Allow,
    Expect,
    Seen,
    assert_evidence_written,
    assert_fails_exactly,
    assert_only_allowed,
    assert_unreachable,
    network_errors,
    run_checks,
    run_healthy,
    start_checks,
    unhealthy,
)

from maintcheck import inventory

pytestmark = pytest.mark.fleet
CHANGE = "CHG-FAULTS"
# What the run itself may take on this shared two-core machine beyond the fault's own cost:
# three times the healthy run, plus 20 s.
RUN_FACTOR, RUN_SLACK = 3.0, 20.0
# OpenSSH's dead-peer detection: ServerAliveInterval=5 x ServerAliveCountMax=2, plus one interval.
DEAD_PEER_SECONDS = 15.0


@dataclass(frozen=True)
class Timeouts:
    """The fleet inventory's timeouts, from which every bound below is made."""

    connect: float
    command: float
    http: float

    def refused(self) -> float:
        """A host that refuses ssh: one attempt and one retry, each at most a connect."""
        return 2 * self.connect

    def endpoint(self) -> float:
        """One HTTP call: its timeout, twice when it could not connect (one retry)."""
        return 2 * self.http

    def died(self) -> float:
        """A host that dies: a command in flight notices within the dead-peer time, then one
        retry's connect; a command sent after the death, two connects."""
        return DEAD_PEER_SECONDS + 2 * self.connect

    def degraded(self, endpoints: int) -> float:
        """A slow or lossy host: its two probes (facts, pending updates) at most a command's
        bound each (README: command_timeout + 15 s), and each endpoint an HTTP call."""
        return 2 * (self.command + 15) + endpoints * self.endpoint()


@pytest.fixture(scope="module")
def timeouts(fleet: Fleet) -> Timeouts:
    e = inventory.load(fleet.inventory_path).hosts[0].expect
    return Timeouts(float(e.connect_timeout), float(e.command_timeout), float(e.http_timeout))


def endpoints_of(fleet: Fleet, host: str) -> int:
    """How many HTTP and TLS endpoints the inventory declares on ``host`` (journey steps too)."""
    e = next(h for h in inventory.load(fleet.inventory_path).hosts if h.name == host).expect
    return (len(e.http) + len(e.tls) + len(e.feature_flags)
            + sum(len(j["steps"]) for j in e.journeys))


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fault-evidence")


@pytest.fixture(scope="module")
def healthy_pre(fleet: Fleet, reports: Path) -> Seen:
    """checks/pre on the healthy fleet; its baseline is the one the post runs compare with."""
    return run_healthy("pre", fleet.inventory_path, reports, change=CHANGE)


@pytest.fixture(scope="module")
def healthy_post(fleet: Fleet, reports: Path, healthy_pre: Seen) -> Seen:
    seen = run_checks("post", fleet.inventory_path, reports, change=CHANGE)
    assert unhealthy(seen, "post") == [], seen.explain()
    return seen


def bounded(seen: Seen, healthy: Seen, fault_cost: float) -> None:
    """The run ended within the healthy run's (generous) time plus what the fault may cost."""
    bound = RUN_FACTOR * healthy.seconds + RUN_SLACK + fault_cost
    assert seen.seconds < bound, (f"the run took {seen.seconds:.1f} s, bound {bound:.1f} s "
                                  f"(fault cost {fault_cost:.0f} s)")
    print(f"run took {seen.seconds:.1f} s (healthy {healthy.seconds:.1f} s, bound {bound:.1f} s)")


# --- sshd stopped ------------------------------------------------------------------------------

def test_sshd_stopped_makes_its_host_errors_with_one_cause(
        fleet: Fleet, healthy_pre: Seen, reports: Path, timeouts: Timeouts) -> None:
    """ssh.service stopped on web-02; its socket unit is not active, so port 22 refuses."""
    web = fleet.host("web-02")
    # Debian enables ssh.service, not ssh.socket: nothing would start sshd on a connection.
    assert observe.unit_state(web, "ssh.socket") == "inactive"
    with faults.stop_unit(fleet, "web-02", "ssh"):
        with pytest.raises(ConnectionRefusedError):
            observe.tcp_greeting(web.ip, 22)
        seen = run_checks("pre", fleet.inventory_path, reports, change="CHG-FAULT-SSHD")
    assert list(seen.document["unreachable"]) == ["web-02"]
    assert "refused" in seen.document["unreachable"]["web-02"]
    assert_unreachable(seen, "web-02")
    assert_fails_exactly(healthy_pre, seen, [
        Expect(c.item, "web-02", ("connection refused",), outcome="error")
        for c in healthy_pre.automated() if c.host == "web-02"])
    assert_evidence_written(reports, "CHG-FAULT-SSHD", "pre")
    bounded(seen, healthy_pre, timeouts.refused())


# --- services down: the instrument (ERROR) versus the subject (FAIL) ---------------------------

@dataclass(frozen=True)
class Down:
    """A service stopped, and exactly what each phase must then report."""

    id: str
    host: str
    unit: str
    pre: tuple[Expect, ...]
    during: tuple[Expect, ...]
    post: tuple[Expect, ...]


PROMETHEUS_REFUSES = ("9090", "connection refused")
DOWN = [
    # Prometheus is how 2.5, 6.1, 6.2 and 7.3 look at the fleet: it refusing is "could not
    # check" (ERROR).  Its own unit and port are what 7.1 checks: stopped, they FAIL.
    Down("prometheus-down", "mon-01", "prometheus",
         pre=(Expect("2.5", "mon-01", PROMETHEUS_REFUSES, outcome="error"),),
         during=(Expect("6.1", "mon-01", PROMETHEUS_REFUSES, outcome="error"),
                 Expect("6.2", "mon-01", PROMETHEUS_REFUSES, outcome="error")),
         post=(Expect("7.1", "mon-01", ("prometheus", "inactive", "expected active", "9090")),
               Expect("7.3", "mon-01", PROMETHEUS_REFUSES, outcome="error"))),
    # The database is what 2.3 checks: psql on db-01 finds no server on its socket, a fact
    # about the system (FAIL), as is the replica's WAL receiver having nobody to stream from.
    Down("database-down", "db-01", r.PG_UNIT,
         pre=(Expect("2.3", "db-01", ("PostgreSQL is down", "Is the server running")),
              Expect("2.3", "db-02", ("WAL receiver absent", "expected streaming"))),
         # pg_isready from each declared client: nobody answers on 5432
         during=(Expect("5.2", "db-01", ("5432", "web-01", "web-02", "no response",
                                         "expected accepting connections")),),
         post=(Expect("7.1", "db-01", (r.PG_UNIT, "inactive", "expected active", "5432")),
               # the web hosts declare db-01:5432 a dependency: it really refuses them
               Expect("7.5", "web-01", ("5432", "cannot connect", "expected")),
               Expect("7.5", "web-02", ("5432", "cannot connect", "expected")),
               # a replica with no primary streams nothing: its lag cannot be had (a 0
               # would claim it replays all there is), and 8.3 names the metric it lost
               Expect("8.3", "db-02", ("replication lag s", "missing now")))),
]


@pytest.fixture(scope="module")
def healthy_during(fleet: Fleet, reports: Path) -> Seen:
    """checks/during on the healthy fleet in its window state."""
    with window_state(fleet):
        seen = run_checks("during", fleet.inventory_path, reports, change=CHANGE)
    assert unhealthy(seen, "during") == [], seen.explain()
    return seen


@pytest.mark.parametrize("phase", ["pre", "during", "post"])
@pytest.mark.parametrize("down", [pytest.param(d, id=d.id) for d in DOWN])
def test_service_down_errors_what_reads_through_it_and_fails_its_unit(
        fleet: Fleet, request: pytest.FixtureRequest, reports: Path, timeouts: Timeouts,
        down: Down, phase: str) -> None:
    healthy: Seen = request.getfixturevalue(f"healthy_{phase}")
    # pre runs under their own change, so that the baseline post compares with stays healthy
    change = f"CHG-FAULT-{down.id}" if phase == "pre" else CHANGE
    with contextlib.ExitStack() as held:
        if phase == "during":
            held.enter_context(window_state(fleet))
        held.enter_context(faults.stop_unit(fleet, down.host, down.unit))
        seen = run_checks(phase, fleet.inventory_path, reports, change=change)
    assert seen.document["unreachable"] == {}
    assert_fails_exactly(healthy, seen, getattr(down, phase))
    assert_evidence_written(reports, change, phase)
    bounded(seen, healthy, endpoints_of(fleet, down.host) * timeouts.endpoint())


def test_backup_running_during_the_run_is_an_error_not_a_failure(
        fleet: Fleet, healthy_pre: Seen, reports: Path) -> None:
    """lb-01's backup runs while the checks do (the daily timer fires at midnight): systemd has
    reset its result for the new run, so how the last run ended is unknown (ERROR)."""
    change = "CHG-FAULT-BACKUP-RUNNING"
    with run_in_progress(fleet, "lb-01", "backup.service"):
        seen = run_checks("pre", fleet.inventory_path, reports, change=change)
    assert_fails_exactly(healthy_pre, seen, [
        Expect("2.4", "lb-01", ("backup.service", "running now", "known once"),
               outcome="error")])
    assert_evidence_written(reports, change, "pre")


# --- packet loss and latency --------------------------------------------------------------------

@dataclass(frozen=True)
class Degraded:
    """A slow or lossy link on web-02, held for one run of ``phase``."""

    id: str
    phase: str
    inject: Callable[[Fleet], faults.Fault]


DEGRADED = [
    Degraded("loss-30-pre", "pre", lambda fl: faults.lose_packets(fl, "web-02", 30)),
    Degraded("loss-30-post", "post", lambda fl: faults.lose_packets(fl, "web-02", 30)),
    Degraded("slow-all-pre", "pre", lambda fl: faults.slow_link(fl, "web-02")),
    Degraded("slow-443-post", "post", lambda fl: faults.slow_link(fl, "web-02", port=443)),
]
def slower(host: str) -> Allow:
    """7.2 measures latency against thresholds: slower answers FAIL it, naming the latency."""
    return Allow(host, "failed", item="7.2", any_of=("ms, was", "ms, expected at most"))


# HAProxy's own health checks of a slow or lossy web-02 may time out: the lb then really has
# web-02 out of rotation, and 2.6 (14.5 after the window) says so, naming it. Requests sent
# through the frontend (7.1) then reach web-02 no more. The other way round was seen too: with
# web-01 UP, a run of 6 requests all went to web-02 ("web/web-01: received none"), which we take
# to be HAProxy's round robin re-inserting web-02 each time it returns from a failed check.
LB_SEES_WEB_02 = Allow("lb-01", "failed", item="2.6", says=("web/web-02",))
LB_OUT_OF_ROTATION = (LB_SEES_WEB_02,
                      Allow("lb-01", "failed", item="14.5", says=("web/web-02",)),
                      Allow("lb-01", "failed", item="7.1", any_of=("web/web-02",
                                                                   "received none")))
# Prometheus scrapes web-02 over the same link: its scrape may time out, and 2.5 says so.
PROMETHEUS_SEES_WEB_02 = Allow("mon-01", "failed", item="2.5", says=("web-02",))
NO_ANSWER = ("no answer within", "connection reset", "connection closed", "connection refused",
             "tls handshake")


def no_answer(host: str) -> tuple[Allow, ...]:
    """A request to ``host``'s service (or through the lb to it) that got no answer in time
    is the service failing, as its users see it: the check FAILS naming why, and the metric it
    lost before-and-after is missing now (8.3, 13.6)."""
    return (Allow(host, "failed", any_of=NO_ANSWER),
            Allow(host, "failed", item="8.3", says=("missing now",)),
            Allow(host, "failed", item="13.6", says=("not now",)))


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in DEGRADED])
def test_lossy_or_slow_host_is_never_a_false_fail(
        fleet: Fleet, healthy_pre: Seen, healthy_post: Seen, reports: Path, timeouts: Timeouts,
        case: Degraded) -> None:
    """Every check of web-02 passes (TCP retransmits) or is an ERROR naming a timeout or a
    connection failure; elsewhere only an honest, named finding may change."""
    healthy = healthy_pre if case.phase == "pre" else healthy_post
    change = f"CHG-FAULT-{case.id}" if case.phase == "pre" else CHANGE
    with case.inject(fleet):
        seen = run_checks(case.phase, fleet.inventory_path, reports, change=change)
    changed = assert_only_allowed(healthy, seen, [
        network_errors("web-02"), *LB_OUT_OF_ROTATION, PROMETHEUS_SEES_WEB_02,
        # web-02's answers, and the lb's when it hands the request to web-02
        slower("web-02"), slower("lb-01"), *no_answer("web-02"), *no_answer("lb-01")])
    print("changed:\n" + seen.explain(changed))
    assert_evidence_written(reports, change, case.phase)
    bounded(seen, healthy, timeouts.degraded(endpoints_of(fleet, "web-02")))


# --- a host killed mid-run (last: the revived host is rebuilt) --------------------------------

def at(entry: dict[str, object]) -> dt.datetime:
    return dt.datetime.strptime(str(entry["at"]), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


@pytest.fixture
def killed(fleet: Fleet) -> Iterator[dict[str, faults.Fault]]:
    """Where a test keeps its faults, undone whatever happens (the host revived or its link
    back), in the order they were made: a slow link first, or the ssh output still queued
    behind it would hold up the link's return."""
    held: dict[str, faults.Fault] = {}
    yield held
    for fault in held.values():
        with contextlib.suppress(HostError):  # a killed host took its slow link with it
            fault.revert()
    for fault in held.values():
        fault.undo()  # what is left to revert, then a healthy fleet


def sending(fleet: Fleet, host: str) -> bool:
    """Whether ``host``'s sshd has output queued on a connection (its Send-Q is not empty)."""
    out = fleet.host(host).exec(["ss", "-tnH", "state", "established", "( sport = :22 )"],
                                check=False).stdout
    return any(len(p) > 1 and p[1].isdigit() and int(p[1]) > 0
               for p in (line.split() for line in out.splitlines()))


def test_host_killed_mid_run(fleet: Fleet, healthy_pre: Seen, reports: Path,
                             timeouts: Timeouts, killed: dict[str, faults.Fault]) -> None:
    """web-02 is killed once its facts are in: checks evaluated from those facts keep their
    outcome (the audit log dates the probe, before the death), what needed web-02 afterwards
    is an ERROR, the host is listed unreachable, the verdict is not PASSED, the baseline leaves it
    out, and the run ends in bounded time with its evidence."""
    change = "CHG-FAULT-KILL"
    with start_checks("pre", fleet.inventory_path, reports, change=change) as running:
        # Facts are gathered for every host at once, by the first check that needs them
        # (1.6): once web-02's 1.6 result is printed, its probe has answered.
        running.wait_for_line(lambda line: "test_newest_backups_are_recent_and_intact[web-02]"
                              in line and line.rstrip().endswith("%]"), timeout=120)
        killed_at = dt.datetime.now(dt.UTC)
        killed["web-02"] = faults.kill_host(fleet, "web-02")
        seen = running.finish()
    audit = seen.document["audit"]["web-02"]
    probe, after = audit[0], [e for e in audit if at(e) >= killed_at]
    assert probe.get("probe") and probe["outcome"] == "ran" and at(probe) < killed_at, audit
    # the pending-update probe (12.1) was sent after the death, and could not be answered
    assert after and all(e["outcome"] in ("connection failed", "timeout") for e in after), audit
    assert list(seen.document["unreachable"]) == ["web-02"], seen.document["unreachable"]
    mine = [c for c in seen.automated() if c.host == "web-02"]
    assert [c for c in mine if c.outcome == "failed"] == []
    assert {(c.item, c.outcome) for c in mine if c.outcome != "passed"} == {("12.1", "error")}
    assert_only_allowed(healthy_pre, seen, [
        Allow("web-02", "error", item="12.1", says=("web-02",)),
        # seen from elsewhere after the death, web-02 really is down: named, true findings
        Allow("mon-01", "failed", item="2.5", says=("web-02", "expected up")),
        LB_SEES_WEB_02,
    ])
    # never PASSED; FAILED when a check of another host ran after the death and saw it
    failed = any(c.outcome == "failed" for c in seen.automated())
    assert seen.document["verdict"] == ("FAILED" if failed else "ERROR")
    assert_evidence_written(reports, change, "pre")
    # no baseline of a host that died during the run: post says so (ERROR), never compares
    # with half a snapshot, and the run does not wait on its endpoints
    taken = json.loads((reports / change / "baseline.json").read_text())
    assert sorted(taken["hosts"]) == sorted(h for h in fleet.hosts if h != "web-02")
    bounded(seen, healthy_pre, timeouts.died())


# How a host can stop answering mid-command: killed (a crash; its kernel closes the
# connections), or its link cut (a power loss; silence, which only ssh's keepalives notice).
SILENCED = [pytest.param(faults.kill_host, id="killed"),
            pytest.param(faults.link_down, id="link-cut")]


@pytest.mark.parametrize("silence", SILENCED)
def test_host_lost_while_its_probe_answers(fleet: Fleet, healthy_pre: Seen, reports: Path,
                                           timeouts: Timeouts, killed: dict[str, faults.Fault],
                                           silence: Callable[[Fleet, str], faults.Fault]
                                           ) -> None:
    """web-02 stops answering while its probe's answer is on the wire (a 32 kbit/s link makes
    that answer take tens of seconds): ssh notices, the retry cannot connect, and every check
    of web-02 is an ERROR with that one cause, within the dead-peer bound."""
    change = f"CHG-FAULT-LOST-{silence.__name__}"
    killed["slow"] = faults.slow_link(fleet, "web-02")
    with start_checks("pre", fleet.inventory_path, reports, change=change) as running:
        # deterministic: web-02's sshd has the probe's output queued, so the command is running
        bounded_wait("web-02 sending the probe's answer", lambda: sending(fleet, "web-02"),
                     timeout=60, interval=0.2)
        killed["web-02"] = silence(fleet, "web-02")
        seen = running.finish()
    first = seen.document["audit"]["web-02"][0]
    assert first.get("probe") and first["outcome"] == "connection failed", first
    assert_unreachable(seen, "web-02")
    assert list(seen.document["unreachable"]) == ["web-02"], seen.document["unreachable"]
    assert_only_allowed(healthy_pre, seen, [
        Allow("web-02", "error", says=(seen.document["unreachable"]["web-02"],)),
        Allow("mon-01", "failed", item="2.5", says=("web-02", "expected up")),
        LB_SEES_WEB_02,
    ])
    assert_evidence_written(reports, change, "pre")
    print(f"web-02's probe: {first['cause']} after {first['seconds']} s")
    bounded(seen, healthy_pre, timeouts.died())
