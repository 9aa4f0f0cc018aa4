"""HAProxy probe: server states from the stats page, and backends from haproxy.cfg text.

The stats page is how we look, not what we check: if it cannot be read (no answer, HTTP
401/404, not CSV) that is a :class:`~maintcheck.errors.CheckError` (ERROR). A server DOWN
or in MAINT is HAProxy's answer, and is data.

>>> {(s.backend, s.server): s.status for s in stats("http://lb1:8404/stats", timeout=5)}
{('app', 'web1'): 'UP', ('app', 'web2'): 'DOWN', ('app', 'BACKEND'): 'UP'}
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from maintcheck.errors import MissingData
from maintcheck.probes import _client
from maintcheck.probes._client import Auth
from maintcheck.redact import Redactor
from maintcheck.secret import Scope, split_userinfo

# the aggregate row of a backend carries this server name in HAProxy's own CSV
BACKEND = "BACKEND"
_TYPE_BACKEND, _TYPE_SERVER = "1", "2"


@dataclass(frozen=True)
class HaproxyServer:
    """One server of a backend (or the backend itself, as server ``"BACKEND"``)."""

    backend: str
    server: str
    status: str  # "UP", "DOWN", "MAINT", "DRAIN", "NOLB", "no check", "UP 1/3" (going down)
    check_status: str  # "L4OK", "L7OK", "L4CON", "L7STS", ...; "" without health checks
    check_code: int | None  # the HTTP status of the last layer-7 check
    check_detail: str  # HAProxy's own words on the last check, e.g. "Connection refused"
    last_change_seconds: int | None  # since the last UP/DOWN transition
    weight: int | None = None  # the effective weight: 0 takes no new traffic, even when UP
    sessions_total: int | None = None  # stot: sessions this server was ever given

    def out_of_service(self) -> str | None:
        """Why this server does not take its share of traffic, or None when it does: UP with
        health checks on, in the READY admin state, with a non-zero weight."""
        said = " ".join(w for w in (self.check_status, self.check_detail) if w)
        detail = f" ({said})" if said else ""
        if self.status == "no check":
            return "no check (health checks are off: HAProxy cannot take it out when it fails)"
        if not self.status.startswith("UP") or self.status.startswith("UP "):
            return f"{self.status}{detail}"
        if self.weight == 0:
            return "UP with weight 0 (it takes no new traffic)"
        return None


def stats(url: str, *, timeout: float, auth: Auth | None = None, ca_bundle: str | None = None,
          redactor: Redactor | None = None, on_retry: _client.OnRetry | None = None,
          credentials: Scope | None = None) -> list[HaproxyServer]:
    """Every backend and server row of the stats page at ``url`` (``;csv`` is added).

    >>> stats("http://lb1:8404/stats", timeout=5, auth=("ops", pw))[0].status
    'UP'
    """
    csv_url = url if ";csv" in url else f"{url};csv"
    text = _client.get_text(csv_url, timeout=timeout, ca_bundle=ca_bundle, auth=auth,
                            redactor=redactor, on_retry=on_retry, credentials=credentials)
    if not text.startswith("# pxname,"):
        red = _client.redactor_for(redactor, auth=auth, token=None)
        where = red.text(split_userinfo(csv_url)[0])
        raise MissingData(f"{where}: not HAProxy stats CSV: {red.text(text[:120])!r}")
    rows = csv.DictReader(io.StringIO(text[2:]))
    return [
        HaproxyServer(
            backend=row["pxname"], server=row["svname"], status=row["status"],
            check_status=(row.get("check_status") or "").removeprefix("* "),
            check_code=_int(row.get("check_code")),
            check_detail=row.get("last_chk") or "",
            last_change_seconds=_int(row.get("lastchg")),
            weight=_int(row.get("weight")), sessions_total=_int(row.get("stot")))
        for row in rows if row.get("type") in {_TYPE_BACKEND, _TYPE_SERVER}
    ]


# sections that end the one before; only backend and listen sections hold servers we route to
_SECTIONS = frozenset({
    "global", "defaults", "frontend", "backend", "listen", "peers", "resolvers", "userlist",
    "mailers", "program", "http-errors", "ring", "cache", "fcgi-app", "crt-store", "traces",
    "log-forward",
})
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def config_backends(text: str) -> dict[str, list[str]]:
    """The servers of each backend (and listen section) in haproxy.cfg text, in file order.

    ``server-template`` lines are expanded to the names HAProxy gives them.

    >>> config_backends("backend app\\n  server web1 10.0.0.1:80 check\\n")
    {'app': ['web1']}
    """
    backends: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] in _SECTIONS:
            current = None
            if words[0] in {"backend", "listen"} and len(words) > 1:
                current = backends.setdefault(words[1], [])
        elif current is not None and words[0] == "server" and len(words) > 1:
            current.append(words[1])
        elif current is not None and words[0] == "server-template" and len(words) > 2:
            # server-template <prefix> <num | low-high> <fqdn>[:port]: prefix1, prefix2, ...
            match = _RANGE.match(words[2])
            if match:
                low, high = (1, int(match[1])) if match[2] is None else \
                    (int(match[1]), int(match[2]))
                current.extend(f"{words[1]}{n}" for n in range(low, high + 1))
    return backends


def _int(value: str | None) -> int | None:
    return int(value) if value and value.lstrip("-").isdigit() else None
