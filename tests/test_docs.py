"""The README documents what the code does."""

from __future__ import annotations

from pathlib import Path

from maintcheck.docs import FIELDS, expectation_fields, splice
from maintcheck.inventory import Expectations
from maintcheck.schema import VARIABLES

ROOT = Path(__file__).resolve().parents[1]


def test_readme_reference_matches_the_schema() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert splice(readme) == readme, "run: python -m maintcheck.docs"


def test_typed_expectations_match_the_schema() -> None:
    assert FIELDS.read_text(encoding="utf-8") == expectation_fields(), (
        "run: python -m maintcheck.docs")


def test_every_variable_reads_as_an_attribute() -> None:
    """No variable is hidden behind a method of the same name (``expect.items``)."""
    expect = Expectations({v.name: v.default for v in VARIABLES})
    assert [v.name for v in VARIABLES if getattr(expect, v.name) is not v.default] == []


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```")[1].splitlines()[1:]
    assert [line.split("#")[0].strip() for line in block if line.strip()] == [
        "make pre", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
