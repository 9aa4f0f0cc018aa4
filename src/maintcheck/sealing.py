"""Sealing a run: its manifest, signed when there is a key, once every artefact is written."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from maintcheck import journal
from maintcheck.session import Run

if TYPE_CHECKING:
    from maintcheck.signing import Signer


class Sealer:
    """Writes the run's manifest after pytest-html and JUnit, and says on the terminal how."""

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
