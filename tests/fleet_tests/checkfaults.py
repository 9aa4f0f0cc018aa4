"""Faults the checklist proof needs beyond :mod:`fleet.faults`: one broken thing each, undoable.

Like :mod:`fleet.faults`, each function injects one fault, waits (bounded) until it is in
effect, and returns a :class:`fleet.Fault` whose ``undo()`` restores the host and waits for a
healthy fleet; use it as a context manager:

>>> with checkfaults.chmod(fleet, "web-02", "/usr/local/sbin/rollback.sh", 0o644):
...     seen = run_checks("pre", ...)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import urllib.parse
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from fleet import Fault, faults, observe
from fleet import roles as r
from fleet.host import Host, bounded_wait

if TYPE_CHECKING:
    from fleet import Fleet

FAULT_TABLE = "fleet_fault"
SECURITY_REPO = "/srv/fleet-security"
SECURITY_LIST = "/etc/apt/sources.list.d/fleet-security.list"


def _stat(h: Host, path: str) -> tuple[int, str]:
    """(mtime, octal mode) of a path inside the host."""
    mtime, mode = h.exec(["stat", "-c", "%Y %a", path]).stdout.split()
    return int(mtime), mode


def newest(fleet: Fleet, host: str, glob: str) -> str:
    """The newest file matching ``glob`` inside the host (a backup set's newest file)."""
    out = fleet.host(host).exec(f"ls -1t {glob} | head -n 1").stdout.strip()
    if not out:
        raise RuntimeError(f"{host}: nothing matches {glob}")
    return out


@contextlib.contextmanager
def window_state(fleet: Fleet) -> Iterator[None]:
    """The fleet as a window leaves it while it lasts: the status file on every host, the
    app's worker stopped; both undone on leaving."""
    with contextlib.ExitStack() as stack:
        for name in fleet.hosts:
            stack.enter_context(faults.leave_status_file(fleet, name))
        for web in fleet.by_role("web"):
            stack.enter_context(faults.stop_unit(fleet, web.name, r.APP_WORKER_UNIT))
        yield


# --- files -------------------------------------------------------------------------------------

def rewrite(fleet: Fleet, host: str, path: str, change: Callable[[str], str],
            name: str = "rewrite") -> Fault:
    """Replace a text file by ``change(text)``; undo puts the original back, mode and mtime too."""
    h = fleet.host(host)
    text = h.read_file(path)
    mtime, mode = _stat(h, path)
    new = change(text)
    if new == text:
        raise RuntimeError(f"{host}:{path}: the change changes nothing")
    h.write_file(path, new, int(mode, 8))

    def undo() -> None:
        h.write_file(path, text, int(mode, 8))
        h.exec(["touch", "-d", f"@{mtime}", path])

    return Fault(name, f"{host}:{path}", fleet, undo)


def move_aside(fleet: Fleet, host: str, path: str) -> Fault:
    """``mv`` a path away; undo moves it back."""
    h = fleet.host(host)
    h.exec(["mv", path, f"{path}.fleet-fault"])

    def undo() -> None:
        h.exec(["mv", f"{path}.fleet-fault", path])

    return Fault("move_aside", f"{host}:{path}", fleet, undo)


def chmod(fleet: Fleet, host: str, path: str, mode: int) -> Fault:
    h = fleet.host(host)
    _, old = _stat(h, path)
    h.exec(["chmod", f"{mode:o}", path])

    def undo() -> None:
        h.exec(["chmod", old, path])

    return Fault("chmod", f"{host}:{path}", fleet, undo)


def age(fleet: Fleet, host: str, paths: str, hours: float) -> Fault:
    """Set the mtime of ``paths`` (a shell glob) to ``hours`` ago; undo restores each one."""
    h = fleet.host(host)
    before = h.exec(f"stat -c '%Y %n' {paths}").stdout.splitlines()
    then = int(dt.datetime.now(dt.UTC).timestamp() - hours * 3600)
    h.exec(f"touch -d @{then} {paths}")

    def undo() -> None:
        for line in before:
            mtime, path = line.split(" ", 1)
            h.exec(["touch", "-d", f"@{mtime}", path])

    return Fault("age", f"{host}:{paths}", fleet, undo, details={"hours": str(hours)})


def corrupt(fleet: Fleet, host: str, path: str) -> Fault:
    """Append a byte to a file, keeping its mtime: its sha256 no longer matches its sidecar."""
    h = fleet.host(host)
    h.exec(["cp", "-p", path, f"{path}.fleet-orig"])
    h.exec(["sh", "-c", 'printf x >> "$1" && touch -r "$1.fleet-orig" "$1"', "corrupt", path])

    def undo() -> None:
        h.exec(["mv", "-f", f"{path}.fleet-orig", path])

    return Fault("corrupt", f"{host}:{path}", fleet, undo)


def create_file(fleet: Fleet, host: str, path: str, text: str = "", *, hours_old: float = 0,
                copy_of: str | None = None) -> Fault:
    """Leave a file behind (``text``, or a copy of ``copy_of``), ``hours_old`` hours old."""
    h = fleet.host(host)
    if copy_of:
        h.exec(["cp", copy_of, path])
    else:
        h.write_file(path, text)
    if hours_old:
        then = int(dt.datetime.now(dt.UTC).timestamp() - hours_old * 3600)
        h.exec(["touch", "-d", f"@{then}", path])

    def undo() -> None:
        h.exec(["rm", "-f", path])

    return Fault("create_file", f"{host}:{path}", fleet, undo)


def remove_file(fleet: Fleet, host: str, path: str) -> Fault:
    """The reverse of leaving a file: remove one that should be there; undo writes it back."""
    h = fleet.host(host)
    text = h.read_file(path)
    h.exec(["rm", "-f", path])

    def undo() -> None:
        h.write_file(path, text)

    return Fault("remove_file", f"{host}:{path}", fleet, undo)


def commands(fleet: Fleet, host: str, do: list[str], undo: list[str], name: str) -> Fault:
    """Run ``do`` inside the host; undo runs ``undo``."""
    h = fleet.host(host)
    h.exec(do)

    def revert() -> None:
        h.exec(undo)

    return Fault(name, host, fleet, revert)


def together(fleet: Fleet, name: str, *steps: Callable[[], Fault]) -> Fault:
    """Several faults injected in order, undone in reverse order."""
    done: list[Fault] = []

    def undo() -> None:
        for f in reversed(done):
            f.revert()  # the fleet is healthy only once all are undone: the caller waits

    try:
        for step in steps:
            done.append(step())
    except BaseException:
        undo()
        fleet.wait_healthy()
        raise
    return Fault(name, ", ".join(f.target for f in done), fleet, undo)


# --- units -------------------------------------------------------------------------------------

def start_unit(fleet: Fleet, host: str, unit: str) -> Fault:
    """Start a unit that should be stopped (left running through the window); undo stops it."""
    h = fleet.host(host)
    h.systemctl("start", unit)
    faults.wait_unit(h, unit, "active")

    def undo() -> None:
        h.systemctl("stop", unit)
        faults.wait_unit(h, unit, "inactive")

    return Fault("start_unit", f"{host}:{unit}", fleet, undo)


def stop_log_shipper(fleet: Fleet, host: str) -> Fault:
    """Stop rsyslog with its socket: stopped alone, the next log line would start it again."""
    h = fleet.host(host)
    h.systemctl("stop", "syslog.socket", "rsyslog.service")
    faults.wait_unit(h, "rsyslog.service", "inactive")

    def undo() -> None:
        h.systemctl("start", "syslog.socket", "rsyslog.service")
        faults.wait_unit(h, "rsyslog.service", "active")

    return Fault("stop_log_shipper", f"{host}:rsyslog", fleet, undo)


def run_fails(fleet: Fleet, host: str, unit: str) -> Fault:
    """Make a oneshot unit's next run fail (``ExecStart=/bin/false``), and run it; undo runs
    the real one again, so its last result is a success."""
    h = fleet.host(host)
    dropin = f"/run/systemd/system/{unit}.d/fleet-fault.conf"
    h.write_file(dropin, "[Service]\nExecStart=\nExecStart=/bin/false\n")
    h.systemctl("daemon-reload")
    h.systemctl("start", unit, check=False)
    faults.wait_unit(h, unit, "failed")

    def undo() -> None:
        h.exec(["rm", "-f", dropin])
        h.systemctl("daemon-reload")
        h.systemctl("reset-failed", unit)
        h.systemctl("start", unit)

    return Fault("run_fails", f"{host}:{unit}", fleet, undo)


def run_in_progress(fleet: Fleet, host: str, unit: str) -> Fault:
    """Start a oneshot unit whose run lasts (``ExecStartPre=sleep``), as the daily backup at
    midnight does; undo ends it and runs the real one, so its last result is a success."""
    h = fleet.host(host)
    dropin = f"/run/systemd/system/{unit}.d/fleet-fault.conf"
    h.write_file(dropin, "[Service]\nExecStartPre=/bin/sleep 600\n")
    h.systemctl("daemon-reload")
    h.systemctl("start", "--no-block", unit)
    faults.wait_unit(h, unit, "activating")

    def undo() -> None:
        h.systemctl("stop", unit)
        h.exec(["rm", "-f", dropin])
        h.systemctl("daemon-reload")
        h.systemctl("reset-failed", unit, check=False)
        h.systemctl("start", unit)

    return Fault("run_in_progress", f"{host}:{unit}", fleet, undo)


def stop_scrape_target(fleet: Fleet, host: str) -> Fault:
    """Stop a host's node exporter and wait until Prometheus sees its target down."""
    mon = fleet.by_role("monitoring")[0]
    stopped = faults.stop_unit(fleet, host, "prometheus-node-exporter")
    bounded_wait(f"prometheus: target {host} down",
                 lambda: observe.prometheus_targets(mon).get(host) == "down", timeout=60)
    return stopped


# --- packages ----------------------------------------------------------------------------------

_REPACK = r'''
set -eu
pkg=$1 out=$2
d=$(mktemp -d)
dpkg-query -L "$pkg" | while read -r f; do
  if [ ! -d "$f" ] && { [ -f "$f" ] || [ -L "$f" ]; }; then printf '%s\n' "${f#/}"; fi
done | tar -C / --no-recursion -cf - -T - | tar -C "$d" -xf -
mkdir "$d/DEBIAN"
dpkg-query -s "$pkg" | awk '/^[^ ]/ { skip = ($1 == "Status:" || $1 == "Conffiles:") } !skip' \
  > "$d/DEBIAN/control"
for s in preinst postinst prerm postrm conffiles; do
  if [ -f "/var/lib/dpkg/info/$pkg.$s" ]; then cp "/var/lib/dpkg/info/$pkg.$s" "$d/DEBIAN/$s"; fi
done
dpkg-deb -b -Zgzip "$d" "$out" >/dev/null
rm -rf "$d"
'''


def remove_package(fleet: Fleet, host: str, package: str) -> Fault:
    """``dpkg -r`` a package; undo reinstalls it from a copy packed first (the fleet is offline)."""
    h = fleet.host(host)
    deb = f"/root/{package}.fleet-fault.deb"
    h.exec(["sh", "-c", _REPACK, "repack", package, deb])
    h.exec(["dpkg", "-r", package])

    def undo() -> None:
        h.exec(["dpkg", "-i", deb])
        h.exec(["rm", "-f", deb])

    return Fault("remove_package", f"{host}:{package}", fleet, undo)


def _stanza_version(package: str, version: str) -> Callable[[str], str]:
    def change(status: str) -> str:
        stanzas = status.split("\n\n")
        for i, stanza in enumerate(stanzas):
            if stanza.startswith(f"Package: {package}\n"):
                stanzas[i] = "\n".join(f"Version: {version}" if line.startswith("Version: ")
                                       else line for line in stanza.split("\n"))
        return "\n\n".join(stanzas)
    return change


def installed_version(fleet: Fleet, host: str, package: str, version: str) -> Fault:
    """dpkg records ``package`` at an older ``version``, as when an upgrade was never applied.

    The fleet is offline, so no older package can be installed: dpkg's status is edited
    instead, which is all that maintcheck (like ``dpkg-query``) reads.
    """
    return rewrite(fleet, host, "/var/lib/dpkg/status", _stanza_version(package, version),
                   name="installed_version")


_PUBLISH = r'''
set -eu
pkg=$1 repo=$2 list=$3
ver=$(dpkg-query -W -f '${Version}' "$pkg")
arch=$(dpkg-query -W -f '${Architecture}' "$pkg")
mkdir -p "$repo"
printf 'Package: %s\nVersion: %s+fleet1\nArchitecture: %s\nMaintainer: fleet <fleet@fleet.test>\nFilename: %s.deb\nSize: 1\nDescription: a security update\n\n' \
  "$pkg" "$ver" "$arch" "$pkg" > "$repo/Packages"
printf 'Origin: Debian\nLabel: Debian-Security\nSuite: bookworm-security\nCodename: bookworm-security\n' \
  > "$repo/Release"
echo "deb [trusted=yes] file:$repo ./" > "$list"
apt-get update -qq -o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=- \
  -o APT::Get::List-Cleanup=0 2>/dev/null
'''


def security_update_published(fleet: Fleet, host: str, package: str = "less") -> Fault:
    """A local bookworm-security repository offers a newer ``package``: an update is pending."""
    h = fleet.host(host)
    h.exec(["sh", "-c", _PUBLISH, "publish", package, SECURITY_REPO, SECURITY_LIST])

    def undo() -> None:
        h.exec(f"rm -rf {SECURITY_LIST} {SECURITY_REPO} /var/lib/apt/lists/_srv_fleet-security_*")

    return Fault("security_update_published", f"{host}:{package}", fleet, undo)


# --- network -----------------------------------------------------------------------------------

def nft_table(fleet: Fleet, host: str, body: str, name: str) -> Fault:
    """Load an extra nftables table into the host; undo deletes it."""
    h = fleet.host(host)
    h.write_file("/run/fleet-fault.nft", f"table inet {FAULT_TABLE} {{\n{body}\n}}\n")
    h.exec(["nft", "-f", "/run/fleet-fault.nft"])

    def undo() -> None:
        h.exec(["nft", "delete", "table", "inet", FAULT_TABLE])

    return Fault(name, host, fleet, undo)


def reject_tcp(fleet: Fleet, host: str, *, port: int, source: str | None = None,
               destination: str | None = None) -> Fault:
    """Reject TCP to ``port`` from ``source`` (input) or towards ``destination`` (output)."""
    hook, match = ("input", f"ip saddr {source}") if source else ("output", f"ip daddr {destination}")
    body = (f"  chain {hook} {{\n    type filter hook {hook} priority -10; policy accept;\n"
            f"    {match} tcp dport {port} reject with tcp reset\n  }}")
    return nft_table(fleet, host, body, "reject_tcp")


def slow_connects(fleet: Fleet, host: str, port: int = 443, drops: int = 3) -> Fault:
    """Drop the first ``drops`` SYNs of every connection to ``port``: each connect takes
    ``drops`` seconds or more (the client's SYN retries), the answers are unchanged."""
    syn = f"tcp dport {port} tcp flags & (syn | ack) == syn"
    key = "ip saddr . tcp sport"
    sets = "\n".join(f"  set syn{i} {{ type ipv4_addr . inet_service; flags dynamic, timeout; "
                     f"timeout 60s; }}" for i in range(1, drops + 1))
    rules = [f"    {syn} {key} @syn{drops} accept"]
    rules += [f"    {syn} {key} @syn{i} update @syn{i + 1} {{ {key} }} drop"
              for i in range(drops - 1, 0, -1)]
    rules.append(f"    {syn} update @syn1 {{ {key} }} drop")
    body = (f"{sets}\n  chain input {{\n    type filter hook input priority -10; "
            f"policy accept;\n" + "\n".join(rules) + "\n  }")
    return nft_table(fleet, host, body, "slow_connects")


def delete_firewall_rule(fleet: Fleet, host: str, rule: str) -> Fault:
    """Delete one rule of the host's loaded ruleset; undo reloads /etc/nftables.conf."""
    h = fleet.host(host)
    listing = h.exec(["nft", "-a", "list", "chain", "inet", "filter", "input"]).stdout
    handle = next(line.rsplit("# handle ", 1)[1].strip() for line in listing.splitlines()
                  if line.strip().startswith(rule) and "# handle " in line)
    h.exec(["nft", "delete", "rule", "inet", "filter", "input", "handle", handle])

    def undo() -> None:
        h.exec(["nft", "-f", "/etc/nftables.conf"])

    return Fault("delete_firewall_rule", f"{host}:{rule}", fleet, undo)


# --- the app, the load balancer, monitoring ----------------------------------------------------

def _wait_lb(fleet: Fleet, server: str, state: str) -> None:
    lb = fleet.by_role("lb")[0]
    bounded_wait(f"haproxy: web/{server} {state}",
                 lambda: observe.haproxy_status(lb).get(f"web/{server}") == state, timeout=60)


def out_of_rotation(fault: Fault, server: str) -> Fault:
    """Wait until HAProxy's health check took ``server`` out (DOWN), then hand the fault back."""
    try:
        _wait_lb(fault.fleet, server, "DOWN")
    except BaseException:
        fault.undo()
        raise
    return fault


def app_error(fleet: Fleet, host: str) -> Fault:
    """The app's page becomes a symlink loop: nginx answers 500; /health still answers ok."""
    h = fleet.host(host)
    page = "/var/www/html/index.html"
    h.exec(["mv", page, f"{page}.fleet-fault"])
    h.exec(["ln", "-s", "index.html", page])

    def undo() -> None:
        h.exec(["rm", "-f", page])
        h.exec(["mv", f"{page}.fleet-fault", page])

    return Fault("app_error", host, fleet, undo)


def maintenance_mode_left_on(fleet: Fleet, host: str, script: str) -> Fault:
    """The web host's maintenance mode is on (nginx answers 503): HAProxy takes it out."""
    h = fleet.host(host)
    h.exec([script, "on"])

    def undo() -> None:
        h.exec([script, "off"])

    return out_of_rotation(Fault("maintenance_mode_left_on", host, fleet, undo), host)


def lb_server(fleet: Fleet, server: str, command: str, undo_command: str,
              seen: Callable[[Host], bool], healthy: Callable[[Host], bool],
              name: str) -> Fault:
    """One HAProxy runtime command on ``web/server`` (``set server web/web-01 state drain``),
    held until the stats show it; undone with ``undo_command``."""
    lb = fleet.by_role("lb")[0]
    faults.haproxy_command(lb, command)
    bounded_wait(f"haproxy: {command}", lambda: seen(lb), timeout=15)

    def undo() -> None:
        faults.haproxy_command(lb, undo_command)
        bounded_wait(f"haproxy: {undo_command}", lambda: healthy(lb), timeout=30)

    return Fault(name, f"web/{server}", fleet, undo)


def lb_server_state(fleet: Fleet, server: str, state: str) -> Fault:
    """``web/server`` set to ``drain`` or ``maint`` through the runtime API: it stays UP to its
    health checks, and takes no new traffic."""
    key, shown = f"web/{server}", {"drain": "DRAIN", "maint": "MAINT"}[state]
    return lb_server(fleet, server, f"set server {key} state {state}",
                     f"set server {key} state ready",
                     lambda lb: observe.haproxy_status(lb).get(key) == shown,
                     lambda lb: observe.haproxy_status(lb).get(key) == "UP",
                     f"lb_server_{state}")


def lb_server_weight_zero(fleet: Fleet, server: str) -> Fault:
    """``web/server`` at weight 0: UP to its health checks, it takes no new traffic."""
    key = f"web/{server}"
    return lb_server(fleet, server, f"set weight {key} 0", f"set weight {key} 1",
                     lambda lb: observe.haproxy_weights(lb).get(key) == "0",
                     lambda lb: observe.haproxy_weights(lb).get(key) == "1",
                     "lb_server_weight_zero")


def maintenance_page(fleet: Fleet, host: str) -> Fault:
    """The web host's app page becomes a maintenance page served with HTTP 200; its /health
    still says ok, so HAProxy keeps it in rotation and users get the page."""
    return rewrite(fleet, host, "/var/www/html/index.html",
                   lambda _: "<html><body>Back soon: scheduled maintenance</body></html>\n",
                   "maintenance_page")


def maintenance_mode_everywhere(fleet: Fleet, script: str) -> Fault:
    """Every web host in maintenance mode (nginx answers 503): HAProxy has none left."""
    webs = [h.name for h in fleet.by_role("web")]
    return together(fleet, "maintenance_mode_everywhere",
                    *[lambda w=w: maintenance_mode_left_on(fleet, w, script) for w in webs])


CRASH_LOOP_DROPIN = "/etc/systemd/system/nginx.service.d/fleet-crash-loop.conf"


def crash_loop(fleet: Fleet, host: str) -> Fault:
    """nginx's ExecStart fails and systemd restarts it forever (Restart=always): the unit
    flips between activating and failed, and port 443 refuses."""
    h = fleet.host(host)
    h.write_file(CRASH_LOOP_DROPIN, "[Unit]\nStartLimitIntervalSec=0\n[Service]\n"
                 "ExecStartPre=\nExecStart=\nExecStart=/bin/false\nRestart=always\n"
                 "RestartSec=1\n", 0o644)
    h.exec("systemctl daemon-reload && systemctl restart nginx || true")
    bounded_wait(f"{host}: nginx crash-looping", lambda: observe.unit_state(h, "nginx")
                 in ("activating", "failed"), timeout=30)

    def undo() -> None:
        h.exec(["rm", "-f", CRASH_LOOP_DROPIN])
        h.exec("systemctl daemon-reload && systemctl reset-failed nginx; systemctl restart nginx")
        faults.wait_unit(h, "nginx", "active")
        _wait_lb(fleet, host, "UP")

    return out_of_rotation(Fault("crash_loop", host, fleet, undo), host)


def all_servers_down(fleet: Fleet, servers: list[str]) -> Fault:
    """Every server of the web backend in MAINT: the frontend answers 503."""
    return together(fleet, "all_servers_down",
                    *[lambda s=s: faults.haproxy_server_down(fleet, s) for s in servers])


def drop_alert_rule(fleet: Fleet, rules_file: str, rule: str) -> Fault:
    """Remove an alert rule (the last of its file) and reload Prometheus."""
    mon = fleet.by_role("monitoring")[0]

    def reload(loaded: bool) -> None:
        mon.systemctl("reload", "prometheus")
        bounded_wait(f"prometheus: rule {rule} {'back' if loaded else 'gone'}",
                     lambda: (rule in observe.prometheus_rules(mon)) == loaded, timeout=30)

    edited = rewrite(fleet, mon.name, rules_file,
                     lambda text: text.split(f"      - alert: {rule}\n")[0], name="drop_alert_rule")
    reload(False)

    def undo() -> None:
        edited.revert()
        reload(True)

    return Fault("drop_alert_rule", rule, fleet, undo)


def errors_served(fleet: Fleet, query: str, above: float, seconds: int = 12) -> Fault:
    """Prometheus answers HTTP 500 for a while (its admin API is off and a client keeps calling
    it), until ``query`` (an error rate over its 5xx) is above ``above``.

    Undo waits (bounded) until the rate is back at or below ``above``: it stays high for the
    query's range after the last error, and a later test on the same fleet must not see it.
    """
    mon = fleet.by_role("monitoring")[0]
    mon.exec(f"for i in $(seq 1 {seconds * 5}); do curl -s -o /dev/null -X POST "
             f"{observe.PROM}/api/v1/admin/tsdb/snapshot; sleep 0.2; done", timeout=seconds + 30)

    def rate() -> float:
        url = f"{observe.PROM}/api/v1/query?query={urllib.parse.quote(query)}"
        result = observe.http_json(mon, url)["data"]["result"]
        return float(result[0]["value"][1]) if result else 0.0

    bounded_wait(f"error rate above {above}", lambda: rate() > above, timeout=30)

    def undo() -> None:
        bounded_wait(f"error rate back to at most {above}", lambda: rate() <= above,
                     timeout=240, interval=5)

    return Fault("errors_served", mon.name, fleet, undo)


def replica_behind(fleet: Fleet, seconds: float) -> Fault:
    """Replay paused on the replica until its lag exceeds ``seconds`` (it grows 1 s per s)."""
    paused = faults.lag_replication(fleet)
    replica = fleet.by_role("db_replica")[0]

    def lag() -> float:
        return float(observe.psql(replica, "SELECT coalesce(extract(epoch FROM now() - "
                                           "pg_last_xact_replay_timestamp()), 0)") or 0)

    try:
        bounded_wait(f"{replica.name} more than {seconds:g} s behind", lambda: lag() > seconds,
                     timeout=seconds + 30, interval=1)
    except BaseException:
        paused.undo()
        raise
    return paused
