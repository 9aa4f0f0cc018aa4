"""The PostgreSQL probe against a real primary and streaming replica, through the runner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from probe_services import Replicated, free_port, replicated_postgres, wait_for

from maintcheck.errors import MissingData, NotReadOnly
from maintcheck.probes import postgres
from maintcheck.redact import Redactor
from maintcheck.runner import CommandRunner, Result, check_read_only


@pytest.fixture(scope="module")
def pg() -> Iterator[Replicated]:
    with replicated_postgres() as clusters:
        yield clusters


@pytest.fixture
def streaming(pg: Replicated) -> Replicated:
    """The replica running and streaming, whatever an earlier test did to it."""
    pg.replica.start()
    wait_for("replica1 streaming", lambda: pg.primary.psql(
        "SELECT state FROM pg_stat_replication WHERE application_name = 'replica1'"
    ) == "streaming")
    return pg


@pytest.fixture
def runner() -> CommandRunner:
    return CommandRunner(host="localhost", transport=None, redactor=Redactor())


def test_the_commands_pass_the_read_only_runner() -> None:
    check_read_only(postgres.psql_argv(postgres.REPLICATION_SQL))
    check_read_only(postgres.psql_argv(postgres.REPLICA_SQL, host="/run/x", port=5433))
    check_read_only(["pg_isready", "-h", "db1", "-p", "5432", "-t", "5"])


def test_the_primary_sees_its_replica_streaming(streaming: Replicated,
                                                runner: CommandRunner) -> None:
    p = streaming.primary
    wait_for("replica caught up", lambda: postgres.replication(
        runner, host=str(p.socket_dir), port=p.port).replicas[0].replay_lag_bytes == 0)
    seen = postgres.replication(runner, host=str(p.socket_dir), port=p.port)
    assert (seen.up, seen.down_reason) == (True, None)
    replica = seen.replica("replica1")
    assert replica is not None
    assert (replica.state, replica.sync_state, replica.client_addr) == ("streaming", "async", "")
    # caught up on an idle primary: PostgreSQL may have cleared replay_lag; it is still 0
    assert (replica.replay_lag_bytes, replica.replay_lag_seconds) == (0, 0.0) or \
        (replica.replay_lag_bytes == 0 and replica.replay_lag_seconds is not None
         and replica.replay_lag_seconds < 1)
    assert seen.replica("replica9") is None


def test_the_replica_streams_with_no_lag_when_idle(streaming: Replicated,
                                                   runner: CommandRunner) -> None:
    r = streaming.replica
    status = postgres.replica_status(runner, host=str(r.socket_dir), port=r.port)
    assert (status.up, status.in_recovery, status.receiver_status) == (True, True, "streaming")
    assert status.replay_paused is False
    assert status.receive_lsn == status.replay_lsn
    # the sender announces its end of WAL with data and keepalives; none yet on an idle start
    assert status.sender_end_lsn in {None, status.replay_lsn}
    assert status.lag_seconds == 0.0
    assert status.sender == f"{r.socket_dir}:{streaming.primary.port}"


def test_a_paused_replica_lags(streaming: Replicated, runner: CommandRunner) -> None:
    p, r = streaming.primary, streaming.replica
    p.psql("CREATE TABLE IF NOT EXISTS beat (at timestamptz); INSERT INTO beat VALUES (now())")
    wait_for("the insert replayed", lambda: r.psql("SELECT count(*) FROM beat") != "0")
    r.psql("SELECT pg_wal_replay_pause()")
    try:
        p.psql("INSERT INTO beat VALUES (now())")
        status = wait_for("WAL received but not replayed", lambda: (
            s := postgres.replica_status(runner, host=str(r.socket_dir), port=r.port)
        ).receive_lsn != s.replay_lsn and (s.lag_seconds or 0) > 0.2 and s)
        assert status.replay_paused is True
        assert status.sender_end_lsn == status.receive_lsn  # the primary's end, all received
        assert status.receiver_status == "streaming"
    finally:
        r.psql("SELECT pg_wal_replay_resume()")


def test_the_primary_is_not_a_replica(streaming: Replicated, runner: CommandRunner) -> None:
    p = streaming.primary
    status = postgres.replica_status(runner, host=str(p.socket_dir), port=p.port)
    assert (status.up, status.in_recovery, status.receiver_status, status.lag_seconds) == (
        True, False, None, None)


def test_a_stopped_replica_is_missing_from_the_primary(pg: Replicated,
                                                       runner: CommandRunner) -> None:
    pg.replica.stop()
    seen = wait_for("replica gone", lambda: (s := postgres.replication(
        runner, host=str(pg.primary.socket_dir), port=pg.primary.port)).replicas == () and s)
    assert seen.up is True and seen.replica("replica1") is None


def test_a_server_that_is_down_is_data_not_error(pg: Replicated, runner: CommandRunner) -> None:
    nowhere = free_port()  # no server has a socket for this port
    seen = postgres.replication(runner, host=str(pg.primary.socket_dir), port=nowhere)
    assert (seen.up, seen.replicas) == (False, ())
    assert seen.down_reason is not None and "No such file or directory" in seen.down_reason
    status = postgres.replica_status(runner, host="127.0.0.1", port=nowhere)
    assert status.up is False and "refused" in (status.down_reason or "")


def test_a_write_is_refused_by_the_runner_and_by_the_server(pg: Replicated,
                                                            runner: CommandRunner) -> None:
    where = {"host": str(pg.primary.socket_dir), "port": pg.primary.port}
    with pytest.raises(NotReadOnly, match="only SELECT"):
        runner.run(postgres.psql_argv("CREATE TABLE sneaky (x int)", **where))
    # a write the runner's reading of SQL lets through: the server's read-only session stops it
    sneaky = "WITH d AS (DELETE FROM pg_description WHERE false RETURNING 1) SELECT * FROM d"
    check_read_only(postgres.psql_argv(sneaky, **where))
    result = runner.run(postgres.psql_argv(sneaky, **where))
    assert result.exit_status != 0
    assert "read-only transaction" in result.stderr


def test_ready_from_a_client_host(pg: Replicated, runner: CommandRunner) -> None:
    pg.primary.start()
    up = postgres.ready(runner, "127.0.0.1", pg.primary.port, timeout=3)
    assert (up.accepting, up.status) == (True, "accepting")
    down = postgres.ready(runner, "127.0.0.1", free_port(), timeout=3)
    assert (down.accepting, down.status) == (False, "no response")


class Canned:
    """A runner that answers every command with one result."""

    host = "db9"

    def __init__(self, exit_status: int, stdout: str = "", stderr: str = "") -> None:
        self.result = Result(exit_status, stdout, stderr)

    def run(self, argv: list[str], *, stdin: str | None = None, timeout: float | None = None,
            approved: str | None = None) -> Result:
        return self.result


@pytest.mark.parametrize("fatal", [
    'Peer authentication failed for user "postgres"', 'role "ops" does not exist',
    'database "x" does not exist', "something nobody has seen before",
])
def test_a_psql_failure_that_is_not_down_is_error(fatal: str) -> None:
    stderr = f'psql: error: connection to server on socket "/x" failed: FATAL:  {fatal}'
    with pytest.raises(MissingData, match="db9: psql exited 2"):
        postgres.replication(Canned(2, stderr=stderr))


@pytest.mark.parametrize("result", [
    Canned(127, stderr="env: 'psql': No such file or directory"),
    Canned(3, stderr="ERROR:  function pg_is_wal_replay_paused() does not exist"),
    Canned(0, stdout="not json\n"),
])
def test_when_the_probe_cannot_look_it_is_error(result: Canned) -> None:
    with pytest.raises(MissingData, match="db9"):
        postgres.replica_status(result)


def test_pg_isready_that_could_not_try_is_error() -> None:
    with pytest.raises(MissingData, match="could not try"):
        postgres.ready(Canned(3, stderr="pg_isready: invalid port"), "db1", 5432)
