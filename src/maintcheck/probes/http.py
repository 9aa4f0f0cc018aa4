"""HTTP probe: what a URL answers, how fast, and whether its TLS verifies.

The service's answer is data, whatever it is: an HTTP 500, a redirect loop, a certificate
that does not verify against the configured CA (``tls_error``), or no answer from a service
that was reached (``failure``: connection refused or reset, silence after the connection was
made, a failed TLS handshake). The check decides, and none of these is ever a latency
sample. When maintcheck could not reach the service at all (no route, no connection within
the timeout, a name that does not resolve), nothing was observed and a
:class:`~maintcheck.errors.CheckError` is raised (ERROR).

Credentials (``auth``, ``token``, ``user:pw@`` in the URL, secret-looking headers) never
appear in the observation or in an exception message.

>>> obs = fetch("https://app.example.com/health", timeout=5, expect_contains="ok")
>>> obs.status, obs.contains_match, obs.tls_error
(200, True, None)
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from maintcheck.errors import MissingData
from maintcheck.probes import _client
from maintcheck.probes._client import Auth, OnRetry
from maintcheck.redact import MASK, Redactor
from maintcheck.secret import Scope, Secret, split_userinfo

EXCERPT_BYTES = 2048
# enough to find a marker in any health page; a larger body is not read to its end
MATCH_BYTES = 1024 * 1024


@dataclass(frozen=True)
class HttpObservation:
    """One request's answer. ``status`` is None only when ``tls_error`` or ``failure`` says
    why."""

    url: str
    status: int | None
    latency_ms: float
    body_excerpt: str
    contains_match: bool | None  # None when nothing was expected
    tls_error: str | None
    final_url: str
    address: str | None = None  # the backend it was sent to, when not the URL's own host
    headers: Mapping[str, str] = field(default_factory=dict)
    failure: str | None = None  # the service was reached and did not answer: why
    body: str | None = None  # the whole body (up to 1 MiB), when asked for with keep_body

    @property
    def problem(self) -> str | None:
        """Why there is no answer to judge (TLS or no answer), or None when there is one."""
        if self.tls_error:
            return f"TLS verification failed: {self.tls_error}"
        return self.failure


# a declared endpoint (an entry of maintcheck_http, a journey's step) and what it answered
Fetched: TypeAlias = tuple[Mapping[str, Any], HttpObservation]


def fetch(url: str, *, timeout: float, ca_bundle: str | None = None, auth: Auth | None = None,
          token: str | Secret | None = None, headers: Mapping[str, Any] | None = None,
          expect_contains: str | None = None, connect_to: str | None = None,
          credentials: Scope | None = None, redactor: Redactor | None = None,
          on_retry: OnRetry | None = None, keep_body: bool = False) -> HttpObservation:
    """GET ``url`` with TLS verified (system CAs, or ``ca_bundle`` alone when given).

    ``timeout`` bounds the connect, each read, and the body as a whole. ``latency_ms`` runs
    from before the connect to the end of the body (up to 1 MiB), so it includes the TCP and
    TLS set-up a user pays too (of the last try: a connection error is tried once more and
    reported to ``on_retry``). Redirects are followed, except with ``connect_to``.
    ``connect_to`` ("addr:port") sends the request for the URL's name to that address; see
    :func:`via`.

    >>> fetch("https://app.example.com/", timeout=5).status
    200
    """
    clean, auth, bearer, sent = _client.credentials_for(url, auth=auth, token=token,
                                                        headers=headers, credentials=credentials)
    red = _client.redactor_for(redactor, auth=auth, token=bearer, headers=sent)
    target: str = clean
    extra_headers: dict[str, str] = {}
    adapter: HTTPAdapter | None = None
    if connect_to is not None:
        target, extra_headers, adapter = _route(clean, connect_to)
    with _client.session(auth=auth, token=bearer, headers={**sent, **extra_headers}) as s:
        if adapter is not None:
            s.mount("https://", adapter)
        started = time.monotonic()

        def restart() -> None:  # the latency is the answered try's, not the failed one's
            nonlocal started
            started = time.monotonic()

        try:
            response = _client.get(s, target, endpoint=_endpoint(clean, connect_to),
                                   on_retry=on_retry, before_retry=restart, redactor=red,
                                   timeout=timeout, stream=True,
                                   verify=ca_bundle if ca_bundle else True,
                                   allow_redirects=connect_to is None)
        except requests.TooManyRedirects as exc:
            # a redirect loop is the service's own answer: report the last hop
            if exc.response is None:
                _client.raise_unobservable(exc, _endpoint(clean, connect_to), timeout, red)
            response = exc.response
        except requests.RequestException as exc:
            return _unanswered(exc, clean, connect_to, timeout, red, expect_contains, started)
        try:
            body = _read(response, started + timeout)
        except requests.RequestException as exc:
            return _unanswered(exc, clean, connect_to, timeout, red, expect_contains, started)
        finally:
            response.close()
        latency = _ms(started)
    encoding = _encoding(response.encoding)
    text = body.decode(encoding, errors="replace")
    excerpt = body[:EXCERPT_BYTES].decode(encoding, errors="replace")
    final = clean if connect_to is not None else split_userinfo(response.url)[0]
    return HttpObservation(
        url=red.text(clean), status=response.status_code, latency_ms=latency,
        body_excerpt=red.text(excerpt),
        contains_match=None if expect_contains is None else expect_contains in text,
        tls_error=None, final_url=red.text(final), address=connect_to,
        headers=_safe_headers(response.headers, red),
        body=red.text(text) if keep_body else None)


def via(url: str, address: str, *, timeout: float, **options: Any) -> HttpObservation:
    """GET ``url`` from one backend: the URL's name (Host, SNI, certificate check), sent to
    ``address`` ("10.0.0.5:8443"), like ``curl --connect-to``. Redirects are not followed.

    >>> via("https://app.example.com/health", "10.0.0.5:443", timeout=5).status
    200
    """
    return fetch(url, timeout=timeout, connect_to=address, **options)


def _unanswered(exc: requests.RequestException, url: str, connect_to: str | None,
                timeout: float, red: Redactor, expect_contains: str | None,
                started: float) -> HttpObservation:
    """The observation of a request the service did not answer, or the ERROR when maintcheck
    could not reach it at all."""
    tls = _client.tls_verify_error(exc)
    failure = None if tls is not None else _client.no_answer(exc, timeout)
    if tls is None and failure is None:
        _client.raise_unobservable(exc, _endpoint(url, connect_to), timeout, red)
    return HttpObservation(
        url=red.text(url), status=None, latency_ms=_ms(started), body_excerpt="",
        contains_match=None if expect_contains is None else False,
        tls_error=red.text(tls) if tls else None, final_url=red.text(url), address=connect_to,
        failure=red.text(failure) if failure else None)


class _NameAdapter(HTTPAdapter):
    """Connects wherever the URL says, but speaks TLS for ``name``: SNI and hostname check."""

    def __init__(self, name: str) -> None:
        self._name = name
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self._name
        kwargs["assert_hostname"] = self._name
        super().init_poolmanager(*args, **kwargs)


def _route(url: str, address: str) -> tuple[str, dict[str, str], HTTPAdapter]:
    """The URL rewritten to ``address``, the Host header, and the adapter that keeps TLS
    bound to the original name (so certificate verification stays on, for that name)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise MissingData(f"{url}: no host name to send to {address}")
    default = parts.port or (443 if parts.scheme == "https" else 80)
    host, port = _client.split_address(address, default)
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    target = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    return target, {"Host": parts.netloc}, _NameAdapter(parts.hostname)


def _read(response: requests.Response, deadline: float) -> bytes:
    """The body up to MATCH_BYTES; a body still trickling in at the deadline is a timeout."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= MATCH_BYTES:
            break
        if time.monotonic() > deadline:
            raise requests.Timeout("body still arriving at the deadline")
    return b"".join(chunks)[:MATCH_BYTES]


def _safe_headers(headers: Mapping[str, str], red: Redactor) -> dict[str, str]:
    # cookies are sessions: as good as a password to whoever reads the report
    return {k.lower(): MASK if k.lower() == "set-cookie" else red.text(v)
            for k, v in headers.items()}


def _encoding(declared: str | None) -> str:
    # a server may declare a charset Python does not know; the excerpt is still worth having
    try:
        return codecs.lookup(declared or "utf-8").name
    except LookupError:
        return "utf-8"


def _endpoint(url: str, connect_to: str | None) -> str:
    return f"GET {url}" if connect_to is None else f"GET {url} via {connect_to}"


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
