"""Running Postfix's commands (and the hook): no shell, a timeout, one clear error.

Every command containment runs goes through ``Runner``: it is found in
``[contain] command_directory`` (a test's stand-ins, or a non-standard
install), else on PATH, else in the sbin directories; it gets ``-c DIR`` for a
non-default Postfix instance and ``sudo -n`` in front when it needs root and
``[contain] sudo = true``; it runs without a shell, in its own process group,
killed as a whole after the timeout. A failure is a ContainError quoting the
command's own first line of error, so the admin reads "postmap: fatal: open
/etc/postfix/x: Permission denied", not "exit status 1".

``shown`` is how a command is printed (dry run, audit log): shell-quoted, so
it can be pasted, and with control characters escaped, so it cannot reach a
terminal as anything but text.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from spamwatch.contain.settings import ContainSettings
from spamwatch.errors import ContainError
from spamwatch.sinks.exec import close_pipes, kill_group, talk
from spamwatch.sinks.secrets import is_secret_variable
from spamwatch.textsafe import clean

SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
"""Where Postfix's commands live when they are not on a service's PATH."""

PRIVILEGED = frozenset({"postsuper", "postfix"})
"""Commands that need root (given ``sudo -n`` when ``[contain] sudo = true``)."""

TAKES_CONFIG_DIR = frozenset({"postsuper", "postfix", "postmap", "postqueue", "postconf"})
"""Commands that take ``-c DIR`` for a non-default Postfix instance."""


NO_NEW_PRIVILEGES = (
    "this process may not gain privileges (systemd NoNewPrivileges=yes?), so set-user-ID and"
    " set-group-ID programs (postqueue and postdrop: group postdrop; sudo) run without them;"
    " see README 'Running as a service'"
)


def no_new_privileges() -> bool:
    """Is this process barred from gaining privileges (Linux no_new_privs, which systemd's
    NoNewPrivileges=yes sets)? Then a set-ID program's bit is ignored."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            return any(line.split() == ["NoNewPrivs:", "1"] for line in status)
    except OSError:
        return False


def set_id_ignored(program: str) -> str:
    """Why a set-ID ``program`` may have failed: "" unless its bit was ignored here."""
    try:
        mode = os.stat(program).st_mode
    except OSError:
        return ""
    if os.geteuid() == 0 or not mode & (stat.S_ISUID | stat.S_ISGID):
        return ""
    return f" ({NO_NEW_PRIVILEGES})" if no_new_privileges() else ""


def shown(argv: Sequence[str]) -> str:
    """A command as a person may read and paste it (quoted, control characters escaped)."""
    return clean(shlex.join(argv))


def first_line(text: str) -> str:
    """The first non-empty line of a command's output, made safe to show."""
    for line in text.splitlines():
        if line.strip():
            return clean(line.strip(), limit=300)
    return ""


@dataclass(frozen=True)
class Result:
    """What a command printed (it exited 0)."""

    argv: tuple[str, ...]
    stdout: str
    stderr: str


class Runner:
    """Finds and runs the Postfix commands for one ``[contain]`` configuration."""

    def __init__(self, settings: ContainSettings) -> None:
        self.settings = settings

    def find(self, name: str) -> str:
        """The command's path; ContainError saying where it looked when it is missing."""
        directory = self.settings.command_directory
        places = [directory] if directory else []
        if not directory:
            found = shutil.which(name)
            if found:
                return found
            places = list(SBIN_DIRS)
        for place in places:
            candidate = os.path.join(place, name)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        where = ", ".join(places) if directory else "PATH, " + ", ".join(places)
        raise ContainError(f"{name}: command not found (looked in {where}); is Postfix installed?")

    def argv(self, name: str, *args: str) -> list[str]:
        """The full command line for a Postfix command (path, sudo, -c DIR)."""
        argv = [self.find(name)]
        if name in TAKES_CONFIG_DIR and self.settings.postfix_config:
            argv += ["-c", self.settings.postfix_config]
        argv += list(args)
        if name in PRIVILEGED and self.settings.sudo:
            argv = [self.find_sudo(), "-n", *argv]
        return argv

    def find_sudo(self) -> str:
        found = shutil.which("sudo") or next(
            (p for p in ("/usr/bin/sudo", "/bin/sudo") if os.access(p, os.X_OK)), None
        )
        if found is None:
            raise ContainError("sudo: not found, but [contain] sudo = true")
        return found

    def run(
        self,
        argv: Sequence[str],
        stdin: str | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        bounded: bool = False,
    ) -> Result:
        """Run ``argv``; ContainError (with its first line of error) unless it exits 0.

        ``bounded`` keeps only the tail of what the command prints (the hook: a
        site's program); Postfix's commands are read whole (``postqueue -j``).
        """
        limit = timeout if timeout is not None else self.settings.command_timeout
        try:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE if stdin is not None or bounded else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(env) if env is not None else self.environment(),
                start_new_session=True,  # its own process group, killed as a whole
                close_fds=True,
            )
        except OSError as exc:
            raise ContainError(f"{shown(argv[:1])}: cannot run: {exc.strerror or exc}") from None
        data = (stdin or "").encode("utf-8")
        try:
            out, err, timed_out = _talk(process, data, limit, bounded)
        except BaseException:
            kill_group(process)
            raise
        finally:
            close_pipes(process)
        if timed_out:
            kill_group(process)
            raise ContainError(f"{shown(argv)}: killed after {limit:g}s timeout")
        stdout = out.decode("utf-8", "replace")
        stderr = err.decode("utf-8", "replace")
        if process.returncode != 0:
            detail = first_line(stderr) or first_line(stdout) or "no error message"
            raise ContainError(
                f"{shown(argv)} failed (exit status {process.returncode}): {detail}"
                + set_id_ignored(argv[0])
            )
        return Result(tuple(argv), stdout, stderr)

    def environment(self) -> dict[str, str]:
        """spamwatch's environment without its secrets (alert passwords, tokens)."""
        hidden = self.settings.hidden_variables
        return {k: v for k, v in os.environ.items() if not is_secret_variable(k, hidden)}


def _talk(
    process: subprocess.Popen[bytes], data: bytes, limit: float, bounded: bool
) -> tuple[bytes, bytes, bool]:
    """(stdout, stderr, timed out): the whole output, or its tails when ``bounded``."""
    if bounded:
        said = talk(process, data, limit)
        return said.out, said.err, said.timed_out
    try:
        out, err = process.communicate(data if process.stdin else None, timeout=limit)
    except subprocess.TimeoutExpired:
        return b"", b"", True
    return out, err, False
