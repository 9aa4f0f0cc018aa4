"""Secrets that cannot be printed by accident, and which credential goes to which URL.

A :class:`Secret` reads as ``***`` in every ``repr``, ``str`` and f-string: a failing check's
locals (``pytest -l``), an assertion message or a log line shows ``***``, never the value. Only
:meth:`Secret.reveal`, at the one place a value is put on the wire, gives it back.

>>> pw = Secret("hunter2"); f"password {pw}"
'password ***'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"


class Secret:
    """A value that prints as ``***``; ``reveal()`` gives it back, for the wire only."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = str(value.reveal() if isinstance(value, Secret) else value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return Secret, (self._value,)


def reveal(value: Any) -> Any:
    """The value with every :class:`Secret` inside it revealed (for the wire, never a message)."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, Mapping):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(reveal(v) for v in value)
    return value


@dataclass(frozen=True, repr=False)
class Credential:
    """Who to be at one endpoint: basic auth, a bearer token, extra headers (all optional)."""

    username: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    headers: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        parts = [p for p, v in (("basic auth", self.username), ("token", self.token),
                                ("headers", self.headers)) if v]
        return f"Credential({', '.join(parts) or 'none'}: ***)"

    @property
    def auth(self) -> tuple[str, str] | None:
        """``(user, password)`` for basic auth, revealed, or None."""
        if not self.username:
            return None
        return self.username, self.password.reveal() if self.password else ""


def origin_and_path(url: str) -> tuple[str, str, str]:
    """``(scheme, host:port, path)`` of a URL, userinfo dropped, default ports filled in."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    except ValueError:
        port = 0
    return scheme, f"{(parts.hostname or '').lower()}:{port}", parts.path or "/"


@dataclass(frozen=True, repr=False)
class Scope:
    """Which credential goes to which URL: each is granted to one URL (``exact``) or to a base
    URL and every path under it, and nowhere else.

    >>> s = Scope.of([("http://mon:9090", Credential("ops", Secret("pw")), False)])
    >>> s.for_url("http://mon:9090/api/v1/rules").username, s.for_url("http://web/")
    ('ops', None)
    """

    grants: tuple[tuple[tuple[str, str, str], Credential, bool], ...] = ()

    @classmethod
    def of(cls, grants: list[tuple[str, Credential, bool]]) -> Scope:
        return cls(tuple((origin_and_path(url), cred, exact) for url, cred, exact in grants
                         if url))

    def for_url(self, url: str) -> Credential | None:
        """The credential granted to ``url``: the most specific grant that covers it."""
        scheme, where, path = origin_and_path(url)
        best: tuple[int, Credential] | None = None
        for (g_scheme, g_where, g_path), cred, exact in self.grants:
            if (g_scheme, g_where) != (scheme, where):
                continue
            rest = path[len(g_path):] if path.startswith(g_path) else None
            # under a base URL: its own path, a path below it, or its ;parameters (;csv)
            covers = path == g_path if exact else rest is not None and (
                not rest or g_path.endswith("/") or rest[0] in "/;")
            if covers and (best is None or len(g_path) > best[0]):
                best = (len(g_path), cred)
        return best[1] if best else None

    def __repr__(self) -> str:
        return f"Scope({len(self.grants)} grants: ***)"


class HttpOptions(dict[str, Any]):
    """The keyword arguments of a host's HTTP calls (``probe(url, **options)``): timeout, CA
    bundle, the credentials each URL is granted, a redactor. Printed, it shows no credential
    and no function (pytest prints a failing check's arguments with ``-l``)."""

    def __repr__(self) -> str:
        return (f"HttpOptions(timeout={self.get('timeout')!r}, "
                f"ca_bundle={self.get('ca_bundle')!r}, credentials=***)")


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without ``user:pw@``, and that pair: ``split_userinfo("http://u:p@h/")``."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 literal lost its brackets in .hostname
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, (unquote(parts.username), unquote(parts.password or ""))
