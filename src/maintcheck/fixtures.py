"""The fixtures: how a check reaches its run, its host and the probes. Each one is typed, so a
check's "go to definition" lands on the code it calls."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

from maintcheck import baseline, runs
from maintcheck.baseline import Snapshot
from maintcheck.change import Change
from maintcheck.confirmations import Confirmation
from maintcheck.errors import MissingData
from maintcheck.evidence import RecordProperty
from maintcheck.facts import Facts
from maintcheck.inventory import Expectations, Host
from maintcheck.outcomes import not_applicable
from maintcheck.runner import Runner
from maintcheck.secret import HttpOptions
from maintcheck.session import Run
from maintcheck.stash import LOOKED, RUN

T = TypeVar("T")

if TYPE_CHECKING:  # imported when a check needs them: the plugin's import stays cheap
    from maintcheck.baseline import Declared
    from maintcheck.probes.http import Fetched
    from maintcheck.probes.prometheus import Target
    from maintcheck.probes.routing import Routed

@pytest.fixture(scope="session")
def maintcheck_run(request: pytest.FixtureRequest) -> Run:
    run = request.config.stash.get(RUN, None)
    if run is None:
        pytest.fail("maintcheck fixtures need a checklist run (pytest checks/...)",
                    pytrace=False)
    return run


@pytest.fixture
def record_property(request: pytest.FixtureRequest) -> RecordProperty:
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
def assess() -> ModuleType:
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



@pytest.fixture(scope="session")
def assess_services() -> ModuleType:
    """Findings for service observations: ``assess_services.certificate(...) == []``."""
    from maintcheck import assess_services as module

    return module


@pytest.fixture(scope="session")
def probes() -> ModuleType:
    """The service probes: http, tls, postgres, haproxy, prometheus."""
    from maintcheck import probes as module

    return module


@pytest.fixture
def http_options(maintcheck_run: Run, target: Host) -> HttpOptions:
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
        not_applicable("the comparison was skipped with --no-baseline")
    folder = maintcheck_run.report_dir
    return baseline.load(folder / runs.baseline_name(runs.pre_run(folder)),
                         change=maintcheck_run.change.id,
                         inventory_sha256=maintcheck_run.targets.inventory.sha256)


@pytest.fixture
def before(baseline_of_change: dict[str, Any], target: Host) -> Snapshot:
    """This host as the pre baseline saw it."""
    return baseline.before(baseline_of_change, target.name)


@pytest.fixture
def after(request: pytest.FixtureRequest, maintcheck_run: Run, target: Host,
          facts: Facts) -> Snapshot:
    """This host now, in the baseline's terms; its endpoints may be slow."""
    return once_per_probe(request, "after", target, facts, lambda: baseline.host_snapshot(
        target, facts, maintcheck_run.http_options(target),
        maintcheck_run.targets.runners[target.name]))


def once_per_probe(request: pytest.FixtureRequest, what: str, target: Host, facts: Facts,
                   look: Callable[[], T]) -> T:
    """A look at a host made once for every check that asks, per probe of the host: a --wait
    re-run probes afresh, and so looks again."""
    seen = request.config.stash.setdefault(LOOKED, {})
    if (what, target.name) not in seen or seen[what, target.name][0] is not facts:
        seen[what, target.name] = (facts, look())
    return cast(T, seen[what, target.name][1])


@pytest.fixture(scope="session")
def declared(maintcheck_run: Run) -> Declared:
    """Changes the change declares (--declare)."""
    return maintcheck_run.declared


@pytest.fixture(scope="session")
def compare() -> ModuleType:
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
def endpoints(request: pytest.FixtureRequest, target: Host, facts: Facts,
              http_options: HttpOptions) -> list[Fetched]:
    """Each declared HTTP endpoint of this host, fetched once for the checks of its status
    and of its latency: (spec, observation)."""
    from maintcheck.probes import http

    return once_per_probe(request, "endpoints", target, facts, lambda: [
        (spec, http.fetch(spec["url"], expect_contains=spec.get("contains"),
                          headers=spec.get("headers"), **http_options))
        for spec in target.expect.http])


@pytest.fixture
def routed(target: Host, http_options: HttpOptions) -> list[Routed]:
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
def journey_steps(target: Host, http_options: HttpOptions) -> list[Fetched]:
    """Every step of this host's declared journeys, fetched in order: (step, observation)."""
    from maintcheck.probes import http

    return [(step, http.fetch(step["url"], expect_contains=step.get("contains"),
                              headers=step.get("headers"), **http_options))
            for journey in target.expect.journeys for step in journey["steps"]]


@pytest.fixture
def prometheus_targets(target: Host, http_options: HttpOptions) -> list[Target]:
    """The scrape targets of the Prometheus this host declares."""
    from maintcheck.probes import prometheus

    return prometheus.targets(target.expect.prometheus_url, **http_options)


@pytest.fixture(scope="session")
def runner_of(maintcheck_run: Run) -> Callable[[str], Runner]:
    """The runner of another host by name: ``runner_of("web-01")``."""
    def find(name: str) -> Runner:
        try:
            return maintcheck_run.targets.runners[name]
        except KeyError:
            raise MissingData(f"{name} is not a selected inventory host") from None
    return find
