"""Feature flags as an application reports them: a JSON object of flag names and values.

The flag URL is the application itself, the subject of the check: an answer that is not a
JSON object of flags, another status than 200, TLS that does not verify, or no answer from
a reached service is :class:`~maintcheck.errors.ServiceFailed` (FAILED). Only when maintcheck
could not reach it at all is it an ERROR.
"""

from __future__ import annotations

import json
from typing import Any

from maintcheck.errors import ServiceFailed
from maintcheck.probes import http


def flags(url: str, *, timeout: float, **options: Any) -> dict[str, Any]:
    """The flags served at ``url``.

    >>> flags("https://app.example.com/flags.json", timeout=5)
    {'new_checkout': True}
    """
    seen = http.fetch(url, timeout=timeout, keep_body=True, **options)
    if seen.problem:
        raise ServiceFailed(f"{seen.url}: {seen.problem}, expected a JSON object of flags")
    if seen.status != 200:
        raise ServiceFailed(f"{seen.url}: HTTP {seen.status}, expected 200 with a JSON object "
                            "of flags")
    try:
        data = json.loads(seen.body or "")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ServiceFailed(f"{seen.url}: answered {seen.body_excerpt[:80]!r}, expected a JSON "
                            "object of flags")
    return data
