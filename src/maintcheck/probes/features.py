"""Feature flags as an application reports them: a JSON object of flag names and values."""

from __future__ import annotations

from typing import Any

from maintcheck.errors import MissingData
from maintcheck.probes import _client


def flags(url: str, *, timeout: float, **options: Any) -> dict[str, Any]:
    """The flags served at ``url``; an answer that is not a JSON object is MissingData.

    >>> flags("https://app.example.com/flags.json", timeout=5)
    {'new_checkout': True}
    """
    options.pop("headers", None)
    data = _client.get_json(url, timeout=timeout, **options)
    if not isinstance(data, dict):
        raise MissingData(f"{url}: expected a JSON object of flags, got {type(data).__name__}")
    return data
