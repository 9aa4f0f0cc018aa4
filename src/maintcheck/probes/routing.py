"""Routing through a load balancer: which backend server answered each request.

Requests are sent through the frontend one at a time, and HAProxy's own per-server session
counters (``stot`` in its stats CSV) are read before and after each: the servers whose counter
moved are the ones that received it. So a server that is UP but drained, in MAINT or at weight
0, and one that is in rotation but serves the wrong page, are both seen for what they are,
which no request sent straight to a backend can show.

>>> routed = through_frontend("https://app.example.com/", "10.0.0.3:443",
...                           stats_url="http://10.0.0.3:8404/stats;csv",
...                           servers=["web/web-01", "web/web-02"], timeout=5)
>>> [(r.servers, r.answer.status) for r in routed]
[(('web/web-01',), 200), (('web/web-02',), 200)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from maintcheck.probes import haproxy, http


@dataclass(frozen=True)
class Routed:
    """One request sent through the frontend, and the servers that received it."""

    servers: tuple[str, ...]  # "backend/server" whose counter moved (one, unless traffic overlapped)
    answer: http.HttpObservation
    states: Mapping[str, str] = field(default_factory=dict)  # HAProxy's status of each, after


def through_frontend(url: str, address: str, *, stats_url: str, servers: Sequence[str],
                     timeout: float, rounds_per_server: int = 3,
                     stats_options: Mapping[str, Any] | None = None,
                     **http_options: Any) -> list[Routed]:
    """Send ``url`` through the frontend at ``address`` until every server of ``servers``
    ("backend/server") received a request, or ``rounds_per_server`` x len(servers) requests
    went (a balancer that hashes the client sends them all to one server: that is what it
    does)."""
    stats = dict(stats_options or {})

    def counters() -> tuple[dict[str, int], dict[str, str]]:
        rows = [s for s in haproxy.stats(stats_url, timeout=timeout, **stats)
                if s.server != haproxy.BACKEND]
        return ({f"{s.backend}/{s.server}": s.sessions_total or 0 for s in rows},
                {f"{s.backend}/{s.server}": s.out_of_service() or "UP" for s in rows})

    routed: list[Routed] = []
    seen: set[str] = set()
    before, _ = counters()
    for _ in range(max(1, rounds_per_server * len(servers))):
        answer = http.via(url, address, timeout=timeout, **http_options)
        after, states = counters()
        moved = tuple(sorted(s for s, n in after.items() if n > before.get(s, 0)))
        routed.append(Routed(moved, answer, states))
        seen.update(moved)
        before = after
        if seen >= set(servers) and len(routed) >= len(servers):
            break
    return routed
