"""``maintcheck init DIR``: a team's own project, outside this repository.

>>> written = init(Path("ops-checklist"))

The project starts from what the package ships (``maintcheck/shipped/``: the checklist, its
Markdown, the checks, the example and local inventories) and from then on is the team's: they
edit ``checks/checklist.md`` and import it, keep, change or delete any check, and add their own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from maintcheck.errors import InputError

SHIPPED = Path(__file__).parent / "shipped"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
NOT_EMPTY = "not an empty folder: maintcheck init writes a new project and never overwrites one"
NOT_SHIPPED = "the shipped checklist is missing from this install of maintcheck: reinstall it"

PYTEST_INI = """\
# pytest runs the checklist in strict mode: a typo in a marker, or a selection that matches
# nothing, is an error rather than a silent green.
[pytest]
strict = true
empty_parameter_set_mark = fail_at_collect
addopts = -p no:cacheprovider --import-mode=importlib
maintcheck_inventory = inventory/local.yml
maintcheck_checklist = checks/checklist.yml
maintcheck_checks = checks
maintcheck_reports = reports
"""

CONFTEST = '''\
"""The team's fixtures for its own checks go here (or in checks/conftest.py).

maintcheck's own fixtures (target, facts, expect, runner, change, ...) come from its pytest
plugin, loaded by its entry point: nothing needs importing.
"""

collect_ignore = ["reports", "inventory"]
'''

GITIGNORE = """\
/reports/*
!/reports/.gitkeep
__pycache__/
"""

README = """\
# {name}: our maintenance checklist

```sh
pytest checks/pre                     # against inventory/local.yml (this machine)
pytest checks/pre --inventory inventory/prod --change CHG-1234 --window START/END
maintcheck checklist                  # every item, its phase, kind and checks
maintcheck checklist import checks/checklist.md   # after editing the Markdown
maintcheck vars                       # every inventory variable, ours included
```

- `checks/checklist.md`: the checklist as we write it. `checks/checklist.yml` is its import.
- `checks/<phase>/test_*.py`: one check per line, `@pytest.mark.checklist("N.M")`. An item
  without a check is asked of the operator, its title the question.
- `checks/variables.yml`: our own inventory variables; `checks/commands.yml`: the read-only
  commands our checks may run beyond maintcheck's own (reviewed like code).
- `inventory/`: `local.yml` (this machine) and `example/` (a walk-through fleet).
- `reports/<change>/`: the evidence of each run.
"""


def init(dest: Path) -> list[Path]:
    """Write a ready team project into ``dest`` (new or empty); the files written."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InputError(str(dest), [NOT_EMPTY])
    if not (SHIPPED / "checks" / "checklist.yml").is_file():
        raise InputError(str(SHIPPED), [NOT_SHIPPED])
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SHIPPED / "checks", dest / "checks", ignore=IGNORED)
    shutil.copytree(SHIPPED / "inventory", dest / "inventory", ignore=IGNORED)
    files = {
        "pytest.ini": PYTEST_INI,
        "conftest.py": CONFTEST,
        ".gitignore": GITIGNORE,
        "README.md": README.format(name=dest.resolve().name),
        "reports/.gitkeep": "",
    }
    for name, text in files.items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sorted(p for p in dest.rglob("*") if p.is_file())
