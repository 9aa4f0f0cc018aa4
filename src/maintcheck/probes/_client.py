"""HTTP plumbing the probes share: one bounded session per call, and no secret in any message.

A failure to get an answer becomes a :class:`~maintcheck.errors.CheckError` that names the
endpoint and the cause. Whether an answer is a finding or a failure to observe is for each
probe to say: :func:`get_json` treats every non-2xx answer as "could not observe", because it
serves APIs we read *through* (Prometheus, HAProxy's stats), not the service under test.

A connection error, and only that (refused, reset or dropped before any answer, no connection
within the timeout), is tried once more; ``on_retry(endpoint, cause, then)`` hears of it, for
the evidence. A slow answer, an HTTP error status or a wrong body is an answer: never retried.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn

import requests
from urllib3.exceptions import NewConnectionError, ProtocolError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.ssl_match_hostname import CertificateError

from maintcheck.errors import CommandTimeout, HostUnreachable, MissingData
from maintcheck.redact import Redactor, is_secret_name
from maintcheck.secret import Scope, Secret, reveal, split_userinfo

Auth = tuple[str, str]
# told of each retried connection: (endpoint, cause of the first failure, what the retry got)
OnRetry = Callable[[str, str, str], None]
# a timeout can surface as any of these, wrapped at any depth (a body read wraps it twice)
TIMEOUTS = (TimeoutError, requests.Timeout, Urllib3Timeout)


def split_address(address: str, default_port: int | None = None) -> tuple[str, int]:
    """``"db1:5432"`` -> ``("db1", 5432)``; IPv6 as ``"[::1]:5432"``."""
    host, sep, port = address.rpartition(":")
    if address.startswith("[") and "]:" not in address:  # "[::1]" with no port
        host, sep, port = address, "", ""
    elif not sep or (":" in host and not host.startswith("[")):  # "db1", or a bare IPv6
        host, port = address, ""
    host = host.strip("[]")
    if not port and default_port is not None:
        return host, default_port
    if not host or not port.isdigit():
        raise MissingData(f"{address!r} is not an address of the form host:port")
    return host, int(port)


def redactor_for(redactor: Redactor | None, *, auth: Auth | None, token: str | None,
                 headers: Mapping[str, Any] | None = None) -> Redactor:
    """The caller's redactor, or a fresh one, that also knows this call's credentials."""
    red = redactor if redactor is not None else Redactor()
    if auth is not None:
        # what goes on the wire, and what a server that echoes headers would print back
        red.add_basic_auth(str(reveal(auth[0])), str(reveal(auth[1])))
    red.add(token)
    for name, value in (headers or {}).items():
        if isinstance(value, Secret) or is_secret_name(str(name)):
            red.add(value)
            text = str(reveal(value))
            if " " in text:  # "Bearer abc": abc alone too
                red.add(text.split(None, 1)[1])
    return red


def credentials_for(url: str, *, auth: Auth | None = None, token: str | Secret | None = None,
                    headers: Mapping[str, Any] | None = None, credentials: Scope | None = None,
                    ) -> tuple[str, Auth | None, str | None, dict[str, str]]:
    """What is sent to ``url``, and the URL without its userinfo.

    Credentials given for this call win; then the URL's own ``user:pw@`` (or ``TOKEN@``);
    then what ``credentials`` grants to this very URL, and nothing when it grants nothing: a
    host's password never goes to a URL it was not declared for. An endpoint's own
    ``Authorization`` header replaces basic auth and token.
    """
    clean, url_auth = split_userinfo(url)
    granted = credentials.for_url(clean) if credentials is not None else None
    basic = auth if auth is not None else url_auth
    if basic is None and granted is not None:
        basic = granted.auth
    bearer = token if token is not None else (granted.token if granted is not None else None)
    sent = {**(granted.headers if granted is not None else {}), **(headers or {})}
    if any(str(k).lower() == "authorization" for k in sent):
        basic = bearer = None  # the endpoint's own Authorization header is the one it wants
    return (clean, None if basic is None else (str(reveal(basic[0])), str(reveal(basic[1]))),
            str(reveal(bearer)) if bearer else None,
            {str(k): str(reveal(v)) for k, v in sent.items()})


class _Session(requests.Session):
    """requests drops Authorization on a redirect to another host, but keeps other headers:
    here the inventory's headers (an API key, a cookie) are dropped too."""

    def __init__(self, own_headers: frozenset[str]) -> None:
        super().__init__()
        self.own_headers = own_headers

    def __repr__(self) -> str:  # its auth and headers are credentials
        return "Session(***)"

    def rebuild_auth(self, prepared_request: requests.PreparedRequest,
                     response: requests.Response) -> None:
        super().rebuild_auth(prepared_request, response)  # type: ignore[no-untyped-call]
        old, new = response.request.url, prepared_request.url
        strip = self.should_strip_auth
        if old and new and strip(old, new):  # type: ignore[no-untyped-call]
            for name in self.own_headers:
                prepared_request.headers.pop(name, None)


def session(*, auth: Auth | None, token: str | None,
            headers: Mapping[str, str] | None) -> requests.Session:
    """A session that ignores the environment (proxies, netrc, REQUESTS_CA_BUNDLE).

    What is probed is exactly what the inventory says, not what the operator's shell says.
    """
    s = _Session(frozenset(headers or ()))
    s.trust_env = False
    if auth is not None:
        s.auth = auth
    if token is not None:
        s.headers["Authorization"] = f"Bearer {token}"
    s.headers.update(headers or {})
    return s


def chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and every exception it wraps (cause, context, urllib3's reason, args)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        nested = (e.__cause__, e.__context__, getattr(e, "reason", None), *e.args)
        todo.extend(x for x in nested if isinstance(x, BaseException))


def tls_verify_error(exc: BaseException) -> str | None:
    """Why the peer's certificate was rejected, when that is what went wrong; else None."""
    for e in chain(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {e.verify_message or e.reason or e}"
        if isinstance(e, CertificateError):  # urllib3's own hostname check (assert_hostname)
            return f"certificate verify failed: {e}"
    return None


def cause(exc: BaseException) -> str:
    """A short, human cause: "connection refused", "name does not resolve", ..."""
    found = list(chain(exc))
    for e in found:
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, socket.gaierror):
            return f"name does not resolve ({e.strerror or e})"
        if isinstance(e, ConnectionResetError):
            return "connection reset by peer"
    for e in found:
        if isinstance(e, ssl.SSLError):
            return f"TLS handshake failed ({e.reason or e})"
    for e in found:
        if isinstance(e, OSError) and e.strerror:
            return e.strerror.lower()
    return str(found[-1]) or type(found[-1]).__name__


# a connection that was reset, aborted or closed before the server answered anything
_CUT_OFF = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
            http.client.RemoteDisconnected)


def is_connection_error(exc: BaseException) -> bool:
    """No connection, or one cut before any answer: worth one more try. Anything the server
    said (a certificate, a status, a slow or cut body) is not."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or isinstance(exc, requests.ReadTimeout):
        return False
    if tls_verify_error(exc) is not None:
        return False
    found = list(chain(exc))
    if any(isinstance(e, NewConnectionError) for e in found):
        return True
    return any(isinstance(e, _CUT_OFF) for e in found) or (
        not isinstance(exc, requests.exceptions.SSLError)
        and any(isinstance(e, ProtocolError) for e in found))


def get(s: requests.Session, url: str, *, endpoint: str, on_retry: OnRetry | None,
        redactor: Redactor, before_retry: Callable[[], None] | None = None,
        **kwargs: Any) -> requests.Response:
    """``s.get(url, **kwargs)``, tried once more after a connection error (see module doc)."""
    try:
        return s.get(url, **kwargs)
    except requests.RequestException as exc:
        if not is_connection_error(exc):
            raise
        first = redactor.text(cause(exc))
    if before_retry is not None:
        before_retry()
    try:
        response = s.get(url, **kwargs)
    except requests.RequestException as exc:
        if on_retry is not None:
            on_retry(redactor.text(endpoint), first, f"failed again: {redactor.text(cause(exc))}")
        raise
    if on_retry is not None:
        on_retry(redactor.text(endpoint), first, f"answered HTTP {response.status_code}")
    return response


def no_answer(exc: BaseException, timeout: float) -> str | None:
    """Why a reached service gave no answer, when that is what happened: it refused or reset
    the connection, closed it before answering, fell silent after accepting it, or failed the
    TLS handshake for a reason other than its certificate. None when maintcheck could not
    reach it at all (no route, no connection within the timeout, a name that does not
    resolve): then nothing is known about the service, and the caller raises an ERROR."""
    if isinstance(exc, requests.ConnectTimeout):
        return None
    found = list(chain(exc))
    if any(isinstance(e, (socket.gaierror, requests.exceptions.InvalidURL,
                          requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema))
           for e in found):
        return None
    if any(isinstance(e, ConnectionRefusedError) for e in found):
        return "connection refused"
    if isinstance(exc, requests.ReadTimeout) or (
            isinstance(exc, requests.Timeout) and not isinstance(exc, requests.ConnectTimeout)):
        return f"no answer within {timeout:g}s after connecting"
    if any(isinstance(e, ConnectionResetError) for e in found):
        return "connection reset by peer"
    if any(isinstance(e, (*_CUT_OFF, ProtocolError)) for e in found):
        return "connection closed before an answer"
    if any(isinstance(e, ssl.SSLError) for e in found):
        return cause(exc)
    return None


def raise_unobservable(exc: BaseException, endpoint: str, timeout: float,
                       redactor: Redactor) -> NoReturn:
    """Turn a requests failure into the CheckError that says why nothing was observed."""
    where = redactor.text(endpoint)
    # urllib3's NewConnectionError subclasses its timeout error, for history's sake only
    if any(isinstance(e, TIMEOUTS) and not isinstance(e, NewConnectionError)
           for e in chain(exc)):
        raise CommandTimeout(f"{where}: no answer within {timeout:g}s") from None
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        raise MissingData(f"{where}: not a usable URL ({redactor.text(str(exc))})") from None
    raise HostUnreachable(f"{where}: {redactor.text(cause(exc))}") from None


def get_json(url: str, *, timeout: float, ca_bundle: str | None = None,
             auth: Auth | None = None, token: str | Secret | None = None,
             params: Mapping[str, str] | None = None, credentials: Scope | None = None,
             redactor: Redactor | None = None, on_retry: OnRetry | None = None) -> Any:
    """GET an API endpoint and decode its JSON; anything else is a CheckError."""
    text = get_text(url, timeout=timeout, ca_bundle=ca_bundle, auth=auth, token=token,
                    params=params, credentials=credentials, redactor=redactor,
                    on_retry=on_retry)
    try:
        return json.loads(text)
    except ValueError:
        red = redactor if redactor is not None else Redactor()
        # redacted whole, then cut: a cut first could split a secret the redactor knows
        raise MissingData(f"{red.text(split_userinfo(url)[0])}: answer is not JSON: "
                          f"{red.text(text[:4096])[:200]!r}") from None


def get_text(url: str, *, timeout: float, ca_bundle: str | None = None,
             auth: Auth | None = None, token: str | Secret | None = None,
             params: Mapping[str, str] | None = None, credentials: Scope | None = None,
             redactor: Redactor | None = None, on_retry: OnRetry | None = None) -> str:
    """GET an API endpoint's body; a non-2xx answer or no answer is a CheckError.

    ``credentials`` grants each credential to its own URLs only (see :func:`credentials_for`).
    """
    clean, auth, bearer, headers = credentials_for(url, auth=auth, token=token,
                                                   credentials=credentials)
    red = redactor_for(redactor, auth=auth, token=bearer, headers=headers)
    with session(auth=auth, token=bearer, headers=headers) as s:
        try:
            response = get(s, clean, endpoint=f"GET {clean}", on_retry=on_retry, redactor=red,
                           params=params, timeout=timeout, verify=ca_bundle if ca_bundle else True)
        except requests.RequestException as exc:
            raise_unobservable(exc, clean, timeout, red)
        if not response.ok:
            # an API answers errors in its body (Prometheus: {"error": ...}); keep a bit of it
            raise MissingData(f"{red.text(clean)}: HTTP {response.status_code} "
                              f"{response.reason}: {red.text(response.text[:4096])[:200]!r}")
        return response.text
