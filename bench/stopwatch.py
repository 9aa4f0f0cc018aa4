"""The benchmark's stopwatch inside ``pytest checks/pre``: ``-p stopwatch`` with bench/ on the path.

It writes, to the file named by ``MAINTCHECK_BENCH_TIMING``, the wall-clock times (``time.time()``)
at which the run's phases began: configured, checks started, and reports started
(pytest_sessionfinish, before the evidence, pytest-html, JUnit and the signature are written).
The benchmark lines them up with its own start and end of the process and with the probe's
times in the evidence's audit log. It only reads the clock: the run is the same with or
without it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Generator
from pathlib import Path

import pytest

ENV = "MAINTCHECK_BENCH_TIMING"
MARKS = pytest.StashKey[dict[str, float]]()


def mark(config: pytest.Config, name: str) -> None:
    config.stash.setdefault(MARKS, {}).setdefault(name, time.time())


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    mark(config, "configured")


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    mark(session.config, "checks")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, None, None]:
    mark(session.config, "reports")  # outermost: before maintcheck, pytest-html and JUnit write
    return (yield)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    where = os.environ.get(ENV)
    if where:
        Path(where).write_text(json.dumps(config.stash.get(MARKS, {})))
