"""Real services for the probe tests, started from Debian packages on 127.0.0.1 in a temp dir.

Each helper is a context manager that starts its processes, waits (bounded) until they
answer, and stops exactly the pids it started. A missing binary skips the test, or fails
it when ``CI`` is set: CI must never go green by skipping the services it should test.

Debian packages: nginx haproxy prometheus prometheus-alertmanager postgresql
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PACKAGES = "nginx haproxy prometheus prometheus-alertmanager postgresql"
START_TIMEOUT = 20.0


def require(*programs: str, root: bool = False) -> dict[str, str]:
    """The path of each program; skip without them (fail under CI)."""
    found = {p: shutil.which(p) or shutil.which(p, path="/usr/sbin:/sbin") for p in programs}
    missing = [p for p, path in found.items() if path is None]
    problems = [f"missing {', '.join(missing)} (apt-get install {PACKAGES})"] if missing else []
    if root and os.geteuid() != 0:
        problems.append("needs root (to run services as their own users)")
    if problems:
        message = "; ".join(problems)
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so this cannot be skipped: {message}", pytrace=False)
        pytest.skip(message)
    return {p: path for p, path in found.items() if path is not None}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(what: str, probe: Callable[[], Any], timeout: float = START_TIMEOUT) -> Any:
    """Poll ``probe`` until it returns something truthy; fail, naming ``what``, at the bound."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except Exception as exc:  # noqa: BLE001 - anything means "not yet"
            last = exc
        else:
            if value:
                return value
            last = value
        time.sleep(0.1)
    pytest.fail(f"{what} not ready after {timeout:g}s (last: {last!r})", pytrace=False)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def process(argv: Sequence[str], log: Path, **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv``; on exit stop that one pid (TERM, then KILL), bounded."""
    with log.open("ab") as out:
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT, **popen)
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """A port that accepts TCP (the kernel's backlog) and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@dataclass
class Scripted:
    """A plain-HTTP server whose n-th connection does ``plan[n]``; see :func:`scripted_http`."""

    port: int
    plan: tuple[str, ...]
    connections: int = 0

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


SCRIPTED_ANSWERS = {"ok": (200, b"ok\n"), "json": (200, b'{"status": "success"}'),
                    "500": (500, b"boom\n")}


@contextlib.contextmanager
def scripted_http(*plan: str) -> Iterator[Scripted]:
    """A real server on 127.0.0.1 that treats its n-th TCP connection as ``plan[n]``:

    ``reset`` closes it with a TCP RST before a word; ``ok``/``json``/``500`` read the request
    and answer; ``hang`` reads the request and never answers. Past the plan: ``ok``.
    """
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    server = Scripted(listener.getsockname()[1], plan)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            step = plan[server.connections] if server.connections < len(plan) else "ok"
            server.connections += 1
            if step == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                conn.close()
                continue
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                conn.recv(65536)
            if step == "hang":
                held.append(conn)
                continue
            status, body = SCRIPTED_ANSWERS[step]
            with contextlib.suppress(OSError):
                conn.sendall(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nConnection: close\r\n"
                             b"Content-Type: text/plain\r\n\r\n%s" % (status, len(body), body))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for conn in held:
            conn.close()


@contextlib.contextmanager
def full_backlog() -> Iterator[int]:
    """A port whose listen queue is full: a new connection's SYN is dropped, so it times out."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        queued = []
        try:
            for _ in range(2):  # a backlog of 0 still queues one; the next fills it
                client = socket.socket()
                client.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    client.connect(("127.0.0.1", port))
                queued.append(client)
            time.sleep(0.2)
            yield port
        finally:
            for client in queued:
                client.close()


# --------------------------------------------------------------------------------- PKI

@dataclass(frozen=True)
class Pki:
    """Root and intermediate CAs, and issued server certificates, as PEM files."""

    dir: Path
    root: Path  # the CA bundle a probe trusts
    other_root: Path  # a CA that signed none of these
    now: dt.datetime

    def cert(self, name: str) -> tuple[Path, Path]:
        """(chain file, key file) of an issued certificate."""
        return self.dir / f"{name}.chain.pem", self.dir / f"{name}.key.pem"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: Any) -> bytes:
    return bytes(key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))


def _ca(cn: str, now: dt.datetime, issuer: tuple[x509.Certificate, Any] | None = None,
        ) -> tuple[x509.Certificate, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(cn))
               .issuer_name(issuer_cert.subject if issuer_cert else _name(cn))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=365))
               .not_valid_after(now + dt.timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None
                                                    else 0), critical=True)
               .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                            False, False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def make_pki(directory: Path, leaves: dict[str, dict[str, Any]]) -> Pki:
    """A root, an intermediate, and one leaf per entry: names, ips, rsa, days, expired."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    root = _ca("maintcheck test root", now)
    inter = _ca("maintcheck test intermediate", now, issuer=root)
    other = _ca("maintcheck unrelated root", now)
    pem = serialization.Encoding.PEM
    (directory / "root.pem").write_bytes(root[0].public_bytes(pem))
    (directory / "other-root.pem").write_bytes(other[0].public_bytes(pem))
    for leaf, spec in leaves.items():
        key: Any = rsa.generate_private_key(65537, 2048) if spec.get("rsa") else \
            ec.generate_private_key(ec.SECP256R1())
        if spec.get("expired"):
            start, end = now - dt.timedelta(days=30), now - dt.timedelta(days=1)
        else:
            start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=spec.get("days", 90))
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in spec.get("names", [])]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in spec.get("ips", [])]
        cert = (x509.CertificateBuilder()
                .subject_name(_name(spec.get("names", [leaf])[0]))
                .issuer_name(inter[0].subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    inter[1].public_key()), critical=False)
                .sign(inter[1], hashes.SHA256()))
        # the server sends its intermediate; the probe trusts only the root
        (directory / f"{leaf}.chain.pem").write_bytes(cert.public_bytes(pem)
                                                      + inter[0].public_bytes(pem))
        (directory / f"{leaf}.key.pem").write_bytes(_pem_key(key))
    return Pki(directory, directory / "root.pem", directory / "other-root.pem", now)


# ------------------------------------------------------------------------------- nginx

LEAVES: dict[str, dict[str, Any]] = {
    "default": {"names": ["default.test"], "ips": ["127.0.0.1"]},
    "good": {"names": ["good.test", "*.wild.test"], "rsa": True, "days": 90},
    "expired": {"names": ["expired.test"], "expired": True},
    "wrong": {"names": ["other.test"]},
    "sni": {"names": ["sni.test"]},
}

_LOCATIONS = """
    location = /health {{ return 200 "status: ok\\n"; }}
    location = /error {{ return 500 "boom\\n"; }}
    location = /echo {{ return 200 "auth=$http_authorization token=$arg_token\\n"; }}
    location = /redirect {{ return 302 /health; }}
    location = /loop {{ return 302 /loop; }}
    location = /cookie {{ add_header Set-Cookie "session=s3cr3t-cookie"; return 200 "ok\\n"; }}
    location / {{ return 200 "{name}\\n"; }}
"""


@dataclass(frozen=True)
class Nginx:
    tls_port: int  # default.test (default server), good.test, expired.test, wrong.test
    sni_port: int  # sni.test only; a handshake without SNI is rejected
    plain_port: int  # plain HTTP
    pki: Pki


def _tls_server(pki: Pki, port: int, leaf: str, names: str, default: bool = False) -> str:
    chain, key = pki.cert(leaf)
    flag = " default_server" if default else ""
    return (f"  server {{\n    listen 127.0.0.1:{port} ssl{flag};\n    server_name {names};\n"
            f"    ssl_certificate {chain};\n    ssl_certificate_key {key};\n"
            f"{_LOCATIONS.format(name=leaf)}  }}\n")


@contextlib.contextmanager
def nginx(directory: Path) -> Iterator[Nginx]:
    """nginx serving the test certificates by SNI, plus a plain HTTP port."""
    binary = require("nginx")["nginx"]
    directory.mkdir(parents=True, exist_ok=True)
    pki = make_pki(directory / "pki", LEAVES)
    tls_port, sni_port, plain_port = free_port(), free_port(), free_port()
    servers = "".join([
        _tls_server(pki, tls_port, "default", "default.test", default=True),
        _tls_server(pki, tls_port, "good", "good.test *.wild.test"),
        _tls_server(pki, tls_port, "expired", "expired.test"),
        _tls_server(pki, tls_port, "wrong", "wrong.test"),
        _tls_server(pki, sni_port, "sni", "sni.test"),
    ])
    default_chain, default_key = pki.cert("default")
    temp = "".join(f"  {kind}_temp_path {directory}/{kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = directory / "nginx.conf"
    conf.write_text(
        f"daemon off;\nworker_processes 1;\npid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log warn;\nevents {{ worker_connections 64; }}\n"
        f"http {{\n  access_log off;\n  default_type text/plain;\n{temp}{servers}"
        f"  server {{\n    listen 127.0.0.1:{sni_port} ssl default_server;\n"
        f"    ssl_reject_handshake on;\n"
        # nginx wants a certificate configured even where it rejects every handshake
        f"    ssl_certificate {default_chain};\n    ssl_certificate_key {default_key};\n  }}\n"
        f"  server {{\n    listen 127.0.0.1:{plain_port};\n"
        f"{_LOCATIONS.format(name='plain backend')}  }}\n}}\n")
    with process([binary, "-c", str(conf), "-p", str(directory)], directory / "nginx.out"):
        wait_for("nginx", lambda: all(map(port_open, (tls_port, sni_port, plain_port))))
        yield Nginx(tls_port, sni_port, plain_port, pki)


# ----------------------------------------------------------------------------- haproxy

@dataclass(frozen=True)
class Haproxy:
    frontend_port: int
    stats_url: str
    user: str
    password: str
    config: Path


@contextlib.contextmanager
def haproxy(directory: Path, backend_port: int) -> Iterator[Haproxy]:
    """HAProxy routing to one live backend (web1) and one dead one (web2), with stats."""
    binary = require("haproxy")["haproxy"]
    directory.mkdir(parents=True, exist_ok=True)
    frontend, stats_port, dead = free_port(), free_port(), free_port()
    password = "st4ts-pa55word"
    conf = directory / "haproxy.cfg"
    conf.write_text(f"""\
global
    maxconn 100

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend web  # the public side
    bind 127.0.0.1:{frontend}
    default_backend app

backend app
    option httpchk GET /health
    default-server inter 200ms fall 1 rise 1
    server web1 127.0.0.1:{backend_port} check
    server web2 127.0.0.1:{dead} check

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
    stats auth ops:{password}
""")
    with process([binary, "-db", "-f", str(conf)], directory / "haproxy.out"):
        wait_for("haproxy", lambda: port_open(frontend) and port_open(stats_port))
        yield Haproxy(frontend, f"http://127.0.0.1:{stats_port}/stats", "ops", password, conf)


# ------------------------------------------------------------- prometheus, alertmanager

@dataclass(frozen=True)
class Monitoring:
    prometheus_url: str
    alertmanager_url: str
    dead_target: str


RULES = """\
groups:
  - name: probe-tests
    rules:
      - alert: AlwaysCritical
        expr: vector(1)
        labels: {severity: critical}
        annotations: {summary: always firing}
      - alert: SilencedWarning
        expr: vector(1)
        labels: {severity: warning}
      - alert: NeverFires
        expr: vector(1) == 0
        labels: {severity: page}
      - record: job:up:sum
        expr: sum by (job) (up)
      # two `up` series on each side with nothing to tell them apart: fails at evaluation;
      # "== -1" so that it never fires while only one target has been scraped yet
      - alert: BrokenRule
        expr: (up * on() up) == -1
"""


@contextlib.contextmanager
def monitoring(directory: Path, silence: Callable[[str], None]) -> Iterator[Monitoring]:
    """Prometheus (1 s scrape and evaluation) sending to an Alertmanager; ``silence`` is
    called with the Alertmanager URL before any alert can arrive."""
    found = require("prometheus", "prometheus-alertmanager")
    directory.mkdir(parents=True, exist_ok=True)
    prom_port, am_port, dead = free_port(), free_port(), free_port()
    (directory / "am.yml").write_text(
        'route: {receiver: "none"}\nreceivers: [{name: "none"}]\n')
    (directory / "rules.yml").write_text(RULES)
    (directory / "prometheus.yml").write_text(f"""\
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
alerting:
  alertmanagers: [{{static_configs: [{{targets: ["127.0.0.1:{am_port}"]}}]}}]
rule_files: ["{directory}/rules.yml"]
scrape_configs:
  - job_name: prometheus
    static_configs: [{{targets: ["127.0.0.1:{prom_port}"]}}]
  - job_name: dead
    static_configs: [{{targets: ["127.0.0.1:{dead}"]}}]
""")
    am_url, prom_url = f"http://127.0.0.1:{am_port}", f"http://127.0.0.1:{prom_port}"
    with contextlib.ExitStack() as stack:
        stack.enter_context(process(
            [found["prometheus-alertmanager"], f"--config.file={directory}/am.yml",
             f"--storage.path={directory}/am", f"--web.listen-address=127.0.0.1:{am_port}",
             "--cluster.listen-address="], directory / "alertmanager.out"))
        wait_for("alertmanager", lambda: port_open(am_port))
        silence(am_url)
        stack.enter_context(process(
            [found["prometheus"], f"--config.file={directory}/prometheus.yml",
             f"--storage.tsdb.path={directory}/tsdb",
             f"--web.listen-address=127.0.0.1:{prom_port}",
             # alerts fire before Prometheus has discovered its Alertmanager (about 5 s);
             # resend them at once rather than after the default minute
             "--rules.alert.resend-delay=1s"], directory / "prometheus.out"))
        wait_for("prometheus", lambda: port_open(prom_port))
        yield Monitoring(prom_url, am_url, f"127.0.0.1:{dead}")


# ---------------------------------------------------------------------------- postgres

def postgres_bindir() -> Path:
    require("psql", "pg_isready", "runuser", root=True)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    if not found:
        require("postgres")  # skips or fails with the package list
    return Path(found[-1]).parent


@dataclass
class Cluster:
    """One PostgreSQL server run as the postgres user; :meth:`start` and :meth:`stop`."""

    bindir: Path
    data: Path
    socket_dir: Path
    port: int
    options: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        with (self.data.parent / f"{self.data.name}.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-k", str(self.socket_dir), "-c", "listen_addresses=127.0.0.1",
                 "-c", "fsync=off", *self.options],
                stdout=log, stderr=subprocess.STDOUT, user="postgres", group="postgres",
                extra_groups=[], cwd=self.data.parent)
        wait_for(f"postgres on port {self.port}", lambda: self.psql("SELECT 1") == "1")

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, signal.SIGINT)  # "fast" shutdown
            self.proc = None

    def psql(self, sql: str) -> str:
        """Test set-up's own access (it may write); the probes go through the runner."""
        out = subprocess.run(
            ["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir),
             "-p", str(self.port), "-U", "postgres", "-c", sql],
            capture_output=True, text=True, timeout=10, check=True,
            user="postgres", cwd=self.data.parent)
        return out.stdout.strip()


@dataclass(frozen=True)
class Replicated:
    primary: Cluster
    replica: Cluster


@contextlib.contextmanager
def replicated_postgres() -> Iterator[Replicated]:
    """A primary and a streaming replica ("replica1"), in a temp dir postgres may enter."""
    bindir = postgres_bindir()
    base = Path(tempfile.mkdtemp(prefix="maintcheck-pg-"))
    shutil.chown(base, "postgres", "postgres")
    as_pg: dict[str, Any] = {"user": "postgres", "group": "postgres", "extra_groups": [],
                             "cwd": base, "capture_output": True, "timeout": 60}
    sockets = base / "run"
    sockets.mkdir()
    shutil.chown(sockets, "postgres", "postgres")
    primary = Cluster(bindir, base / "primary", sockets, free_port())
    replica = Cluster(bindir, base / "replica", sockets, free_port(),
                      ("-c", "cluster_name=replica1", "-c", "hot_standby=on"))
    try:
        subprocess.run([str(bindir / "initdb"), "-D", str(primary.data), "-U", "postgres",
                        "-A", "trust", "--no-sync"], check=True, **as_pg)
        primary.start()
        subprocess.run([str(bindir / "pg_basebackup"), "-D", str(replica.data),
                        "-h", str(sockets), "-p", str(primary.port), "-U", "postgres",
                        "-R", "-X", "stream", "-c", "fast", "--no-sync"], check=True, **as_pg)
        replica.start()
        yield Replicated(primary, replica)
    finally:
        replica.stop()
        primary.stop()
        shutil.rmtree(base, ignore_errors=True)
