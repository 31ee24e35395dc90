"""The profile database: SQLite (standard library), one file, safe to share.

WAL mode lets ``report`` read while ``follow`` writes (readers never wait for
a writer, and a writer waits up to ``BUSY_SECONDS`` for another instead of
failing with "database is locked"). Writes come in batches, one transaction
per checkpoint (``write``), with ``synchronous = FULL``: a committed
checkpoint is on disk, a crash loses at most the batch being built.

Every SQLite error becomes a ``ProfileError`` naming the file and the way
out: a corrupt or foreign file is never read as an empty profile.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from operator import itemgetter
from typing import Any
from urllib.parse import quote

from spamwatch.errors import ProfileError
from spamwatch.profiles.partial import Limits, Partial, Seen
from spamwatch.profiles.schema import APPLICATION_ID, SCHEMA_VERSION, migrate
from spamwatch.profiles.spans import Span, union
from spamwatch.profiles.view import (
    HostProfile,
    LoginProfile,
    ProfileView,
    host_profile,
    login_profile,
)
from spamwatch.safefiles import give_to_directory_owner

BUSY_SECONDS = 60.0
"""How long a writer waits for another writer before giving up."""
CACHE_KIB = 512
"""SQLite's page cache per connection (its default is 2,000 KiB). report and follow
read the profiles once and write an hour's partial at a time; the pages a write
touches are in the kernel's cache anyway, and the 2 MB filled over a few days of
log was a fifth of what their memory grew by (bench/bench_memory.py)."""
WITHOUT = "report and follow can run without it (--no-db)"
"""The way round a database that cannot be used, said so that learn and profile (which
have no --no-db) do not offer an option they lack."""
WAY_OUT = f"move it away to start afresh (spamwatch learn rebuilds it); {WITHOUT}"


@dataclass(frozen=True, slots=True)
class FileMark:
    """How far ``learn`` read one file: its fingerprint (first ``head`` bytes, uncompressed)."""

    fingerprint: str
    head: int
    path: str
    offset: int  # uncompressed bytes learned
    lines: int


class ProfileStore:
    """One open profile database (see the module docstring)."""

    def __init__(self, path: str, readonly: bool = False) -> None:
        self.path = os.path.abspath(path)
        self.readonly = readonly
        if os.path.isdir(self.path):  # SQLite calls it a disk I/O error: "corrupt"
            raise ProfileError(
                f"{self.path}: is a directory, not a profile database; name a file in it"
                " (--db or [profiles] path)"
            )
        self._refuse_links()
        if not readonly:
            self._check_writable()
        self._db = self._connect()
        if not readonly:
            self._give_to_directory_owner()

    def _refuse_links(self) -> None:
        """A symbolic link as the database or its -wal/-shm file: refused.

        SQLite opens (and creates, and writes) through a link, so whoever may
        write the service's directory could make ``learn`` run as root write
        any file of the system. The main file is also opened ``nofollow``.
        """
        for name in (self.path, *self._companions()):
            if os.path.islink(name):
                raise ProfileError(
                    f"{name}: is a symbolic link (refused: it may point anywhere); remove it"
                    " or choose another database with --db"
                )

    def _check_writable(self) -> None:
        """A database to learn into that this user cannot write: one error now.

        SQLite would open it read-only without a word and fail at the first
        write, after the whole log was read (and ``report`` warned at each
        checkpoint before its error).
        """
        for name in (self.path, *self._companions()):
            if os.path.exists(name) and not os.access(name, os.W_OK):
                info = os.stat(name)
                why = f"{name} belongs to uid {info.st_uid}, mode {stat.S_IMODE(info.st_mode):04o}"
                raise not_writable(self.path, why)

    def _companions(self) -> tuple[str, str]:
        """The files SQLite keeps beside a WAL database while it is open."""
        return self.path + "-wal", self.path + "-shm"

    def _give_to_directory_owner(self) -> None:
        """Run as root (``spamwatch learn`` by hand, as README says for a new installation)
        in the service's directory: the database and its -wal/-shm files go to the
        directory's owner, else the service could never write its profiles again."""
        for name in (self.path, *self._companions()):
            give_to_directory_owner(name)

    # -- opening -------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        mode = "ro" if self.readonly else "rwc"
        try:
            return self._open(f"file:{quote(self.path)}?mode={mode}&nofollow=1")
        except ProfileError:
            if not self.readonly or os.path.exists(self.path + "-wal"):
                raise
        # Read-only and nobody has it open: a WAL database still wants to create its
        # -shm file beside it, which a reader without write access cannot. With no
        # -wal file everything is in the main file, which is then read as it is.
        return self._open(f"file:{quote(self.path)}?mode=ro&immutable=1&nofollow=1")

    def _open(self, uri: str) -> sqlite3.Connection:
        with self._guard():
            db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_SECONDS)
            try:
                self._prepare(db)
            except BaseException:
                db.close()
                raise
        return db

    def _prepare(self, db: sqlite3.Connection) -> None:
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        if not self.readonly:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
        app = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app != APPLICATION_ID and (tables or version):
            raise ProfileError(f"{self.path}: not a spamwatch profile database; {WAY_OUT}")
        if version > SCHEMA_VERSION:
            raise ProfileError(
                f"{self.path}: written by a newer spamwatch (schema {version}, this one"
                f" knows {SCHEMA_VERSION}); upgrade spamwatch, or use another --db"
            )
        if version < SCHEMA_VERSION:
            if self.readonly:
                raise ProfileError(
                    f"{self.path}: profile database needs an upgrade (schema {version});"
                    " run spamwatch learn or report once to upgrade it"
                )
            db.execute("BEGIN IMMEDIATE")
            try:
                if db.execute("PRAGMA user_version").fetchone()[0] == version:
                    migrate(db, version)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    def size_bytes(self) -> int:
        """Bytes on disk, the write-ahead log included: what the admin's disk pays for it."""
        total = 0
        for path in (self.path, self.path + "-wal"):
            with contextlib.suppress(OSError):
                total += os.stat(path).st_size
        return total

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn any SQLite error into one ProfileError naming the file and the way out."""
        try:
            yield
        except sqlite3.Error as exc:
            raise failure(self.path, exc) from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._guard():
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise

    # -- writing -------------------------------------------------------------

    def write(
        self,
        partial: Partial,
        files: Iterable[FileMark] = (),
        retention: timedelta | None = None,
        limits: Limits | None = None,
    ) -> None:
        """Add ``partial`` (and ``learn``'s file marks) in one transaction; prune."""
        with self._transaction() as db:
            _write_logins(db, partial)
            _write_windows(db, partial)
            for host, (first, last) in partial.spans.items():
                _write_span(db, host, first, last)
            for mark in files:
                db.execute(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, unixepoch())",
                    (mark.fingerprint, mark.head, mark.path, mark.offset, mark.lines),
                )
            if retention is not None:
                _prune(db, retention, limits or partial.limits, list(partial.logins))

    def forget(self, login: str) -> bool:
        """Drop everything known about ``login``; False when nothing was."""
        with self._transaction() as db:
            found = db.execute("DELETE FROM logins WHERE login = ?", (login,)).rowcount
            for table in ("login_hours", "login_networks", "login_senders"):
                found += db.execute(f"DELETE FROM {table} WHERE login = ?", (login,)).rowcount
        return found > 0

    # -- reading -------------------------------------------------------------

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read query (the ``profile`` command's reports use this)."""
        with self._guard():
            return self._db.execute(sql, tuple(params)).fetchall()

    def learned(self) -> dict[str, list[Span]]:
        """Per host, the spans of log time already learned."""
        out: dict[str, list[Span]] = {}
        for host, first, last in self.rows("SELECT host, first, last FROM learned"):
            out.setdefault(host, []).append((first, last))
        return out

    def file_heads(self) -> list[int]:
        """The fingerprint lengths in use (4096, or shorter for files that were small)."""
        return [head for (head,) in self.rows("SELECT DISTINCT head FROM files")]

    def file_mark(self, fingerprint: str) -> FileMark | None:
        found = self.rows(
            "SELECT fingerprint, head, path, offset, lines FROM files WHERE fingerprint = ?",
            (fingerprint,),
        )
        return FileMark(*found[0]) if found else None

    def view(self, before: float | None = None, min_hours: int = 4) -> ProfileView:
        """Every profile as detectors see it, from what was learned before ``before``."""
        cutoff = float("inf") if before is None else before
        networks = self._seen_all("login_networks", "network", cutoff)
        senders = self._seen_all("login_senders", "domain", cutoff)
        logins = {
            name: login_profile(rows, networks.get(name, {}), senders.get(name, {}))
            for name, rows in self._hours_by_login(cutoff)
        }
        windows: dict[str, list[tuple[Any, ...]]] = {}
        for host, *row in self.rows(
            "SELECT host, auth_addresses, auth_failures, queue_peak, deferred"
            " FROM host_windows WHERE start < ?",
            (cutoff,),
        ):
            windows.setdefault(host, []).append(tuple(row))
        hosts = {host: host_profile(rows) for host, rows in windows.items()}
        return ProfileView(logins, hosts, min_hours)

    def login_profiles(
        self, names: Iterable[str], before: float | None
    ) -> dict[str, LoginProfile | None]:
        """Fresh profiles of a few logins (a checkpoint refreshes what it wrote)."""
        cutoff = float("inf") if before is None else before
        out: dict[str, LoginProfile | None] = {}
        for name in names:
            rows = self.rows(
                "SELECT hour, messages FROM login_hours WHERE login = ? AND start < ?",
                (name, cutoff),
            )
            if not rows:
                out[name] = None
                continue
            nets = self._seen_one("login_networks", "network", name, cutoff)
            senders = self._seen_one("login_senders", "domain", name, cutoff)
            out[name] = login_profile(rows, nets, senders)
        return out

    def host_profiles(self, names: Iterable[str], before: float | None) -> dict[str, HostProfile]:
        cutoff = float("inf") if before is None else before
        return {
            name: host_profile(
                self.rows(
                    "SELECT auth_addresses, auth_failures, queue_peak, deferred"
                    " FROM host_windows WHERE host = ? AND start < ?",
                    (name, cutoff),
                )
            )
            for name in names
        }

    def _hours_by_login(self, cutoff: float) -> Iterator[tuple[str, list[tuple[int, int]]]]:
        """Each login's (hour, messages) rows before ``cutoff``, one login at a time.

        Streamed in login order, not fetched whole: a busy server's months are
        millions of login-hours, and only their reduction (24 numbers a login)
        is kept, so loading the view peaks at one login's rows (issue 11 memory).
        """
        with self._guard():
            rows = self._db.execute(
                "SELECT login, hour, messages FROM login_hours WHERE start < ? ORDER BY login",
                (cutoff,),
            )
            for login, group in itertools.groupby(rows, key=itemgetter(0)):
                yield login, [(hour, messages) for _, hour, messages in group]

    def _seen_all(self, table: str, column: str, cutoff: float) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for login, key, days in self.rows(
            f"SELECT login, {column}, days FROM {table} WHERE first_seen < ?", (cutoff,)
        ):
            out.setdefault(login, {})[key] = days
        return out

    def _seen_one(self, table: str, column: str, login: str, cutoff: float) -> dict[str, int]:
        return dict(
            self.rows(
                f"SELECT {column}, days FROM {table} WHERE login = ? AND first_seen < ?",
                (login, cutoff),
            )
        )


def not_writable(path: str, why: str) -> ProfileError:
    """The one wording of a profile database this user cannot write."""
    return ProfileError(
        f"{path}: profile database is not writable ({why}); fix its permissions or"
        " choose another with --db (report and follow can only read it: --no-learn)"
    )


def failure(path: str, exc: sqlite3.Error) -> ProfileError:
    """The one wording of each way an SQLite file can fail us."""
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return ProfileError(
            f"{path}: profile database is locked by another process for over"
            f" {BUSY_SECONDS:g}s; try again ({WITHOUT})"
        )
    if "readonly" in lowered or "read-only" in lowered:
        return not_writable(path, text)
    if "unable to open" in lowered:
        return ProfileError(
            f"{path}: cannot open profile database ({text}); check that its directory exists"
            f" and is writable, or choose another with --db ({WITHOUT})"
        )
    if "full" in lowered:
        return ProfileError(f"{path}: cannot write profile database: disk full")
    if isinstance(exc, sqlite3.OperationalError) and "disk i/o" not in lowered:
        return ProfileError(f"{path}: profile database error ({text}); {WAY_OUT}")
    return ProfileError(f"{path}: corrupt profile database ({text}); {WAY_OUT}")


# -- the statements of a write ----------------------------------------------------


def _write_logins(db: sqlite3.Connection, partial: Partial) -> None:
    items = partial.logins.items()
    db.executemany(
        "INSERT INTO logins VALUES (?, ?, ?, ?, ?) ON CONFLICT (login) DO UPDATE SET"
        " first_seen = min(first_seen, excluded.first_seen),"
        " last_seen = max(last_seen, excluded.last_seen),"
        " messages = messages + excluded.messages, single = single + excluded.single",
        [(name, e.first, e.last, e.messages, e.single) for name, e in items],
    )
    db.executemany(
        "INSERT INTO login_hours VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (login, start)"
        " DO UPDATE SET messages = messages + excluded.messages,"
        " single = single + excluded.single,"
        " rcpt_domains = max(rcpt_domains, excluded.rcpt_domains)",
        [
            (name, start, h.day, h.hour, h.messages, h.single, len(h.domains))
            for name, e in items
            for start, h in e.hours.items()
        ],
    )
    _write_seen(db, "login_networks", "network", [(n, e.networks) for n, e in items])
    _write_seen(db, "login_senders", "domain", [(n, e.senders) for n, e in items])


def _write_seen(
    db: sqlite3.Connection,
    table: str,
    column: str,
    items: list[tuple[str, dict[str, Seen]]],
) -> None:
    """Upsert networks or sender domains; ``days`` adds the days not counted before."""
    db.executemany(
        f"INSERT INTO {table} (login, {column}, first_seen, last_seen, messages, days, last_day)"
        " VALUES (:login, :key, :first, :last, :messages, :days, :last_day)"
        f" ON CONFLICT (login, {column}) DO UPDATE SET"
        " first_seen = min(first_seen, excluded.first_seen),"
        " last_seen = max(last_seen, excluded.last_seen),"
        " messages = messages + excluded.messages,"
        " days = days + excluded.days - (instr(:all_days, ',' || last_day || ',') > 0),"
        " last_day = max(last_day, excluded.last_day)",
        [
            {
                "login": login,
                "key": key,
                "first": seen.first,
                "last": seen.last,
                "messages": seen.messages,
                "days": len(seen.days),
                "last_day": max(seen.days),
                "all_days": "," + ",".join(sorted(seen.days)) + ",",
            }
            for login, table_of in items
            for key, seen in table_of.items()
            if seen.days
        ],
    )


def _write_windows(db: sqlite3.Connection, partial: Partial) -> None:
    rows = []
    for (host, start), w in partial.windows.items():
        auth = (None, None) if w.auth_tainted else (len(w.addresses), w.failures)
        queue = (None, None, None) if w.tainted else (w.queue_peak, w.deliveries, w.deferred)
        rows.append((host, start, *auth, *queue))
    db.executemany(
        "INSERT INTO host_windows VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host, start)"
        " DO UPDATE SET auth_addresses = max(auth_addresses, excluded.auth_addresses),"
        " auth_failures = auth_failures + excluded.auth_failures,"
        " queue_peak = max(queue_peak, excluded.queue_peak),"
        " deliveries = deliveries + excluded.deliveries,"
        " deferred = deferred + excluded.deferred",
        rows,
    )


def _write_span(db: sqlite3.Connection, host: str, first: float, last: float) -> None:
    """Record a learned span, joined with the spans it overlaps."""
    touching = db.execute(
        "SELECT first, last FROM learned WHERE host = ? AND last >= ? AND first <= ?",
        (host, first, last),
    ).fetchall()
    (joined,) = union([(first, last), *touching])
    db.execute(
        "DELETE FROM learned WHERE host = ? AND last >= ? AND first <= ?", (host, first, last)
    )
    db.execute("INSERT INTO learned VALUES (?, ?, ?)", (host, *joined))


def _prune(
    db: sqlite3.Connection, retention: timedelta, limits: Limits, touched: list[str]
) -> None:
    """Drop what is older than ``retention`` (log time) and what exceeds the caps."""
    newest = db.execute("SELECT max(last) FROM learned").fetchone()[0]
    if newest is not None:
        cutoff = newest - retention.total_seconds()
        for table, column in (
            ("login_hours", "start"),
            ("login_networks", "last_seen"),
            ("login_senders", "last_seen"),
            ("host_windows", "start"),
            ("learned", "last"),
        ):
            db.execute(f"DELETE FROM {table} WHERE {column} < ?", (cutoff,))
        _drop_logins(db, "SELECT login FROM logins WHERE last_seen < ?", (cutoff,))
    _drop_logins(
        db,
        "SELECT login FROM logins ORDER BY last_seen DESC LIMIT -1 OFFSET ?",
        (limits.max_logins,),
    )
    for table, column, cap in (
        ("login_networks", "network", limits.max_networks),
        ("login_senders", "domain", limits.max_senders),
    ):
        for login in touched:
            db.execute(
                f"DELETE FROM {table} WHERE login = ? AND {column} NOT IN"
                f" (SELECT {column} FROM {table} WHERE login = ?"
                "  ORDER BY last_seen DESC LIMIT ?)",
                (login, login, cap),
            )


def _drop_logins(db: sqlite3.Connection, select: str, params: tuple[Any, ...]) -> None:
    for table in ("login_hours", "login_networks", "login_senders", "logins"):
        db.execute(f"DELETE FROM {table} WHERE login IN ({select})", params)
