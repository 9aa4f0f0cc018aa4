"""Trusted time (RFC 3161): a timestamping authority's token over each run's signature.

A signature says who; the token says when, in a way the signer's own clock cannot: the
authority signs the signature's hash with its time. Verification then judges the signer's
certificate at that time, so the evidence outlives the certificate.

>>> token = obtain(Path("pre.manifest.json.p7s").read_bytes(), "http://tsa.example/")
>>> check(token, Path("pre.manifest.json.p7s").read_bytes(), roots=load_roots(ca)).gen_time
datetime.datetime(2026, 11, 27, 1, 2, 3, tzinfo=datetime.timezone.utc)

Stock OpenSSL checks the same token: ``openssl ts -verify -data pre.manifest.json.p7s -in
pre.manifest.json.p7s.tsr -CAfile tsa-ca.pem``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

import rfc3161_client
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from maintcheck.errors import MaintcheckError
from maintcheck.secret import split_userinfo

__all__ = ["TimestampError", "Token", "check", "obtain", "read"]

CONTENT_TYPE = "application/timestamp-query"
MAX_REPLY = 1 << 20


class TimestampError(MaintcheckError):
    """No token could be had, or a token does not hold; the message says which and why."""


@dataclass(frozen=True)
class Token:
    """What a timestamp token says: when, and by whom (the authority's certificate subject)."""

    gen_time: dt.datetime
    authority: str


def without_userinfo(url: str) -> tuple[str, dict[str, str]]:
    """The URL without ``user:pw@`` (or ``TOKEN@``), and the header that carries it instead:
    basic auth, or a bearer token when there is no password."""
    clean, pair = split_userinfo(url)
    if pair is None:
        return url, {}
    if urllib.parse.urlsplit(url).password is None:
        return clean, {"Authorization": f"Bearer {pair[0]}"}
    return clean, {"Authorization": "Basic " + base64.b64encode(":".join(pair).encode()).decode()}


def obtain(signature: bytes, url: str, *, timeout: float = 10.0) -> bytes:
    """Ask the authority at ``url`` for a token over ``signature``; its DER TimeStampResp."""
    try:
        request = (rfc3161_client.TimestampRequestBuilder().data(signature)
                   .hash_algorithm(rfc3161_client.HashAlgorithm.SHA256)
                   .nonce(nonce=True).cert_request(cert_request=True).build())
    except ValueError as error:
        raise TimestampError(f"cannot make a timestamp request ({error})") from None
    url, headers = without_userinfo(url)  # credentials go in a header, never in a message
    http = urllib.request.Request(url, data=request.as_bytes(), method="POST",
                                  headers={"Content-Type": CONTENT_TYPE, **headers})
    try:
        with urllib.request.urlopen(http, timeout=timeout) as answer:
            reply: bytes = answer.read(MAX_REPLY + 1)
    except urllib.error.HTTPError as error:
        raise TimestampError(f"{url}: the authority answered HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise TimestampError(f"{url}: no answer ({reason})") from None
    if len(reply) > MAX_REPLY:
        raise TimestampError(f"{url}: the answer is larger than {MAX_REPLY} bytes")
    response = read(reply)
    if response.tst_info.nonce != request.nonce:
        raise TimestampError(f"{url}: the token answers another request (nonce differs)")
    _imprint(response, signature)
    return reply


def read(reply: bytes) -> rfc3161_client.TimeStampResponse:
    """Decode a TimeStampResp; TimestampError when it is not one or was not granted."""
    try:
        response = rfc3161_client.decode_timestamp_response(reply)
        granted = rfc3161_client.PKIStatus(response.status) == rfc3161_client.PKIStatus.GRANTED
    except ValueError as error:
        raise TimestampError(f"not an RFC 3161 timestamp response ({error})") from None
    if not granted:
        raise TimestampError("the authority did not grant the timestamp: "
                             + "; ".join(response.status_string))
    return response


def _imprint(response: rfc3161_client.TimeStampResponse, signature: bytes) -> None:
    imprint = response.tst_info.message_imprint
    if imprint.hash_algorithm.dotted_string != "2.16.840.1.101.3.4.2.1" or (
            imprint.message != hashlib.sha256(signature).digest()):
        raise TimestampError("the token is over other data than this signature")


def check(reply: bytes, signature: bytes, *, roots: list[x509.Certificate] | None) -> Token:
    """What the token says, once checked against ``signature`` and, when given, the authority's
    ``roots`` (its certificate chain and signature at the token's own time)."""
    response = read(reply)
    _imprint(response, signature)
    if roots:
        builder = rfc3161_client.VerifierBuilder()
        for root in roots:
            builder = builder.add_root_certificate(root)
        try:
            builder.build().verify_message(response, signature)
        except (rfc3161_client.VerificationError, ValueError) as error:
            raise TimestampError(f"the token does not verify against the authority's CA "
                                 f"({error})") from None
    authority = ""
    for der in response.signed_data.certificates:
        certificate = x509.load_der_x509_certificate(der)
        if ExtendedKeyUsageOID.TIME_STAMPING in _purposes(certificate):
            authority = certificate.subject.rfc4514_string()
    gen_time = response.tst_info.gen_time
    if gen_time.tzinfo is None:
        gen_time = gen_time.replace(tzinfo=dt.UTC)
    return Token(gen_time=gen_time.astimezone(dt.UTC), authority=authority or "unnamed")


def _purposes(certificate: x509.Certificate) -> list[x509.ObjectIdentifier]:
    try:
        return list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return []
