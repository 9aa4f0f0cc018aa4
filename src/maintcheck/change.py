"""The change being made: its id, window, people and sign-off fields."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from maintcheck.confirmations import parse_time, utc_stamp

# \Z, not $: "$" also matches before a final newline, and "CHG-1\n" would name a folder
CHANGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
CONTACTS = ("lead", "technical_contact", "business_contact", "emergency_contact")


@dataclass(frozen=True)
class Window:
    """A maintenance window in UTC: ``Window.parse("2026-11-27T01:00Z/2026-11-27T03:00Z")``."""

    start: datetime
    end: datetime

    @classmethod
    def parse(cls, text: str) -> Window:
        """Parse ``START/END`` (ISO 8601 with a zone); raises ValueError saying what is wrong."""
        if text.count("/") != 1:
            raise ValueError(f"window {text!r} must be START/END, e.g. "
                             "2026-11-27T01:00:00Z/2026-11-27T03:00:00Z")
        first, second = text.split("/")
        start = parse_time(first.strip())
        end = parse_time(second.strip())
        if start is None or end is None:
            bad = first if start is None else second
            raise ValueError(f"window {text!r}: {bad.strip()!r} is not an ISO 8601 time with a "
                             "zone (add Z or +hh:mm)")
        if end <= start:
            raise ValueError(f"window {text!r} ends before it starts")
        if end - start > timedelta(days=7):
            raise ValueError(f"window {text!r} is longer than 7 days")
        return cls(start, end)

    def __str__(self) -> str:
        return f"{utc_stamp(self.start)}/{utc_stamp(self.end)}"


@dataclass(frozen=True)
class Change:
    """What the evidence says about the change, and the sign-off block's fields."""

    id: str
    window: Window | None
    operator: str
    lead: str
    technical_contact: str
    business_contact: str
    emergency_contact: str
    maintenance_types: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["window"] = str(self.window) if self.window else ""
        out["maintenance_types"] = list(self.maintenance_types)
        return out

