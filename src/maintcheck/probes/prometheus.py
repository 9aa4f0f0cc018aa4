"""Prometheus and Alertmanager probe: firing alerts, targets, rules, silences, one number.

Every function takes the API's base URL, a required ``timeout``, and the
:class:`ApiOptions` (``ca_bundle``, ``auth``, ``token``, ``redactor``). These APIs are how we
look, not what we check: no answer, a non-2xx answer, or an answer that is not the API's JSON
is a :class:`~maintcheck.errors.CheckError` (ERROR), so "Prometheus is down" never reads as
"no alerts". Whether Prometheus itself is healthy (item 2.5) is an HTTP check of its
``/-/healthy`` with :func:`maintcheck.probes.http.fetch`, where down is a finding.

>>> [a.name for a in firing_alerts("http://am1:9093", timeout=5)
...  if severity_rank(a.severity) >= severity_rank("critical")]
['DiskFull']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypedDict, Unpack

from maintcheck.errors import MissingData
from maintcheck.probes import _client
from maintcheck.probes._client import Auth
from maintcheck.redact import Redactor
from maintcheck.secret import Scope, Secret, split_userinfo

# Lowest first. "none" is what kube-prometheus gives its always-firing Watchdog.
SEVERITIES: tuple[str, ...] = ("none", "info", "warning", "critical", "page")
_SYNONYMS = {"warn": "warning", "crit": "critical"}


def severity_rank(severity: str | None, order: Sequence[str] = SEVERITIES) -> int:
    """The rank of a severity in ``order``, lowest first, case-insensitive.

    A severity that is missing or not in ``order`` ranks above all of them: an alert we
    cannot rank is counted, never silently ignored.

    >>> severity_rank("warning") < severity_rank("critical") < severity_rank("page")
    True
    >>> severity_rank("sev1") > severity_rank("page")
    True
    """
    name = (severity or "").strip().lower()
    name = _SYNONYMS.get(name, name)
    ranks = {s.lower(): i for i, s in enumerate(order)}
    return ranks.get(name, len(order))


class ApiOptions(TypedDict, total=False):
    """How to reach the API: CA bundle for TLS, basic auth or bearer token or the credentials
    granted to its URL, a redactor."""

    ca_bundle: str | None
    auth: Auth | None
    token: str | Secret | None
    credentials: Scope | None  # which credential goes to which URL (the run's, per host)
    redactor: Redactor | None
    on_retry: _client.OnRetry | None


@dataclass(frozen=True)
class Alert:
    """An alert that is firing now."""

    name: str
    severity: str  # "" when the alert has no severity label
    state: str  # Alertmanager: "active", "unprocessed"; Prometheus: "firing"
    labels: Mapping[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    summary: str = ""


@dataclass(frozen=True)
class Target:
    """One active scrape target."""

    job: str
    instance: str
    health: str  # "up", "down", "unknown"
    last_error: str
    scrape_url: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """One alerting or recording rule as Prometheus has loaded it."""

    name: str
    group: str
    health: str  # "ok", "err", "unknown" (not evaluated yet)
    type: str  # "alerting", "recording"
    state: str | None  # alerting rules: "inactive", "pending", "firing"
    last_error: str = ""


@dataclass(frozen=True)
class Silence:
    """One Alertmanager silence."""

    id: str
    state: str  # "active", "pending", "expired"
    created_by: str
    comment: str
    starts_at: datetime | None
    ends_at: datetime | None
    matchers: tuple[str, ...]  # 'alertname="X"', 'instance=~"web.*"', 'env!="dev"'


def firing_alerts(url: str, *, timeout: float,
                  api: Literal["alertmanager", "prometheus"] = "alertmanager",
                  **options: Unpack[ApiOptions]) -> list[Alert]:
    """Alerts firing now, neither silenced nor inhibited.

    ``api="prometheus"`` reads Prometheus's own ``/api/v1/alerts`` instead (state
    "firing"), for a setup with no Alertmanager; Prometheus knows no silences, so it lists
    silenced alerts too.

    >>> firing_alerts("http://am1:9093", timeout=5)[0].severity
    'critical'
    """
    if api == "prometheus":
        data = _prometheus(url, "/api/v1/alerts", timeout=timeout, **options)
        return [_alert(a, a.get("state", ""), a.get("activeAt"))
                for a in _field(data, "alerts", url) if a.get("state") == "firing"]
    answer = _get(url, "/api/v2/alerts", timeout=timeout, options=options,
                  params={"active": "true", "silenced": "false", "inhibited": "false"})
    return [_alert(a, a.get("status", {}).get("state", ""), a.get("startsAt"))
            for a in _list(answer, url)]


def targets(url: str, *, timeout: float, **options: Unpack[ApiOptions]) -> list[Target]:
    """The active scrape targets of the Prometheus at ``url``.

    >>> {t.instance: t.health for t in targets("http://prom1:9090", timeout=5)}
    {'web1:9100': 'up', 'db1:9100': 'down'}
    """
    data = _prometheus(url, "/api/v1/targets", timeout=timeout, params={"state": "active"},
                       **options)
    return [
        Target(job=t.get("labels", {}).get("job", t.get("scrapePool", "")),
               instance=t.get("labels", {}).get("instance", ""), health=t.get("health", ""),
               last_error=t.get("lastError", ""), scrape_url=t.get("scrapeUrl", ""),
               labels=dict(t.get("labels", {})))
        for t in _field(data, "activeTargets", url)
    ]


def rules(url: str, *, timeout: float, **options: Unpack[ApiOptions]) -> list[Rule]:
    """Every rule loaded by the Prometheus at ``url``, with its evaluation health.

    >>> [(r.name, r.health) for r in rules("http://prom1:9090", timeout=5)][:1]
    [('HostDown', 'ok')]
    """
    data = _prometheus(url, "/api/v1/rules", timeout=timeout, **options)
    return [
        Rule(name=r.get("name", ""), group=g.get("name", ""), health=r.get("health", ""),
             type=r.get("type", ""), state=r.get("state"), last_error=r.get("lastError", ""))
        for g in _field(data, "groups", url) for r in g.get("rules", [])
    ]


def silences(url: str, *, timeout: float, **options: Unpack[ApiOptions]) -> list[Silence]:
    """Every silence Alertmanager at ``url`` still knows, expired ones included.

    >>> [s.created_by for s in silences("http://am1:9093", timeout=5) if s.state == "active"]
    ['alice']
    """
    answer = _get(url, "/api/v2/silences", timeout=timeout, options=options)
    return [
        Silence(id=s.get("id", ""), state=s.get("status", {}).get("state", ""),
                created_by=s.get("createdBy", ""), comment=s.get("comment", ""),
                starts_at=_time(s.get("startsAt")), ends_at=_time(s.get("endsAt")),
                matchers=tuple(_matcher(m) for m in s.get("matchers", [])))
        for s in _list(answer, url)
    ]


def query_scalar(url: str, promql: str, *, timeout: float,
                 **options: Unpack[ApiOptions]) -> float | None:
    """The one number an instant query gives: a scalar, or a vector of exactly one sample.

    None when the vector is empty (no such series). Prometheus's NaN and ±Inf come back as
    floats: a rate over no traffic is NaN, and the check says what that means. A query
    giving several series cannot be one number: :class:`MissingData` (wrap it in ``sum()``).

    >>> query_scalar("http://prom1:9090", 'sum(rate(http_errors_total[5m]))', timeout=5)
    0.02
    """
    data = _prometheus(url, "/api/v1/query", timeout=timeout, params={"query": promql},
                       **options)
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        return float(result[1])
    if kind == "vector" and isinstance(result, list):
        if not result:
            return None
        if len(result) == 1:
            return float(result[0]["value"][1])
        series = ", ".join(_series(r.get("metric", {})) for r in result[:3])
        raise MissingData(f"{_where(url)}: {promql!r} gives {len(result)} series ({series}, ...), "
                          "not one number; aggregate it, e.g. with sum()")
    raise MissingData(f"{_where(url)}: {promql!r} gives a {kind}, not a number")


def _get(url: str, path: str, *, timeout: float, options: ApiOptions,
         params: Mapping[str, str] | None = None) -> Any:
    return _client.get_json(url.rstrip("/") + path, timeout=timeout, params=params, **options)


def _prometheus(url: str, path: str, *, timeout: float, params: Mapping[str, str] | None = None,
                **options: Unpack[ApiOptions]) -> dict[str, Any]:
    """The ``data`` of a Prometheus API answer whose ``status`` is "success"."""
    answer = _get(url, path, timeout=timeout, options=options, params=params)
    if not isinstance(answer, dict) or answer.get("status") != "success" \
            or not isinstance(answer.get("data"), dict):
        error = answer.get("error") if isinstance(answer, dict) else None
        raise MissingData(f"{_where(url)}{path}: not a successful Prometheus answer"
                          f"{f': {error}' if error else ''}")
    data: dict[str, Any] = answer["data"]
    return data


def _field(data: dict[str, Any], key: str, url: str) -> list[dict[str, Any]]:
    return _list(data.get(key), url)


def _list(value: Any, url: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise MissingData(f"{_where(url)}: expected a list of objects, got {str(value)[:120]!r}")
    return value


def _where(url: str) -> str:
    return split_userinfo(url)[0]


def _alert(raw: dict[str, Any], state: str, starts: str | None) -> Alert:
    labels = {str(k): str(v) for k, v in (raw.get("labels") or {}).items()}
    notes = raw.get("annotations") or {}
    return Alert(name=labels.get("alertname", ""), severity=labels.get("severity", ""),
                 state=state, labels=labels, starts_at=_time(starts),
                 summary=str(notes.get("summary") or notes.get("description") or ""))


def _matcher(m: dict[str, Any]) -> str:
    op = ("=~" if m.get("isRegex") else "=") if m.get("isEqual", True) else \
        ("!~" if m.get("isRegex") else "!=")
    return f'{m.get("name", "")}{op}"{m.get("value", "")}"'


def _series(metric: Mapping[str, str]) -> str:
    name = metric.get("__name__", "")
    labels = ",".join(f'{k}="{v}"' for k, v in metric.items() if k != "__name__")
    return f"{name}{{{labels}}}"


_FRACTION = re.compile(r"(\.\d{6})\d+")


def _time(value: str | None) -> datetime | None:
    """Go's RFC 3339 times, whose nanoseconds Python 3.11 cannot read: keep microseconds."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(_FRACTION.sub(r"\1", value))
    except ValueError:
        return None
