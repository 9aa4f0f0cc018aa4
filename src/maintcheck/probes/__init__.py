"""Probes observe one kind of service and return frozen observations; checks decide.

A probe never decides pass or fail and never formats output. The service's own answer (an
HTTP 500, an expired certificate, a replica not streaming, a server DOWN, a service that
refuses the connection) comes back as data or as :class:`~maintcheck.errors.ServiceFailed`,
so a check can FAIL on it. When a probe cannot observe at all (no route, no connection within
the timeout, an API that does not answer what it speaks), it raises a
:class:`~maintcheck.errors.CheckError`, and the check is ERROR.

>>> from maintcheck.probes import http
>>> http.fetch("https://app.example.com/health", timeout=5).status
200
"""

from __future__ import annotations

from maintcheck.probes import features, haproxy, http, postgres, prometheus, routing, tls

__all__ = ["features", "haproxy", "http", "postgres", "prometheus", "routing", "tls"]
