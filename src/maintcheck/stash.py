"""The keys of what maintcheck keeps in pytest's stash, on the config and on each item."""

from __future__ import annotations

from typing import Any

import pytest

from maintcheck.facts import Facts
from maintcheck.outcomes import Ended
from maintcheck.selection import Selection
from maintcheck.session import Run

RUN = pytest.StashKey[Run]()
STDIN_TTY = pytest.StashKey[bool]()  # noted before pytest's capture puts /dev/null on fd 0
SELECTION = pytest.StashKey[Selection]()  # --item, --section, --rerun-failed
# a look at a host shared by the checks that ask, by (what, host), with the probe it went with
LOOKED = pytest.StashKey[dict[tuple[str, str], tuple[Facts, Any]]]()
ITEM_ID = pytest.StashKey[str]()  # on an item: the checklist item it implements
ENDED = pytest.StashKey[Ended]()  # on an item: how the check ended, kept for its teardown
