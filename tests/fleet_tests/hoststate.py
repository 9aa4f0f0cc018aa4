"""What a mutation would touch on a fleet host, read from inside it (never over ssh).

>>> before = snapshot(fleet.host("db-01"))
>>> ...
>>> differences(before, snapshot(fleet.host("db-01")))
[]

Each section is something a command sent by a check could change: packages, units and their
main processes, listening sockets, files under /etc, /root, /usr/local, /srv, /opt and the
crontabs, the firewall, apt's lists, backups, mounts, and, where they run, PostgreSQL's
databases, roles, settings, replication and replay, HAProxy's servers and Alertmanager's
silences. What moves on its own is left out: logs, the journal, timestamps of reads, the
heartbeat timer's rows and runs, and what an ssh login itself creates (the session scope, the
user manager, /run/user/0).
"""

from __future__ import annotations

from fleet.host import Host

MARK = "=== "
# Units an ssh login (or the fleet's heartbeat) starts and stops by itself.
MOVES_ON_ITS_OWN = r"^(session-[0-9]+\.scope|user@[0-9]+\.service|user-runtime-dir@[0-9]+\.service"
MOVES_ON_ITS_OWN += r"|user-[0-9]+\.slice|run-user-[0-9]+\.mount|fleet-heartbeat\.service) "

SCRIPT = f"""\
set -u
section() {{ echo "{MARK}$1"; }}
files() {{  # path, mode, owner, group, size, and content hash of every file under "$@"
  find "$@" -xdev \\( -type f -o -type l -o -type d \\) -printf '%p %y %m %U %G %s %l\\n' \\
    2>/dev/null | sort
  find "$@" -xdev -type f -print0 2>/dev/null | sort -z | xargs -0 -r sha256sum
}}
section packages; sha256sum /var/lib/dpkg/status | cut -d' ' -f1
section units
# a timer's sub-state is "running" while its service runs and "waiting" between runs: it
# moves on its own, so a timer shows only whether it is loaded and active
systemctl list-units --all --full --no-legend --plain \\
  | awk '{{if ($1 ~ /\\.timer$/) print $1, $2, $3; else print $1, $2, $3, $4}}' \\
  | grep -vE '{MOVES_ON_ITS_OWN}' | sort
section processes  # a restarted service has a new main PID
systemctl list-units --type=service --state=running --full --no-legend --plain \\
  | awk '{{print $1 " "}}' | grep -vE '{MOVES_ON_ITS_OWN}' | sort | while read -r unit; do
    echo "$unit $(systemctl show -p MainPID -p NRestarts "$unit" | tr '\\n' ' ')"
  done
section listening; ss -Htlnu | awk '{{print $1, $5}}' | sort -u
section etc; files /etc
section root; files /root /usr/local /srv /opt /var/spool/cron
section firewall; nft -s list ruleset | sha256sum | cut -d' ' -f1
section apt-lists; find /var/lib/apt/lists -maxdepth 1 -type f -printf '%f %s %T@\\n' | sort
section backups; files /var/backups
section mounts; findmnt -rn -o TARGET,SOURCE,FSTYPE,OPTIONS | grep -v '^/run/user/' | sort
section hostname; hostname
if systemctl -q is-active 'postgresql@*'; then
  q() {{ cd / && runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d "${{2:-postgres}}" -c "$1"; }}
  section postgres-databases; q 'SELECT datname, datallowconn FROM pg_database ORDER BY 1'
  section postgres-roles
  q 'SELECT rolname, rolsuper, rolcanlogin, rolreplication FROM pg_roles ORDER BY 1'
  section postgres-settings
  q "SELECT name, setting FROM pg_settings WHERE source NOT IN ('default', 'session', 'client')
     ORDER BY 1"
  section postgres-auto-conf; cat /var/lib/postgresql/*/main/postgresql.auto.conf
  section postgres-signals; ls /var/lib/postgresql/*/main/ | grep -E 'signal|backup_label'
  section postgres-slots; q 'SELECT slot_name, slot_type, active FROM pg_replication_slots'
  section postgres-tables
  q "SELECT schemaname, relname FROM pg_stat_user_tables ORDER BY 1, 2" app
  section postgres-replication
  q 'SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused()
     END'
  q 'SELECT application_name, state, sync_state FROM pg_stat_replication ORDER BY 1'
fi
if systemctl -q is-active haproxy; then
  section haproxy-servers
  curl -sf --max-time 5 'http://127.0.0.1:8404/stats;csv' | cut -d, -f1,2,18,19 | sort
fi
if systemctl -q is-active prometheus-alertmanager; then
  section alertmanager-silences
  curl -sf --max-time 5 http://127.0.0.1:9093/api/v2/silences
fi
"""


def snapshot(host: Host) -> dict[str, str]:
    """``{section: text}`` of what ``host`` looks like now."""
    out = host.exec(["sh", "-c", SCRIPT], timeout=120).stdout
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in out.splitlines():
        if line.startswith(MARK):
            current = sections.setdefault(line[len(MARK):].split()[0], [])
        else:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in sections.items()}


def differences(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Each line that appeared or went, by section: ``etc: + /etc/motd f 644 0 0 3``."""
    found = []
    for name in sorted(set(before) | set(after)):
        old = before.get(name, "").splitlines()
        new = after.get(name, "").splitlines()
        found += [f"{name}: - {line}" for line in old if line not in new]
        found += [f"{name}: + {line}" for line in new if line not in old]
    return found
