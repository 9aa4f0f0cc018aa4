"""PostgreSQL probe: replication as the primary and the replica see it, and readiness.

Queries run *on the database host*, through the host's runner, as the ``postgres`` OS user
over the local socket: no database credentials ever sit on the controller. Every query is a
SELECT, sent with ``default_transaction_read_only=on`` so the server itself would refuse a
write, and answers as one JSON document (no parsing of psql's table output).

What is ERROR and what is data:

- The runner could not reach the host or ran past its timeout: it raises
  :class:`~maintcheck.errors.HostUnreachable` / :class:`~maintcheck.errors.CommandTimeout`.
- The host answered, but PostgreSQL did not accept the connection (not running, socket
  missing, refused, starting up or shutting down): that is the system being wrong, so it is
  returned as data, ``up=False`` with psql's reason, and 2.3 and 5.2 FAIL on it.
- Anything else (psql missing, role or peer-authentication refused, an SQL error, output that
  is not ours) means the probe could not look: :class:`~maintcheck.errors.MissingData`
  (ERROR), with psql's message. A probe that cannot tell never reports "down".

>>> replication(runner).replicas[0].state
'streaming'
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from maintcheck.errors import MissingData
from maintcheck.runner import Result, Runner

# psql's exit status when the connection to the server failed (see psql(1), EXIT STATUS)
PSQL_CONNECTION_FAILED = 2
# what libpq says when the server is not there or not taking connections; an
# authentication or "database does not exist" failure also exits 2, but is ours to fix
_DOWN_MARKERS = (
    "could not connect to server", "connection refused", "no such file or directory",
    "is the server running", "the database system is starting up",
    "the database system is shutting down", "the database system is in recovery mode",
    "server closed the connection unexpectedly", "timeout expired", "could not receive data",
    "no route to host", "network is unreachable", "not yet accepting connections",
)
# answers that look like "down" but are how the server is meant to be, or ours to fix
_NOT_DOWN_MARKERS = ("authentication failed", "hot standby mode is disabled", "role \"",
                     "password")


@dataclass(frozen=True)
class ReplicaObservation:
    """One row of ``pg_stat_replication`` on the primary."""

    application_name: str
    client_addr: str  # "" for a replica connected over a Unix socket
    state: str  # "streaming", "catchup", "startup", "backup", "stopping"
    sync_state: str  # "async", "sync", "potential", "quorum"
    # pg_stat_replication.replay_lag; PostgreSQL clears it (NULL) once a replica has caught
    # up and the primary is idle: then it is 0 if nothing is left to replay, else None
    replay_lag_seconds: float | None
    replay_lag_bytes: int | None  # WAL the primary has written that the replica has not replayed


@dataclass(frozen=True)
class Replication:
    """The primary's view: is it up, and which replicas stream from it."""

    up: bool
    down_reason: str | None
    replicas: tuple[ReplicaObservation, ...]

    def replica(self, application_name: str) -> ReplicaObservation | None:
        """The row for one replica, by ``application_name``; None when it is not connected."""
        return next((r for r in self.replicas if r.application_name == application_name), None)


@dataclass(frozen=True)
class ReplicaStatus:
    """The replica's own view: in recovery, receiving WAL, how far replay is behind."""

    up: bool
    down_reason: str | None
    in_recovery: bool | None
    receiver_status: str | None  # pg_stat_wal_receiver.status, None with no WAL receiver
    sender: str | None  # "host:port" it streams from
    sender_end_lsn: str | None  # the primary's end of WAL, as its sender last announced it
    receive_lsn: str | None
    replay_lsn: str | None
    replay_paused: bool | None
    lag_seconds: float | None


@dataclass(frozen=True)
class Readiness:
    """What ``pg_isready`` saw from a client host."""

    host: str
    port: int
    accepting: bool
    status: str  # "accepting", "rejecting", "no response"
    message: str


REPLICATION_SQL = """\
SELECT coalesce(json_agg(r ORDER BY r.application_name), '[]') FROM (
  SELECT application_name, coalesce(host(client_addr), '') AS client_addr, state, sync_state,
         extract(epoch FROM replay_lag)::float8 AS replay_lag_seconds,
         -- a cascading standby has no current LSN of its own: it relays what it received
         pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                              ELSE pg_current_wal_lsn() END, replay_lsn)::int8
           AS replay_lag_bytes
  FROM pg_stat_replication) r"""

# A replay lag in seconds that is honest on an idle primary: when the replica has replayed
# all the WAL it knows of (received, or announced by the sender as the primary's end of
# WAL: pg_stat_wal_receiver.latest_end_lsn) there is nothing to wait for, so 0, however old
# the last transaction is. Otherwise, the age of the last transaction replayed.
REPLICA_SQL = """\
SELECT json_build_object(
  'in_recovery', pg_is_in_recovery(),
  'receiver_status', r.status,
  'sender', r.sender_host || ':' || r.sender_port,
  'sender_end_lsn', r.latest_end_lsn,
  'receive_lsn', pg_last_wal_receive_lsn(),
  'replay_lsn', pg_last_wal_replay_lsn(),
  'replay_paused', CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END,
  'lag_seconds', CASE
    WHEN NOT pg_is_in_recovery() THEN NULL
    WHEN pg_last_wal_replay_lsn() >= greatest(pg_last_wal_receive_lsn(), r.latest_end_lsn)
      THEN 0
    ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END)
FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver r ON true"""


def replication(runner: Runner, *, host: str | None = None, port: int | None = None,
                timeout: float | None = None) -> Replication:
    """The replicas streaming from the primary that ``runner`` reaches.

    ``host`` (a socket directory or address on the db host) and ``port`` select the cluster
    when it is not psql's default.

    >>> replication(primary_runner).replica("db2").state
    'streaming'
    """
    answer = _query(runner, REPLICATION_SQL, host=host, port=port, timeout=timeout)
    if isinstance(answer, _Down):
        return Replication(up=False, down_reason=answer.reason, replicas=())
    if not isinstance(answer, list):
        raise MissingData(f"{runner.host}: pg_stat_replication gave {answer!r}")
    return Replication(up=True, down_reason=None, replicas=tuple(
        ReplicaObservation(
            application_name=row["application_name"], client_addr=row["client_addr"],
            state=row["state"], sync_state=row["sync_state"],
            replay_lag_seconds=row["replay_lag_seconds"] if row["replay_lag_seconds"] is not None
            else (0.0 if row["replay_lag_bytes"] == 0 else None),
            replay_lag_bytes=row["replay_lag_bytes"])
        for row in answer))


def replica_status(runner: Runner, *, host: str | None = None, port: int | None = None,
                   timeout: float | None = None) -> ReplicaStatus:
    """The replica's recovery state, WAL receiver and replay lag.

    ``lag_seconds`` is 0 when the replica has replayed all the WAL it received and all its
    primary last announced, else the age of the last replayed transaction; None on a
    primary. A replica cut off from its primary cannot know what it misses: it shows
    ``receiver_status`` other than "streaming" (or None), which the check must assert too.

    >>> replica_status(replica_runner).lag_seconds
    0.0
    """
    answer = _query(runner, REPLICA_SQL, host=host, port=port, timeout=timeout)
    if isinstance(answer, _Down):
        return ReplicaStatus(up=False, down_reason=answer.reason, in_recovery=None,
                             receiver_status=None, sender=None, sender_end_lsn=None,
                             receive_lsn=None,
                             replay_lsn=None, replay_paused=None, lag_seconds=None)
    if not isinstance(answer, dict):
        raise MissingData(f"{runner.host}: recovery status gave {answer!r}")
    lag = answer["lag_seconds"]
    return ReplicaStatus(up=True, down_reason=None, in_recovery=answer["in_recovery"],
                         receiver_status=answer["receiver_status"], sender=answer["sender"],
                         sender_end_lsn=answer["sender_end_lsn"],
                         receive_lsn=answer["receive_lsn"], replay_lsn=answer["replay_lsn"],
                         replay_paused=answer["replay_paused"],
                         lag_seconds=None if lag is None else max(0.0, float(lag)))


def ready(runner: Runner, host: str, port: int = 5432, *,
          timeout: float | None = None) -> Readiness:
    """Whether the server at ``host:port`` accepts connections, seen from ``runner``'s host.

    This is ``pg_isready``: the server answers a startup packet, which needs no credentials
    on the client host, unlike a real ``SELECT 1``. It proves the network path, the listener
    and that the postmaster takes connections; not that a given role may log in.

    >>> ready(app_runner, "db1.example.com", 5432).accepting
    True
    """
    wait = max(1, int(timeout)) if timeout is not None else 5
    argv = ["pg_isready", "-h", host, "-p", str(port), "-t", str(wait)]
    result = runner.run(argv, timeout=None if timeout is None else timeout + 5)
    message = (result.stdout.strip() or result.stderr.strip())
    # pg_isready(1): 0 accepting, 1 rejecting (e.g. starting up), 2 no response, 3 no attempt
    status = {0: "accepting", 1: "rejecting", 2: "no response"}.get(result.exit_status)
    if status is None:
        raise MissingData(f"{runner.host}: {shlex.join(argv)} could not try "
                          f"(exit {result.exit_status}): {message or 'no message'}")
    return Readiness(host=host, port=port, accepting=result.exit_status == 0, status=status,
                     message=message)


@dataclass(frozen=True)
class _Down:
    reason: str


def psql_argv(sql: str, *, host: str | None = None, port: int | None = None,
              os_user: str = "postgres") -> list[str]:
    """The read-only psql command line that runs ``sql`` as ``os_user`` on the db host."""
    target = [*(["-h", host] if host else []), *(["-p", str(port)] if port else [])]
    return ["runuser", "-u", os_user, "--",
            "env", "PGOPTIONS=-c default_transaction_read_only=on",
            "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", *target, "-c", sql]


def _query(runner: Runner, sql: str, *, host: str | None, port: int | None,
           timeout: float | None) -> Any:
    result = runner.run(psql_argv(sql, host=host, port=port), timeout=timeout)
    if result.exit_status == 0:
        try:
            return json.loads(result.stdout)
        except ValueError:
            raise MissingData(f"{runner.host}: psql's answer is not JSON: "
                              f"{result.stdout[:200]!r}") from None
    reason = _down_reason(result)
    if reason is not None:
        return _Down(reason)
    raise MissingData(f"{runner.host}: psql exited {result.exit_status}: "
                      f"{_message(result) or 'no message'}")


def _down_reason(result: Result) -> str | None:
    """psql's reason when the server is not taking connections; None for any other failure."""
    if result.exit_status != PSQL_CONNECTION_FAILED:
        return None
    message = _message(result)
    low = message.lower()
    if any(marker in low for marker in _NOT_DOWN_MARKERS):
        return None
    return message if any(marker in low for marker in _DOWN_MARKERS) else None


def _message(result: Result) -> str:
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    # runuser in a directory postgres may not read warns first; it says nothing about the db
    lines = [line for line in lines if "could not change directory" not in line]
    return " ".join(lines)[:300]
