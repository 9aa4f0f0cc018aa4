"""The probe tests' own rule: a missing service skips locally and fails under CI."""

from __future__ import annotations

import pytest
from probe_services import require


def test_a_missing_program_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="missing maintcheck-no-such-program"):
        require("maintcheck-no-such-program")


def test_a_missing_program_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require("maintcheck-no-such-program")
