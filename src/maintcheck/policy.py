"""What maintcheck may run on a host: a table of programs, and the one reading of it.

Each :class:`Program` says how that program reads and how it would write: the verbs it may
start with, the test mode it must run in, the options and operands that would change the host.
A team's ``checks/commands.yml`` adds rows of the same shape (:mod:`maintcheck.team`); the
README's "Read-only by construction" list is generated from the same rows
(:mod:`maintcheck.docs`), so the three never disagree.

>>> permit(["systemctl", "is-active", "ssh"])  # None: maintcheck's own row allowed it
>>> permit(["systemctl", "restart", "ssh"])
Traceback (most recent call last):
maintcheck.errors.NotReadOnly: systemctl restart is not a read-only verb (...)
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from maintcheck.errors import NotReadOnly


@dataclass(frozen=True)
class Operands:
    """Words that are not options make the program write: ``Operands("sets the clock")``."""

    why: str  # what an operand would do: "sets the clock"
    options: tuple[str, ...] = ()  # options that write all the same (`hostname -F FILE`)
    values_of: tuple[str, ...] = ()  # options whose value only reads (`date -d DATE`)
    reading: tuple[str, ...] = ()  # prefixes of operands that only read (`date +%s`)


@dataclass(frozen=True)
class Program:
    """How one program may run: ``Program("nft", verbs=("list",), forbidden=("-f",))``.

    A row with an ``origin`` is the team's (``checks/commands.yml:5``): it answers only to the
    name or path declared, and refuses a write verb anywhere in its arguments.
    """

    program: str
    verbs: tuple[str, ...] = ()  # its first word that is not an option is one of these
    joined: bool = False  # it reads its arguments as one command line (`nft "add table x"`)
    test_modes: tuple[str, ...] = ()  # one of these flags is given (a short one in a cluster)
    simulate: tuple[str, ...] = ()  # one of these words is given: it only says what it would do
    forbidden: tuple[str, ...] = ()  # options that turn it into a writer
    operands: Operands | None = None  # its operands write
    sql: bool = False  # one statement given with -c, that only reads, in a read-only session
    metachars: bool = False  # its arguments may hold shell metacharacters (a pattern, a query)
    write_words: bool = False  # no argument may be a write verb (`set-ntp`, `--delete`)
    reason: str = ""  # why the team's checks need it
    origin: str = ""  # where the team declared it; empty for maintcheck's own rows

    def answers_to(self, program: str) -> bool:
        """``program`` (a command's first word) is this row's: its own by name, the team's as
        declared."""
        if self.origin:
            return program in (self.program, os.path.basename(self.program))
        return os.path.basename(program) == self.program


@dataclass(frozen=True)
class Wrapper:
    """A program that only bounds or re-users the command after it, which is what is checked:
    ``Wrapper("timeout", valued=("-k", "-s"), any_option=True, operands=1)``."""

    program: str
    valued: tuple[str, ...] = ()  # options followed by their value
    flags: tuple[str, ...] = ()  # options alone
    any_option: bool = False  # any other word starting with "-" is an option alone
    refused: tuple[str, ...] = ()  # options that edit or open a shell
    operands: int = 0  # words after its options that are its own (timeout's duration)
    assignments: bool = False  # NAME=value words before the command (env)


SYSTEMCTL_READS = (
    "cat", "get-default", "is-active", "is-enabled", "is-failed", "is-system-running",
    "list-dependencies", "list-jobs", "list-sockets", "list-timers",
    "list-unit-files", "list-units", "show", "show-environment", "status")
CURL_WRITES = (
    "-o", "--output", "-O", "--remote-name", "-X", "--request", "-d", "--data", "--data-raw",
    "--data-binary", "--data-urlencode", "--data-ascii", "--json", "-F", "--form",
    "--form-string", "-T", "--upload-file", "-K", "--config", "-c", "--cookie-jar", "-D",
    "--dump-header", "--trace", "--trace-ascii", "--stderr", "--libcurl", "--hsts", "--alt-svc",
    "--etag-save", "-J", "--output-dir")
JOURNALCTL_WRITES = (
    "--rotate", "--vacuum-size", "--vacuum-time", "--vacuum-files", "--flush", "--sync",
    "--relinquish-var", "--smart-relinquish-var", "--setup-keys", "--update-catalog")
SIMULATE = ("-s", "--simulate", "--just-print", "--dry-run", "--no-act")  # the first, in messages
FIND_WRITES = ("-delete", "-exec", "-execdir", "-ok", "-okdir", "-fprint", "-fprint0",
               "-fprintf", "-fls")

# The programs a check may run. Anything else is refused before it leaves the controller.
# Interpreters (sh, bash, python3, awk) are not here: they run whatever they are given, so only
# a reviewed probe, sent on stdin with its approval, may use one.
PROGRAMS: tuple[Program, ...] = (
    *(Program(name) for name in (
        "cat", "test", "stat", "ls", "sha256sum", "getent", "id", "df", "uname", "true",
        "head", "tail", "wc", "findmnt", "getconf", "nproc", "pg_isready", "dpkg-query",
        "iptables-save")),
    Program("grep", metachars=True),
    Program("find", forbidden=FIND_WRITES),
    Program("ss", forbidden=("-K", "--kill", "-D", "--diag")),
    Program("sort", forbidden=("-o", "--output")),
    Program("curl", forbidden=CURL_WRITES),
    Program("journalctl", forbidden=JOURNALCTL_WRITES),
    Program("date", forbidden=("-s", "--set"), operands=Operands(
        "sets the clock", values_of=("-d", "--date", "-r", "--reference"), reading=("+",))),
    Program("hostname", operands=Operands(
        "renames the host", options=("-F", "--file", "-b", "--boot"))),
    Program("systemctl", verbs=SYSTEMCTL_READS),
    Program("nft", verbs=("list",), joined=True,
            forbidden=("-f", "--file", "-i", "--interactive")),
    # they start a daemon or an editor when run bare: only their test modes read
    Program("sshd", test_modes=("-t", "-T", "-V")),
    Program("nginx", test_modes=("-t", "-T", "-v", "-V")),
    Program("haproxy", test_modes=("-c", "-v", "-vv")),
    Program("visudo", test_modes=("-c", "--check")),
    Program("rpm", test_modes=("-q", "--query", "-V", "--verify")),
    Program("apt-get", simulate=SIMULATE),
    Program("dnf", simulate=SIMULATE),
    Program("psql", sql=True, metachars=True,
            forbidden=("-f", "--file", "-o", "--output", "-L", "--log-file")),
)
WRAPPERS: tuple[Wrapper, ...] = (
    Wrapper("timeout", valued=("-k", "-s"), any_option=True, operands=1),
    Wrapper("sudo", valued=("-u", "-g"), any_option=True,
            refused=("-e", "--edit", "-s", "--shell", "-i", "--login")),
    Wrapper("env", assignments=True),
    Wrapper("runuser", valued=("-u", "-l"), flags=("--",)),
)
# Programs that run whatever they are given, or change the host whatever their arguments:
# a team can never declare them. (maintcheck's own rows keep their own rules.)
NEVER = frozenset({
    "sh", "bash", "dash", "zsh", "ksh", "csh", "tcsh", "fish", "busybox", "python", "python3",
    "perl", "ruby", "node", "lua", "php", "tclsh", "awk", "gawk", "mawk", "nawk", "sed", "xargs",
    "su", "sudo", "doas", "env", "nohup", "setsid", "chroot", "nsenter", "ssh", "scp", "rsync",
    "tee", "dd", "rm", "mv", "cp", "ln", "chmod", "chown", "mkdir", "rmdir", "touch", "kill",
    "pkill", "killall", "reboot", "shutdown", "poweroff", "halt", "mount", "umount", "vi",
    "vim", "nano", "emacs", "ed", "crontab", "at", "systemd-run", "apt", "dpkg", "pip",
})
# Words that make a command write, as a verb (`timedatectl set-ntp`) or an option (`--delete`).
WRITE_VERBS = frozenset({
    "set", "unset", "start", "stop", "restart", "reload", "try-restart", "enable", "disable",
    "mask", "unmask", "kill", "delete", "del", "remove", "rm", "add", "create", "apply",
    "install", "uninstall", "update", "upgrade", "reset", "write", "edit", "import", "load",
    "unload", "flush", "purge", "clear", "drop", "destroy", "mount", "umount", "format",
    "reboot", "poweroff", "shutdown", "halt", "suspend", "hibernate", "isolate", "rotate",
    "vacuum", "sync", "push", "commit", "move", "copy", "rename", "truncate", "revoke", "grant",
    "insert", "replace", "patch", "put", "post", "deploy", "rollback", "migrate", "prune",
    "attach", "detach", "exec", "execute", "run", "shell", "login", "output", "save",
})
SHELL_META = frozenset(";&|><`$(){}\n")
# psql: one statement that only reads, in a session the server itself keeps read-only
PSQL_READ_ONLY_ENV = "PGOPTIONS=-c default_transaction_read_only=on"
SQL_READS = re.compile(r"\s*(?:--[^\n]*\n\s*)*(SELECT|WITH|SHOW|TABLE|VALUES)\b", re.IGNORECASE)
# functions a reading statement may not call: they signal, write or change the server's state
SIDE_EFFECT_FUNCTIONS = (
    "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_promote",
    r"pg_wal_replay_\w+", "pg_rotate_logfile", "pg_switch_wal", r"pg_create_\w+", r"pg_drop_\w+",
    r"pg_replication_\w+_advance", r"pg_backup_\w+", "pg_start_backup", "pg_stop_backup",
    r"pg_log_\w+", r"pg_file_\w+", r"pg_advisory_\w+", r"lo_\w+", "set_config", r"dblink\w*",
    "nextval", "setval", "pg_notify")
SQL_SIDE_EFFECTS = re.compile(
    rf"\b({'|'.join(SIDE_EFFECT_FUNCTIONS)})\s*\(|\bread\s+write\b|\binto\b", re.IGNORECASE)


def is_shipped(program: str) -> bool:
    """``program`` (a name or a path) is one of maintcheck's own rows or wrappers:
    ``is_shipped("/usr/bin/cat")``."""
    name = os.path.basename(program)
    return row(program, PROGRAMS) is not None or any(w.program == name for w in WRAPPERS)


def row(program: str, rows: Iterable[Program]) -> Program | None:
    """The row ``program`` (a command's first word) answers to, or None."""
    return next((r for r in rows if r.answers_to(program)), None)


def permit(argv: list[str], declared: Iterable[Program] = ()) -> Program | None:
    """Refuse any command that could change the host; raises :class:`NotReadOnly`.

    ``declared`` are the team's rows; when one of them allowed the command, it is returned."""
    if not argv:
        raise NotReadOnly("empty command")
    shown = shlex.join(argv)
    words, env = unwrap(argv, shown)
    if not words:
        raise NotReadOnly(f"nothing to run in {shown!r}")
    found = row(words[0], PROGRAMS) or row(words[0], declared)
    if found is None:
        raise NotReadOnly(f"{os.path.basename(words[0])!r} is not on the read-only allowlist (nor "
                          f"declared in the team's commands.yml): {shown!r}")
    for rule in RULES:
        rule(found, words[1:], env, shown)
    return found if found.origin else None


def unwrap(argv: list[str], shown: str) -> tuple[list[str], list[str]]:
    """The command the wrappers in front of it run, and the ``NAME=value`` words env set."""
    words, env = list(argv), list[str]()
    wrapper = next((w for w in WRAPPERS if w.program == os.path.basename(words[0])), None)
    while wrapper is not None:
        words = after_options(wrapper, words[1:], env, shown)
        wrapper = next((w for w in WRAPPERS if words and w.program == os.path.basename(words[0])),
                       None)
    return words, env


def after_options(wrapper: Wrapper, words: list[str], env: list[str], shown: str) -> list[str]:
    """``words`` past the wrapper's own options, assignments and operands."""
    while words:
        word = words[0]
        if word in wrapper.refused:
            raise NotReadOnly(f"{wrapper.program} {word} edits or opens a shell: {shown!r}")
        if word in wrapper.valued:
            words = words[2:]
        elif word in wrapper.flags or (wrapper.any_option and word.startswith("-")):
            words = words[1:]
        elif wrapper.assignments and "=" in word and not word.startswith("-"):
            env.append(word)
            words = words[1:]
        else:
            break
    return words[wrapper.operands:]


def verb_rule(program: Program, args: list[str], env: list[str], shown: str) -> None:
    """A program with verbs runs one of them first."""
    if not program.verbs:
        return
    # nft joins its arguments into one command: `nft "add table x"` is `nft add table x`
    verbs = [a for a in (" ".join(args).split() if program.joined else args)
             if not a.startswith("-")]
    if not verbs or verbs[0] not in program.verbs:
        whose = (f"a verb the team declared ({', '.join(program.verbs)}, {program.origin})"
                 if program.origin else f"a read-only verb ({', '.join(sorted(program.verbs))})")
        raise NotReadOnly(f"{name_of(program)} {verbs[0] if verbs else '(no verb)'} is not "
                          f"{whose}: {shown!r}")


def write_word_rule(program: Program, args: list[str], env: list[str], shown: str) -> None:
    """A team's program takes no write verb, anywhere."""
    written = next((w for a in args if (w := write_word(a))), None) if program.write_words else None
    if written:
        raise NotReadOnly(f"{name_of(program)}: `{written}` is a write verb: {shown!r}")


def test_mode_rule(program: Program, args: list[str], env: list[str], shown: str) -> None:
    """A program that starts a daemon or an editor when run bare runs in a test mode."""
    if program.test_modes and not any(
            a == flag or (len(flag) == 2 and a.startswith(flag) and a[1] != "-")
            for a in args for flag in program.test_modes):
        raise NotReadOnly(f"{program.program} runs only in its test mode "
                          f"({' or '.join(sorted(program.test_modes))}): {shown!r}")


def simulate_rule(program: Program, args: list[str], env: list[str], shown: str) -> None:
    """A package manager only says what it would do."""
    if program.simulate and not set(program.simulate) & set(args):
        raise NotReadOnly(f"{program.program} only runs simulated ({program.simulate[0]}): "
                          f"{shown!r}")


def forbidden_rule(program: Program, args: list[str], env: list[str], shown: str) -> None:
    """No option that turns a reading program into a writing one."""
    bad = sorted({a for a in args for option in program.forbidden if is_option(a, option)})
    if bad:
        raise NotReadOnly(f"{program.program} {' '.join(bad)} changes the host: {shown!r}")


def operand_rule(program: Program, args: list[str], env: list[str], shown: str) -> None:
    """A program whose operands write is given none."""
    rule = program.operands
    if rule is not None and any(
            a in rule.options or (not a.startswith(("-", *rule.reading))
                                  and not (i > 0 and args[i - 1] in rule.values_of))
            for i, a in enumerate(args)):
        raise NotReadOnly(f"{program.program} with an operand {rule.why}: {shown!r}")


def sql_rule(program: Program, args: list[str], env: list[str], shown: str) -> None:
    """psql runs one reading statement, given with -c, in a server-enforced read-only session."""
    if not program.sql:
        return
    if PSQL_READ_ONLY_ENV not in env:
        raise NotReadOnly(f"psql runs only under env '{PSQL_READ_ONLY_ENV}': {shown!r}")
    sql = [args[i + 1] for i, a in enumerate(args[:-1]) if a in {"-c", "--command"}]
    if len(sql) != 1 or any(a.startswith(("--command=", "-c")) and a != "-c" for a in args):
        raise NotReadOnly(f"psql takes exactly one statement, with -c: {shown!r}")
    statement = sql[0].strip().rstrip(";")
    if ";" in statement or "\\" in statement:
        raise NotReadOnly(f"psql: one statement, no meta-command: {shown!r}")
    if not SQL_READS.match(statement):
        raise NotReadOnly(f"psql: only SELECT, WITH, SHOW, TABLE or VALUES read: {shown!r}")
    side = SQL_SIDE_EFFECTS.search(statement)
    if side:
        raise NotReadOnly(f"psql: {side.group(0)!r} has side effects: {shown!r}")


def metachar_rule(program: Program, args: list[str], env: list[str], shown: str) -> None:
    """No shell metacharacters, unless the program's arguments are patterns or queries."""
    word = next((w for w in args if SHELL_META & set(w)), None) if not program.metachars else None
    if word is not None:
        raise NotReadOnly(f"shell metacharacters in {word!r}: {shown!r}")


# The table's columns, read in this order: the first rule a command breaks is the one it names.
RULES = (verb_rule, write_word_rule, test_mode_rule, simulate_rule, forbidden_rule,
         operand_rule, sql_rule, metachar_rule)


def name_of(program: Program) -> str:
    return os.path.basename(program.program)


def is_option(arg: str, option: str) -> bool:
    """``arg`` is ``option``: itself, ``--opt=value``, ``-Xvalue``, or in a short cluster."""
    if option.startswith("--"):
        return arg == option or arg.startswith(option + "=")
    if arg == option:
        return True
    short = len(option) == 2 and arg.startswith("-") and not arg.startswith("--")
    # an upper-case flag is never a value: `-tlnK` holds -K; `-Xvalue` is -X with a value
    return short and option[1].isupper() and option[1] in arg[1:] and (
        arg[1:].isalpha() or arg.startswith(option))


def write_word(word: str) -> str | None:
    """The write verb ``word`` is or starts with (``set-ntp`` -> ``set``), or None."""
    bare = word.lstrip("-").split("=", 1)[0].lower()
    for verb in WRITE_VERBS:
        if bare == verb or bare.startswith((f"{verb}-", f"{verb}_")):
            return verb
    return None
