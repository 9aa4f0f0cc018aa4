"""The exceptions that decide an outcome: FAILED (the service under check did not answer as
declared), ERROR (maintcheck could not look), or bad user input."""

from __future__ import annotations


class MaintcheckError(Exception):
    """Base of every maintcheck exception."""


class ServiceFailed(MaintcheckError):
    """The service a check is about did not answer as declared: it refused or reset the
    connection, fell silent after accepting it, or failed the TLS handshake. The system is
    wrong: reported as FAILED, naming the endpoint and what happened.

    Only probes of the subject of a check raise it (an endpoint, a certificate, a flag URL);
    a tool maintcheck looks *through* (Prometheus for an error rate, HAProxy's stats page)
    that does not answer is a :class:`CheckError`.
    """


class CheckError(MaintcheckError):
    """The check could not run: reported as ERROR, never as FAILED or PASSED."""


class HostUnreachable(CheckError):
    """The host could not be reached (connect, handshake, host key, dead link)."""


class CommandTimeout(CheckError):
    """A remote command or an HTTP call ran past its timeout."""


class MissingData(CheckError):
    """A fact or a setting a check needs is absent."""


class NotReadOnly(CheckError):
    """A command was refused by the read-only runner before it was sent: the check that asked
    for it could not run (ERROR), whatever the host's state."""


class InputError(MaintcheckError):
    """Bad user input: one message listing every problem, each with file and line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{source}: {len(problems)} {noun}:\n{lines}")
