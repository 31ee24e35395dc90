"""The Postfix access map that locks logins: one line per login, updated atomically.

Postfix consults it with ``check_sasl_access TYPE:PATH`` (see README
"Stopping an incident"), looking up the SASL login exactly as the client gave
it. spamwatch owns the lines it writes and keeps every other line of the file
byte for byte.

Why so strict about the login: a map line is ``key whitespace value``, a line
starting with ``#`` is a comment and one starting with whitespace continues the
previous line, so a login holding a space, a newline or a leading ``#`` would
write a different entry than the one intended (or none). Postfix's quoted
keys (``"a b"``) are stored with their quotes and never match the login
smtpd looks up. Such a login is refused with a clear error (lock it in the
identity store with the hook instead); it never reaches the file.

Why a temporary file: the new source is written beside the map, ``postmap``
builds the temporary's database, and both are renamed over the live ones.
Postfix sees the old map or the new one, and when ``postmap`` fails nothing
changed at all: the login is reported as not locked, never half-locked.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass

from spamwatch.contain.commands import Runner, shown
from spamwatch.contain.settings import MAP_TYPES, ContainSettings
from spamwatch.errors import ContainError
from spamwatch.textsafe import clean

MAX_LOGIN = 320
"""Longest login written to a map (RFC 5321's path limit, with room)."""

_SAFE_LOGIN = re.compile(r"[!-~]+")  # printable ASCII without space
HEADER = (
    "# Logins locked by spamwatch (spamwatch contain / release); read by Postfix\n"
    "# through check_sasl_access. spamwatch rewrites its own lines and keeps the rest.\n"
)


def map_key(login: str) -> str:
    """The login as a map key, or ContainError saying why it cannot be one."""
    if not login:
        raise ContainError("an empty login cannot be locked")
    shown_login = clean(login, limit=80)
    if len(login) > MAX_LOGIN:
        raise ContainError(f"login {shown_login!r} is longer than {MAX_LOGIN} characters")
    if not _SAFE_LOGIN.fullmatch(login):
        raise ContainError(
            f"login {shown_login!r} holds whitespace, control or non-ASCII characters and"
            " cannot be written to a Postfix access map; lock it in the identity store (hook)"
        )
    if login[0] in '#"':
        raise ContainError(
            f"login {shown_login!r} starts with {login[0]!r}, which a Postfix map would not"
            " read as a key; lock it in the identity store (hook)"
        )
    return login.lower()  # hash/btree/lmdb/cdb keys are folded to lower case


def map_line(login: str, action: str) -> str:
    """The line that locks ``login`` (``key action``), checked."""
    return f"{map_key(login)} {action}\n"


@dataclass(frozen=True)
class MapChange:
    """A planned new content of the map: what spamwatch would write, and which line."""

    text: str
    line: str  # the line added or removed ("" when the login was not in the map)
    added: bool


class AccessMap:
    """The ``[contain] map`` file and its ``postmap`` database."""

    def __init__(self, settings: ContainSettings, runner: Runner) -> None:
        self.settings = settings
        self.runner = runner
        self.kind = settings.map_type
        self.path = settings.map_path
        self.suffix = MAP_TYPES[self.kind]

    # -- reading ---------------------------------------------------------

    def text(self) -> str:
        """The map's current source ("" when it does not exist yet)."""
        try:
            with open(self.path, encoding="utf-8", errors="surrogateescape") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise ContainError(f"{self.path}: cannot read the map: {exc.strerror}") from None

    def keys(self) -> dict[str, str]:
        """Every key in the map and its action (comments and blank lines skipped)."""
        out: dict[str, str] = {}
        for line in _logical_lines(self.text()):
            key = _key_of(line)
            if key is not None:
                parts = line.split(None, 1)
                out[key] = " ".join(parts[1].split()) if len(parts) > 1 else ""
        return out

    def has(self, login: str) -> bool:
        """Is ``login`` locked in the map right now?"""
        return map_key(login) in self.keys()

    # -- planning --------------------------------------------------------

    def plan_add(self, login: str) -> MapChange:
        """The map with ``login`` locked (its old line, if any, replaced)."""
        line = map_line(login, self.settings.action)
        kept = self._without(map_key(login))
        if not kept.strip():
            kept = HEADER
        elif not kept.endswith("\n"):
            kept += "\n"
        return MapChange(kept + line, line, True)

    def plan_remove(self, login: str) -> MapChange:
        """The map without ``login``'s line (unchanged text when it has none)."""
        key = map_key(login)
        old = self.text()
        removed = [line for line in _logical_lines(old) if _key_of(line) == key]
        return MapChange(self._without(key), "".join(removed), False)

    def _without(self, key: str) -> str:
        return "".join(line for line in _logical_lines(self.text()) if _key_of(line) != key)

    def commands(self, temporary: str = "TEMPORARY") -> list[list[str]]:
        """The commands applying a change runs (postmap; postfix reload when configured)."""
        out = []
        if self.suffix is not None:
            out.append(self.runner.argv("postmap", f"{self.kind}:{temporary}"))
        if self.settings.reload:
            out.append(self.runner.argv("postfix", "reload"))
        return out

    # -- writing ---------------------------------------------------------

    def apply(self, change: MapChange) -> list[str]:
        """Write ``change`` atomically and rebuild its database; returns the commands run.

        ContainError when anything fails; the live map is then untouched.
        """
        directory = os.path.dirname(self.path)
        tmp = self._temporary(directory, change.text)
        built = tmp + self.suffix if self.suffix else None
        ran: list[str] = []
        try:
            if self.suffix is not None:
                argv = self.runner.argv("postmap", f"{self.kind}:{tmp}")
                ran.append(shown(argv))
                self.runner.run(argv)
            self._copy_owner(tmp, built)
            if built is not None:
                os.replace(built, self.path + self.suffix)
            os.replace(tmp, self.path)
        except OSError as exc:
            raise ContainError(f"{self.path}: cannot replace the map: {exc.strerror}") from None
        finally:
            for leftover in (tmp, built, f"{built}-lock" if built else None):
                if leftover:
                    with contextlib.suppress(OSError):
                        os.unlink(leftover)
        _sync_directory(directory)
        return ran

    def reload(self) -> str:
        """``postfix reload`` (texthash maps are read only when a daemon starts)."""
        argv = self.runner.argv("postfix", "reload")
        self.runner.run(argv)
        return shown(argv)

    def _temporary(self, directory: str, text: str) -> str:
        """The new source in a temporary file beside the map (same filesystem)."""
        name = os.path.basename(self.path)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".new", dir=directory)
        except FileNotFoundError:
            raise ContainError(f"{directory}: the map directory does not exist") from None
        except OSError as exc:
            raise ContainError(
                f"{directory}: cannot write in the map directory ({exc.strerror}); the user"
                f" running spamwatch needs write access to it (see README 'Minimum rights')"
            ) from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, self._mode())
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise ContainError(f"{tmp}: cannot write the new map: {exc.strerror}") from None
        return tmp

    def _mode(self) -> int:
        try:
            return os.stat(self.path).st_mode & 0o777
        except OSError:
            return 0o644  # Postfix's daemons must be able to read it

    def _copy_owner(self, *paths: str | None) -> None:
        """Keep the live map's owner when running as root (it may be root:root on purpose)."""
        if os.geteuid() != 0:
            return
        try:
            st = os.stat(self.path)
        except OSError:
            return
        for path in paths:
            if path:
                with contextlib.suppress(OSError):
                    os.chown(path, st.st_uid, st.st_gid)


def _logical_lines(text: str) -> list[str]:
    """Lines with their continuation lines (leading whitespace) attached."""
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        if out and line[:1] in (" ", "\t") and line.strip():
            out[-1] += line
        else:
            out.append(line)
    return out


def _key_of(line: str) -> str | None:
    """The key of a map line (None for comments and blank lines)."""
    if not line.strip() or line.lstrip().startswith("#") or line[0].isspace():
        return None
    return line.split(None, 1)[0].lower()


def _sync_directory(directory: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
