"""The exceptions that decide an outcome: FAILED (the service under check did not answer as
declared), ERROR (maintcheck could not look), or bad user input."""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, Unicode line/paragraph separators and bidi overrides: a terminal
# obeys them, and an inventory string holding one could draw lines of its own
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
CONTROL_OR_NEWLINE = re.compile(CONTROL.pattern[:-1] + r"\n\t]")


def printable(text: str, *, newlines: bool = False) -> str:
    """``text`` with control characters shown as escapes: ``printable("a\\nb") == "a\\\\nb"``.

    An inventory string printed to a terminal cannot move the cursor, clear a line or start a
    line of its own (a host named ``x\\nverdict: PASSED``). ``newlines=True`` keeps line breaks
    and tabs, for text made of lines.
    """
    pattern = CONTROL if newlines else CONTROL_OR_NEWLINE
    return pattern.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


def counted(number: int, noun: str) -> str:
    """A count and its noun, singular for one: ``counted(1, "item") == "1 item"``, ``counted(2,
    "item") == "2 items"``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


MEMORY_ADDRESS = re.compile(r" (?:object )?at 0x[0-9a-fA-F]+")


def shown(text: str) -> str:
    """Text of a report (a traceback, a message), fit for a terminal and an artefact: control
    characters escaped (line breaks kept) and no memory address (``<X object at 0x7f..>``
    reads ``<X>``)."""
    return printable(MEMORY_ADDRESS.sub("", text), newlines=True)


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
        lines = "\n".join(f"  - {printable(p)}" for p in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{source}: {len(problems)} {noun}:\n{lines}")
