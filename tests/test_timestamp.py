"""Trusted time: an RFC 3161 token from a real timestamping authority (OpenSSL's, run here)."""

from __future__ import annotations

import datetime as dt
import shlex
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_evidence_runs import project
from test_signing import (
    ARTEFACTS,
    POST,
    Trust,
    audit,
    issue,
    make_ca,
    openssl,
    run,
    write_evidence,
)

from maintcheck import cli, exitcodes
from maintcheck.signing import (
    VerificationError,
    generate_key,
    load_signer,
    seal_run,
    token_name,
    verify_directory,
)

pytest_plugins = ["pytester"]
__all__ = ["project"]  # the fixture, shared with test_evidence_runs

TSA_CONFIG = """
[ tsa ]
default_tsa = local
[ local ]
dir = {dir}
serial = {dir}/tsaserial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


class Authority:
    """OpenSSL as a timestamping authority, behind HTTP as RFC 3161 section 3.4 has it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca = make_ca(directory, "TSA Root")
        (directory / "tsa.ext").write_text("extendedKeyUsage=critical,timeStamping\n"
                                           "keyUsage=critical,digitalSignature\n")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=Local TSA", cwd=directory)
        issue(directory, "tsa.csr", "TSA Root", "tsa.crt", "-extfile", "tsa.ext")
        (directory / "tsaserial").write_text("01\n")
        (directory / "tsa.cnf").write_text(TSA_CONFIG.format(dir=directory))
        self.asked = 0

    def reply(self, query: bytes) -> bytes:
        self.asked += 1
        with tempfile.TemporaryDirectory(dir=self.directory) as scratch:
            (Path(scratch) / "q.tsq").write_bytes(query)
            openssl("ts", "-reply", "-config", "tsa.cnf", "-queryfile", f"{scratch}/q.tsq",
                    "-inkey", "tsa.key", "-signer", "tsa.crt", "-out", f"{scratch}/r.tsr",
                    cwd=self.directory)
            return (Path(scratch) / "r.tsr").read_bytes()


@pytest.fixture
def authority(tmp_path: Path) -> Iterator[tuple[Authority, str]]:
    folder = tmp_path / "tsa"
    folder.mkdir()
    tsa = Authority(folder)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = tsa.reply(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tsa, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def short_lived(tmp_path: Path, name: str) -> Trust:
    files = generate_key(tmp_path / f"{name}.key", common_name=name, passphrase=None, days=1)
    assert files.certificate is not None
    return Trust(load_signer(files.key, files.certificate, None), ca=files.certificate)


def test_stock_openssl_accepts_the_token(tmp_path: Path,
                                         authority: tuple[Authority, str]) -> None:
    tsa, url = authority
    evidence = write_evidence(tmp_path / "CHG-1")
    sealed = seal_run(evidence, "pre", short_lived(tmp_path, "Ada").signer, tsa=url)
    assert sealed.token == evidence / token_name("pre") and tsa.asked == 1
    done = run(f"openssl ts -verify -data pre.manifest.json.p7s -in {sealed.token.name} "
               f"-CAfile {shlex.quote(str(tsa.ca))}", evidence)
    assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr
    # and docs/evidence.md's auditor procedure, which checks the token and judges the signer then
    done = audit(evidence, tmp_path / "Ada.crt", tsa.ca)
    assert done.returncode == 0 and "checks out" in done.stdout, done.stdout + done.stderr
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    assert audit(evidence, tmp_path / "Ada.crt", make_ca(stranger, "TSA Root")).returncode != 0


def test_two_signers_outlive_their_certificates_with_trusted_time(
        tmp_path: Path, authority: tuple[Authority, str],
        capsys: pytest.CaptureFixture[str]) -> None:
    """pre by Ada, post by Bob, each timestamped; checked 30 days later, when both
    certificates (1 day) have expired: the tokens' time judges them, and both verify."""
    tsa, url = authority
    ada, bob = short_lived(tmp_path, "Ada"), short_lived(tmp_path, "Bob")
    evidence = write_evidence(tmp_path / "CHG-1", ARTEFACTS)
    seal_run(evidence, "pre", ada.signer, tsa=url)
    write_evidence(evidence, POST)
    seal_run(evidence, "post", bob.signer, tsa=url)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    pins = [verify_directory(evidence, now=later - dt.timedelta(days=29, hours=23)).runs[i]
            .fingerprint or "" for i in (0, 1)]
    with pytest.raises(VerificationError, match="certificate expired on"):
        verify_directory(evidence, pins=pins, now=later)  # without trusted time: expired
    verified = verify_directory(evidence, pins=pins, tsa_ca_path=tsa.ca, now=later)
    assert verified.established
    assert [(r.label, r.signer, r.timestamp_authority, r.timestamp_trusted)
            for r in verified.runs] == [("pre", "CN=Ada", "CN=Local TSA", True),
                                        ("post", "CN=Bob", "CN=Local TSA", True)]
    assert {token_name("pre"), token_name("post")} <= set(verified.files)
    status = cli.main(["verify", str(evidence), "--signer", str(ada.ca), "--signer",
                       str(bob.ca), "--tsa-ca", str(tsa.ca)])
    out = capsys.readouterr().out
    assert status == exitcodes.VERIFIED and out.count("by CN=Local TSA, checked with --tsa-ca") == 2


def test_a_token_from_another_authority_or_over_other_bytes_is_refused(
        tmp_path: Path, authority: tuple[Authority, str]) -> None:
    tsa, url = authority
    evidence = write_evidence(tmp_path / "CHG-1")
    seal_run(evidence, "pre", short_lived(tmp_path, "Ada").signer, tsa=url)
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    other_ca = make_ca(stranger, "TSA Root")  # the same name, another key
    with pytest.raises(VerificationError, match="does not verify against the authority's CA"):
        verify_directory(evidence, tsa_ca_path=other_ca)
    token = evidence / token_name("pre")
    other = write_evidence(tmp_path / "CHG-2")
    seal_run(other, "pre", short_lived(tmp_path, "Eve").signer)
    (other / token_name("pre")).write_bytes(token.read_bytes())  # Ada's token on Eve's signature
    with pytest.raises(VerificationError, match="the token is over other data"):
        verify_directory(other, tsa_ca_path=tsa.ca)


def test_an_unreachable_authority_leaves_the_signature_and_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evidence = write_evidence(tmp_path / "CHG-1")
    sealed = seal_run(evidence, "pre", short_lived(tmp_path, "Ada").signer,
                      tsa="http://127.0.0.1:9/")
    assert sealed.signature is not None and sealed.token is None
    assert sealed.timestamp_problem.startswith("http://127.0.0.1:9/: no answer")
    assert verify_directory(evidence).signer == "CN=Ada"


@pytest.mark.parametrize("given", ["--tsa", "inventory"])
def test_a_run_with_tsa_is_timestamped(project: pytest.Pytester,
                                       authority: tuple[Authority, str], given: str) -> None:
    tsa, url = authority
    if given == "inventory":
        hosts = project.path / "inventory" / "hosts.yml"
        hosts.write_text(hosts.read_text().replace("  vars:\n",
                                                   f"  vars:\n    maintcheck_tsa: {url}\n"))
    # in a process of its own: rfc3161-client's Rust half keeps the classes of its first import,
    # which an in-process pytester run would import afresh
    result = project.runpytest_subprocess(
        "checks/pre", "--answers", "answers.yml", "--sign-key", "ada.key",
        "--sign-cert", "ada.crt", *(["--tsa", url] if given == "--tsa" else []))
    result.stdout.fnmatch_lines([f"*trusted time: pre.manifest.json.p7s.tsr from {url}*"])
    verified = verify_directory(project.path / "reports" / "RUNS-1", tsa_ca_path=tsa.ca)
    assert verified.runs[0].timestamp_trusted and tsa.asked == 1


def test_credentials_in_the_authority_url_go_in_a_header_never_in_a_message() -> None:
    from maintcheck import timestamp

    url, headers = timestamp.without_userinfo("http://tsa:S3cret-pw@127.0.0.1:9/ts")
    assert url == "http://127.0.0.1:9/ts"
    assert headers == {"Authorization": "Basic dHNhOlMzY3JldC1wdw=="}
    assert timestamp.without_userinfo("http://TOK123@127.0.0.1:9/")[1] == {
        "Authorization": "Bearer TOK123"}
    with pytest.raises(timestamp.TimestampError) as refused:
        timestamp.obtain(b"sig", "http://tsa:S3cret-pw@127.0.0.1:9/ts", timeout=2)
    assert "S3cret-pw" not in str(refused.value) and "127.0.0.1:9/ts" in str(refused.value)
