"""pytest wiring for the fleet: the ``fleet`` marker and the session-scoped ``fleet`` fixture.

Where the harness cannot boot (not root, no namespaces, no debootstrap), fleet tests are
skipped with the reason; under CI (``CI`` set in the environment) that skip is a failure, so
CI proves the real thing every time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .harness import Fleet, preflight
from .spec import DEMO

CI_KEY = pytest.StashKey[bool]()
BOOT_KEY = pytest.StashKey[Fleet]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fleet: needs the real fleet of booted hosts (skipped where it cannot boot; "
        "a failure when CI is set)")
    config.stash[CI_KEY] = bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def fleet_available(request: pytest.FixtureRequest) -> None:
    """Skip (or, under CI, fail) when this machine cannot boot a fleet."""
    problems = preflight()
    if problems:
        reason = "the fleet cannot boot here: " + "; ".join(problems)
        if request.config.stash[CI_KEY]:
            pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def fleet(fleet_available: None, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    """The demo fleet, booted once per session and always torn down."""
    booted = Fleet(DEMO, verbose=False)
    request.addfinalizer(booted.down)  # also on failure; up() registers atexit as well
    booted.up()
    request.config.stash[BOOT_KEY] = booted
    yield booted


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config
                            ) -> None:
    booted = config.stash.get(BOOT_KEY, None)
    if booted is not None and booted.boot_seconds is not None:
        terminalreporter.write_line(
            f"fleet: {len(booted.spec.hosts)} hosts booted in {booted.boot_seconds:.1f} s "
            f"(slot {booted.slot}, {booted.addr.network})")
