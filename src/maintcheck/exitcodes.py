"""One verdict, one exit status: the table the README's "Exit status" section documents.

>>> of_run("INCOMPLETE", 0)
11
"""

from __future__ import annotations

__all__ = ["BY_VERDICT", "MAX_WARNINGS", "NOT_VERIFIED", "PYTEST_OWN", "SIGNER_NOT_ESTABLISHED", "USAGE",
           "VERIFIED", "of_run"]

# pytest's own statuses keep their meaning: 2 interrupted, 3 internal error, 4 usage error,
# 5 no tests collected, 6 too many warnings (--max-warnings). 1 is pytest's "tests failed",
# which is what FAILED means here too. Ours start at 10, clear of any pytest may add.
PYTEST_OWN = frozenset({2, 3, 4, 5})
MAX_WARNINGS = 6
BY_VERDICT = {"PASSED": 0, "FAILED": 1, "ERROR": 10, "INCOMPLETE": 11}

# `maintcheck verify`
VERIFIED = 0  # intact, and signed by whom the given trust anchor says
NOT_VERIFIED = 1  # changed, forged, unsigned, or rejected by the trust anchor
USAGE = 2  # bad arguments or unreadable input (argparse's own status)
SIGNER_NOT_ESTABLISHED = 3  # intact, but no --ca or --signer says who may sign


def of_run(verdict: str, pytest_status: int) -> int:
    """The exit status of a checklist run: pytest's own when it ended abnormally, else the
    verdict's."""
    if int(pytest_status) in PYTEST_OWN:
        return int(pytest_status)
    if int(pytest_status) == MAX_WARNINGS and verdict == "PASSED":
        return MAX_WARNINGS  # the checks held, but the run asked to fail on warnings
    return BY_VERDICT[verdict]
