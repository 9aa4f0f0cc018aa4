"""The repository's root conftest: loaded by every pytest run started here.

The checklist's machinery is the ``maintcheck`` plugin (``src/maintcheck/plugin.py``, loaded by
its entry point); the checks are ``checks/<phase>/test_*.py``. A team's own fixtures for its
checks belong here, or in a ``checks/conftest.py``.

What this file does itself: ``pytest .`` or ``pytest checks`` from the root never collects
the benchmark's plain-testinfra suite (it needs ``--hosts``), nor anything under the evidence
and inventory folders.
"""

collect_ignore = ["bench", "reports", "inventory", "src"]  # src: the shipped checks are linked there
