"""TLS probe: the certificate a server presents for a name, read even when it does not verify.

Three handshakes, all within one ``timeout``:

1. with SNI and no verification, to read the certificate whatever it is (old protocols and
   weak keys allowed, so that a weak certificate is reported rather than unreadable);
2. with SNI and OpenSSL's verification against ``ca_bundle`` (or the system CAs) and a
   modern client's defaults: ``chain_verified`` and ``verify_error``. This is the verifier
   ``requests`` and ``curl`` use, so a chain is judged as the service's clients judge it,
   intermediates sent by the server included. It runs on the real clock (Python's ``ssl``
   cannot set the verification time); ``now`` drives ``days_left`` only;
3. without SNI, for ``sni_supported``.

The hostname is checked on its own (``hostname_matches``), against the SANs only, as modern
clients do: a wildcard covers exactly one leftmost label; the subject CN is ignored.

``sni_supported`` is True when the server picks its certificate by SNI (the certificate
differs without SNI, or the server refuses a handshake without SNI); False when the server
ignores SNI and its one certificate does not cover the name; None when it cannot matter:
its one certificate covers the name anyway, or the name is an IP address (SNI carries none).

A certificate that is expired, for the wrong name, or does not chain to the CA is data for
the check. A service that refuses the connection, resets it, or gives no TLS handshake once
connected cannot show its certificate: :class:`~maintcheck.errors.ServiceFailed` (FAILED).
No TCP connection within the timeout, or a name that does not resolve, is a
:class:`~maintcheck.errors.CheckError` (ERROR): maintcheck could not look.

>>> obs = inspect("10.0.0.5:443", "app.example.com", timeout=5)
>>> obs.hostname_matches, obs.chain_verified, obs.days_left > 14
(True, True, True)
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from maintcheck.errors import CommandTimeout, HostUnreachable, MissingData, ServiceFailed
from maintcheck.probes._client import split_address


@dataclass(frozen=True)
class TlsObservation:
    """The certificate served at ``address`` for ``server_name``, and what a client makes of it."""

    address: str
    server_name: str
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    days_left: float  # negative once expired
    sans: tuple[str, ...]  # DNS names, then IP addresses
    hostname_matches: bool
    chain_verified: bool
    verify_error: str | None  # OpenSSL's reason, e.g. "certificate has expired"
    key_type: str  # "RSA", "EC", "Ed25519", "Ed448", "DSA"
    key_bits: int
    signature_algorithm: str  # e.g. "sha256WithRSAEncryption", "ecdsa-with-SHA256"
    signature_hash: str | None  # "sha256"; None for Ed25519 and Ed448
    sni_supported: bool | None
    fingerprint_sha256: str  # lower-case hex, no colons
    protocol: str  # as negotiated in the reading handshake, e.g. "TLSv1.3"


class _HandshakeFailed(ServiceFailed):
    """TCP connected but no TLS session could be set up."""


def inspect(address: str, server_name: str, *, timeout: float, ca_bundle: str | None = None,
            now: datetime | None = None) -> TlsObservation:
    """Read and judge the certificate at ``address`` ("host:port") for ``server_name``.

    >>> inspect("lb1:443", "app.example.com", timeout=5, ca_bundle="/etc/ssl/corp-ca.pem").sans
    ('app.example.com', 'www.example.com')
    """
    host, port = split_address(address, 443)
    deadline = time.monotonic() + timeout
    when = now if now is not None else datetime.now(UTC)
    where = f"{address} ({server_name})"

    der, protocol = _handshake(host, port, server_name, _reading_context(), deadline, where)
    cert = x509.load_der_x509_certificate(der)
    verified, verify_error = _verify(host, port, server_name, ca_bundle, deadline, where)
    dns, ips = _sans(cert)
    matches = _matches(server_name, dns, ips)

    sni: bool | None
    if _is_ip(server_name):
        sni = None
    else:
        try:
            plain, _ = _handshake(host, port, None, _reading_context(), deadline, where)
        except _HandshakeFailed:
            plain = None  # no certificate without SNI: the server insists on SNI
        sni = True if plain != der else (None if matches else False)

    key_type, key_bits = _key(cert)
    try:
        sig_hash = cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else None
    except UnsupportedAlgorithm:
        sig_hash = None
    not_after = cert.not_valid_after_utc
    return TlsObservation(
        address=address, server_name=server_name,
        subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc, not_after=not_after,
        days_left=round((not_after - when).total_seconds() / 86400, 2),
        sans=(*dns, *ips), hostname_matches=matches,
        chain_verified=verified, verify_error=verify_error,
        key_type=key_type, key_bits=key_bits,
        # the OpenSSL-style name ops people know from `openssl x509 -text`
        signature_algorithm=getattr(cert.signature_algorithm_oid, "_name", None)
        or cert.signature_algorithm_oid.dotted_string,
        signature_hash=sig_hash, sni_supported=sni,
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(), protocol=protocol)


def _reading_context() -> ssl.SSLContext:
    # only to read what is served: accept anything, so nothing weak hides from the report
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


def _verify(host: str, port: int, server_name: str, ca_bundle: str | None, deadline: float,
            where: str) -> tuple[bool, str | None]:
    ctx = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else \
        ssl.create_default_context()
    ctx.check_hostname = False  # reported on its own, as hostname_matches
    try:
        _handshake(host, port, server_name, ctx, deadline, where)
    except ssl.SSLCertVerificationError as exc:
        return False, str(exc.verify_message or exc.reason or exc)
    except _HandshakeFailed as exc:
        # it served a certificate to a lenient client, but a modern client cannot connect
        return False, f"no handshake with a modern client's settings: {exc.args[0]}"
    return True, None


def _handshake(host: str, port: int, sni: str | None, ctx: ssl.SSLContext, deadline: float,
               where: str) -> tuple[bytes, str]:
    """The peer's certificate (DER) and the protocol, from one handshake before ``deadline``."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise CommandTimeout(f"{where}: TLS inspection ran past its timeout")
    try:
        raw = socket.create_connection((host, port), timeout=remaining)
    except TimeoutError:
        raise CommandTimeout(f"{where}: no TCP connection within the timeout") from None
    except ConnectionRefusedError:
        raise ServiceFailed(f"{where}: connection refused, expected a TLS service") from None
    except socket.gaierror as exc:
        raise HostUnreachable(f"{where}: name does not resolve ({exc.strerror})") from None
    except OSError as exc:
        raise HostUnreachable(f"{where}: {exc.strerror or exc}") from None
    try:
        with raw:
            raw.settimeout(max(deadline - time.monotonic(), 0.001))
            with ctx.wrap_socket(raw, server_hostname=sni) as conn:
                der = conn.getpeercert(binary_form=True)
                protocol = conn.version() or "unknown"
    except ssl.SSLCertVerificationError:
        raise
    except TimeoutError:
        raise _HandshakeFailed(f"{where}: no TLS handshake within the timeout after "
                               "connecting") from None
    except ssl.SSLError as exc:
        raise _HandshakeFailed(f"{where}: TLS handshake failed: {exc.reason or exc}") from None
    except OSError as exc:
        # a reset or EOF mid-handshake is a failed handshake, not a certificate finding
        raise _HandshakeFailed(f"{where}: TLS handshake failed: {exc.strerror or exc}") from None
    if not der:
        raise MissingData(f"{where}: the server presented no certificate")
    return der, protocol


def _sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return (ext.get_values_for_type(x509.DNSName),
            [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)])


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _matches(name: str, dns: list[str], ips: list[str]) -> bool:
    """RFC 6125 as browsers apply it: exact, or ``*.`` for exactly one leftmost label."""
    if _is_ip(name):
        return any(ipaddress.ip_address(name) == ipaddress.ip_address(ip) for ip in ips)
    want = name.rstrip(".").lower()
    for pattern in (p.rstrip(".").lower() for p in dns):
        if pattern == want:
            return True
        label, _, rest = want.partition(".")
        if pattern.startswith("*.") and label and rest and rest == pattern[2:]:
            return True
    return False


def _key(cert: x509.Certificate) -> tuple[str, int]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    return type(key).__name__, 0
