"""The pre-maintenance baseline, and what changed since: "as it was before the window".

``pytest checks/pre`` saves ``reports/<change>/baseline.json`` (inside the signed folder) from
the facts it gathered anyway plus one look at each declared endpoint and certificate, at a
replica's replication and at the alerts of a host that declares an Alertmanager. Post checks
compare against it; changes the change declared (``--declare nginx>=1.22.2``,
``--declare cert:app.example.com``) are allowed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

from maintcheck.assess import Findings, version_key
from maintcheck.errors import CheckError, MissingData, ServiceFailed
from maintcheck.facts import Facts
from maintcheck.inventory import Host
from maintcheck.runner import Runner
from maintcheck.secret import split_userinfo

# The probes (requests, cryptography) are imported where a snapshot or a comparison needs them,
# not with this module: the plugin imports it before the first host is probed, and a run whose
# hosts declare no endpoint never needs them.
FILE = "baseline.json"
LATENCY_SAMPLES = 3
SAMPLING_BUDGET_MS = 1000.0  # a slower endpoint is measured once: its noise is relatively small
# one host as host_snapshot saw it: units, ports, packages, capacity, endpoints, certificates...
Snapshot: TypeAlias = Mapping[str, Any]


def host_snapshot(host: Host, facts: Facts, http_options: Mapping[str, Any],
                  runner: Runner | None = None) -> dict[str, Any]:
    """What one host looks like now: units, ports, packages, capacity, endpoints, certificates,
    and, where the inventory declares them, replication (``runner`` asks) and firing alerts."""
    snap: dict[str, Any] = {
        "units": {name: unit.active_state for name, unit in sorted(facts.units.items())},
        "ports": sorted(facts.listening_ports),
        "packages": dict(sorted(facts.packages.items())) if "packages" in facts.raw else {},
        "disk_percent": {m.mount: m.used_percent for m in facts.mounts(host.expect.filesystems)},
        "memory_percent": facts.memory_used_percent,
        "load_per_cpu": round(facts.load5 / max(1, facts.cpus), 2),
        "endpoints": {}, "certificates": {},
    }

    for spec in host.expect.http:
        # keyed by the URL without its credentials: the saved baseline holds none, and post
        # finds the same key for the same endpoint
        key = split_userinfo(spec["url"])[0]
        snap["endpoints"][key] = endpoint_state(spec, http_options)
    for tls in host.expect.tls:
        key = f"{tls['server_name']}@{tls['address']}"
        snap["certificates"][key] = certificate_state(tls, http_options)
    if runner is not None and host.expect.postgres_role == "replica":
        snap["replication"] = replication_state(runner, host.expect.command_timeout)
    if host.expect.alertmanager_url:
        snap["alerts"] = alert_state(host.expect.alertmanager_url, http_options)
    return snap


def certificate_state(spec: Mapping[str, Any], http_options: Mapping[str, Any]
                      ) -> dict[str, Any]:
    """The certificate a TLS endpoint serves: its fingerprint and expiry."""
    from maintcheck.probes import tls

    try:
        cert = tls.inspect(spec["address"], spec["server_name"],
                           timeout=http_options["timeout"], ca_bundle=http_options["ca_bundle"])
    except CheckError as exc:  # maintcheck could not look: nothing is known of the service
        return {"error": str(exc), "unobserved": True}
    except ServiceFailed as exc:  # it was reached and served no certificate
        return {"error": str(exc)}
    return {"sha256": cert.fingerprint_sha256, "not_after": f"{cert.not_after:%Y-%m-%dT%H:%M:%SZ}"}


def endpoint_state(spec: Mapping[str, Any], http_options: Mapping[str, Any]) -> dict[str, Any]:
    """Status and latency: the best of up to :data:`LATENCY_SAMPLES` answers, while they stay
    under :data:`SAMPLING_BUDGET_MS` in all. On a busy machine one answer in a few is slow for
    reasons that are not the endpoint's (a 4 ms page took 186 ms); a slow link slows them all.

    Only an answer as declared (its status and body, over verified TLS) is a latency sample: a
    refused, reset, unverified or wrong answer is recorded as ``error``, with no latency."""
    from maintcheck.assess_services import http_answer
    from maintcheck.probes import http

    def look() -> tuple[http.HttpObservation, list[str]]:
        seen = http.fetch(spec["url"], expect_contains=spec.get("contains"),
                          headers=spec.get("headers"), **http_options)
        return seen, [f.removeprefix("-: ") for f in http_answer("", seen, {**spec, "name": "-"})]

    try:
        first, wrong = look()
    except CheckError as exc:  # maintcheck could not look: nothing is known of the service
        return {"error": str(exc), "unobserved": True}
    if wrong:
        return {"status": first.status, "error": "; ".join(wrong)}
    seen = [first]
    while len(seen) < LATENCY_SAMPLES and sum(s.latency_ms for s in seen) < SAMPLING_BUDGET_MS:
        try:
            again, wrong = look()
        except CheckError:
            break  # the first answer stands
        if wrong:
            break
        seen.append(again)
    return {"status": first.status, "latency_ms": round(min(s.latency_ms for s in seen), 1)}


def replication_state(runner: Runner, timeout: float) -> dict[str, Any]:
    """A replica's replay lag; ``lag_seconds`` is None unless it is in recovery and streams (a
    replica cut off from its primary has replayed all it knows: its 0 would be a lie). A paused
    replay still streams: its lag is real, and grows."""
    from maintcheck.probes import postgres

    try:
        seen = postgres.replica_status(runner, timeout=timeout)
    except CheckError as exc:
        return {"error": str(exc)}
    streaming = seen.up and seen.in_recovery and seen.receiver_status == "streaming"
    return {"receiver": seen.receiver_status if seen.up else "down",
            "lag_seconds": round(seen.lag_seconds, 1) if streaming and seen.lag_seconds
            is not None else None}


def alert_state(url: str, http_options: Mapping[str, Any]) -> dict[str, Any]:
    """The alerts firing now (neither silenced nor inhibited), each with a stable key."""
    from maintcheck.probes import prometheus

    try:
        alerts = prometheus.firing_alerts(url, **http_options)
    except CheckError as exc:
        return {"error": str(exc)}
    firing = {alert_key(a.labels): {"name": a.name, "severity": a.severity} for a in alerts}
    return {"firing": dict(sorted(firing.items()))}


def alert_key(labels: Mapping[str, str]) -> str:
    """``DiskFull{instance="db-01:9100",severity="critical"}``: one alert, across runs."""
    rest = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "alertname")
    return f"{labels.get('alertname', '')}{{{rest}}}"


@dataclass(frozen=True)
class Declared:
    """Changes the change request declares: package minimums, certificate names, and load
    balancer servers it takes out of rotation (``backend/server``)."""

    packages: Mapping[str, str]
    certificates: frozenset[str]
    servers: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Declared:
        """``["nginx>=1.22.2", "cert:app.example.com", "lb:web/web-01"]``; raises ValueError
        on anything else."""
        packages, certs, servers = {}, set(), set()
        for entry in entries:
            if entry.startswith("cert:") and len(entry) > 5:
                certs.add(entry[5:])
            elif entry.startswith("lb:") and entry[3:].count("/") == 1 and all(
                    entry[3:].split("/")):
                servers.add(entry[3:])
            elif ">=" in entry and all(entry.split(">=", 1)):
                name, version = entry.split(">=", 1)
                packages[name.strip()] = version.strip()
            else:
                raise ValueError(f"{entry!r}: declare a package as NAME>=VERSION, a "
                                 "certificate as cert:NAME, or a load balancer server out of "
                                 "rotation as lb:BACKEND/SERVER")
        return cls(packages, frozenset(certs), frozenset(servers))


def load(path: Path, *, change: str, inventory_sha256: str) -> dict[str, Any]:
    """The baseline of this change and inventory; anything else is :class:`MissingData`."""
    if not path.exists():
        raise MissingData(f"no pre-maintenance baseline at {path}: run `pytest checks/pre` for "
                          "this change first, or pass --no-baseline to skip the comparison")
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MissingData(f"{path}: unreadable baseline: {exc}") from None
    if data.get("change") != change:
        raise MissingData(f"{path} is the baseline of change {data.get('change')!r}, not {change!r}")
    if data.get("inventory_sha256") != inventory_sha256:
        raise MissingData(f"{path} was taken with another inventory (sha256 "
                          f"{str(data.get('inventory_sha256'))[:12]}...); pass --no-baseline to "
                          "skip the comparison")
    return data


def before(baseline: Mapping[str, Any], host: str) -> Snapshot:
    try:
        return baseline["hosts"][host]  # type: ignore[no-any-return]
    except KeyError:
        raise MissingData(f"{host} is not in the pre-maintenance baseline") from None


def units_stopped(host: str, was: Mapping[str, Any], now: Mapping[str, Any]) -> Findings:
    return Findings(host, [f"{unit}: active before the window, {now['units'].get(unit, 'gone')} "
                           "now" for unit, state in was["units"].items()
                           if state == "active" and now["units"].get(unit) != "active"])


def ports_changed(host: str, was: Mapping[str, Any], now: Mapping[str, Any]) -> Findings:
    gone = sorted(set(was["ports"]) - set(now["ports"]))
    new = sorted(set(now["ports"]) - set(was["ports"]))
    return Findings(host, ([f"ports {gone} listened before the window and do not now"] if gone
                           else []) + ([f"ports {new} listen now and did not before"] if new
                                       else []))


def packages_changed(host: str, was: Mapping[str, Any], now: Mapping[str, Any],
                     declared: Declared) -> Findings:
    found = []
    for name in sorted(set(was["packages"]) | set(now["packages"])):
        old, new = was["packages"].get(name), now["packages"].get(name)
        if old == new:
            continue
        allowed = declared.packages.get(name)
        if allowed and new and version_key(new) >= version_key(allowed):
            continue
        found.append(f"package {name}: {old or 'absent'} -> {new or 'removed'}, not declared"
                     + (f" (declared >= {allowed})" if allowed else ""))
    return Findings(host, found)


def certificates_changed(host: str, was: Mapping[str, Any], now: Mapping[str, Any],
                         declared: Declared) -> Findings:
    """Certificates served now that differ from before the window and were not declared, or
    that a reached service no longer serves; ERROR when maintcheck could not look."""
    found, unobserved = [], []
    for key, old in was["certificates"].items():
        new = now["certificates"].get(key, {})
        if "sha256" not in old:
            raise MissingData(f"{host}: certificate {key} was not read before the window: "
                              f"{old.get('error', 'not looked at')}")
        if "sha256" not in new and new.get("unobserved"):
            unobserved.append(f"certificate {key}: could not look now ({new['error']})")
        elif "sha256" not in new:
            found.append(f"certificate {key}: could not read it now ("
                         f"{new.get('error', 'not looked at')}), expected the certificate "
                         f"served before the window ({old['sha256'][:16]}...)")
        elif new["sha256"] != old["sha256"] and key.split("@")[0] not in declared.certificates:
            found.append(f"certificate {key}: {old['sha256'][:16]}... -> {new['sha256'][:16]}..."
                         ", changed and not declared (--declare cert:NAME)")
    if unobserved and not found:  # nothing known is no evidence of "unchanged"
        raise MissingData(f"{host}: " + "; ".join(unobserved))
    return Findings(host, found)


def alerts_new(host: str, was: Mapping[str, Any], now: Mapping[str, Any],
               min_severity: str) -> Findings:
    """Alerts at or above ``min_severity`` firing now that did not fire before the window."""
    from maintcheck.probes import prometheus

    if "alerts" not in was:
        raise MissingData(f"{host}: the pre-maintenance baseline holds no alert state")
    old, new = was["alerts"], now.get("alerts", {})
    for when, state in (("before the window", old), ("now", new)):
        if "firing" not in state:
            raise MissingData(f"{host}: alert state unknown {when}: "
                              f"{state.get('error', 'not looked at')}")
    floor = prometheus.severity_rank(min_severity)
    return Findings(host, [
        f"alert {a['name']} ({a['severity'] or 'no severity'}) firing now, not before the "
        f"window; expected no new alert at or above {min_severity}: {key}"
        for key, a in new["firing"].items()
        if key not in old["firing"] and prometheus.severity_rank(a["severity"]) >= floor])


def changed(kind: str, was: Mapping[str, Any], now: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Comparison-table rows for what differs in ``kind`` (units, ports, packages,
    certificates, alerts): metric, before, after, and in delta what happened."""
    def table(snap: Mapping[str, Any]) -> dict[str, Any]:
        value = snap.get(kind, {})
        if kind == "ports":
            return {str(p): "listening" for p in value}
        if kind == "certificates":
            return {k: v.get("sha256", v.get("error", "?"))[:16] for k, v in value.items()}
        if kind == "alerts":
            return {k: "firing" for k in value.get("firing", {})}
        return dict(value)
    old, new = table(was), table(now)
    rows = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            delta = ("appeared" if key not in old else "vanished" if key not in new
                     else "changed")
            rows.append({"metric": f"{kind.rstrip('s')} {key}", "before": old.get(key),
                         "after": new.get(key), "delta": delta})
    return rows


def latency_regressed(host: str, was: Mapping[str, Any], now: Mapping[str, Any],
                      max_ratio: float, min_increase_ms: float = 50.0) -> Findings:
    """Endpoints slower than ``max_ratio`` times their pre-window latency, and by at least
    ``min_increase_ms`` (below that, a slower answer is noise, not a regression)."""
    found, unmeasured = [], []
    for url in sorted(set(was["endpoints"]) | set(now["endpoints"])):
        old, new = was["endpoints"].get(url, {}), now["endpoints"].get(url, {})
        if "latency_ms" not in old:
            unmeasured.append(f"{url} (no answer before the window: "
                              f"{old.get('error', 'not looked at')})")
            continue
        if "latency_ms" not in new and new.get("unobserved", "error" not in new):
            unmeasured.append(f"{url} (no answer now: {new.get('error', 'not looked at')})")
            continue
        if "latency_ms" not in new:
            # answered as declared before the window, and wrongly or not at all now: worse
            found.append(f"{url}: no latency now ({new.get('error', 'not looked at')}), was "
                         f"{old['latency_ms']:.0f} ms before the window")
            continue
        limit = max(old["latency_ms"] * max_ratio, old["latency_ms"] + min_increase_ms)
        if new["latency_ms"] > limit:
            found.append(f"{url}: {new['latency_ms']:.0f} ms, was {old['latency_ms']:.0f} ms "
                         f"before the window (allowed up to {limit:.0f} ms)")
    if unmeasured and not found:
        # nothing compared is no evidence of "no worse": the endpoints' own checks say why
        raise MissingData(f"{host}: latency not compared for {', '.join(unmeasured)}")
    return Findings(host, found)


def impact_table(was: Mapping[str, Any], now: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of metric, before, after and delta, for the report's comparison table."""
    rows = [("memory %", was["memory_percent"], now["memory_percent"]),
            ("load per CPU", was["load_per_cpu"], now["load_per_cpu"])]
    rows += [(f"disk % {m}", v, now["disk_percent"].get(m)) for m, v in was["disk_percent"].items()]
    rows += [(f"latency ms {u}", v.get("latency_ms"), now["endpoints"].get(u, {}).get("latency_ms"))
             for u, v in was["endpoints"].items()]
    unobserved = {f"latency ms {u}" for u, v in now["endpoints"].items() if v.get("unobserved")}
    if "replication" in was:
        rows.append(("replication lag s", was["replication"].get("lag_seconds"),
                     now.get("replication", {}).get("lag_seconds")))
    if "alerts" in was:
        rows.append(("alerts firing", count_firing(was["alerts"]),
                     count_firing(now.get("alerts", {}))))
    return [{"metric": name, "before": b, "after": a,
             "delta": round(a - b, 2) if isinstance(a, (int, float)) and isinstance(
                 b, (int, float)) else None, **({"unobserved": True} if name in unobserved
                                                else {})} for name, b, a in rows]


def missing_now(table: Iterable[Mapping[str, Any]]) -> list[str]:
    """The metrics of an :func:`impact_table` measured before the window and not now: the
    system answers wrongly or not at all. When the only ones missing are those maintcheck
    could not look at now (no connection within the timeout), that is :class:`MissingData`
    (ERROR), not a finding."""
    rows = [row for row in table if row["before"] is not None and row["after"] is None]
    missing = [row["metric"] for row in rows if not row.get("unobserved")]
    if rows and not missing:
        raise MissingData(f"could not look now at: {', '.join(r['metric'] for r in rows)}")
    return missing


def count_firing(state: Mapping[str, Any]) -> int | None:
    return len(state["firing"]) if "firing" in state else None
