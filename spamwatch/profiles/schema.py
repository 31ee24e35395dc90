"""The profile database's tables, and the migrations from one schema version to the next.

The schema version is SQLite's ``user_version``; ``application_id`` marks the
file as a spamwatch profile database, so another program's SQLite file is
refused by name instead of being "migrated". A database written by a newer
spamwatch (a higher version) is refused too: its meaning is unknown here.

Times are epoch seconds (UTC, log time). ``day`` and ``hour`` are the log's
own local date and hour (what "usual for this hour" means to the admin).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

APPLICATION_ID = 0x53775066
"""'SwPf': written into the file header so ``file`` and spamwatch recognise it."""

SCHEMA_VERSION = 1

SCHEMA_V1 = """
CREATE TABLE logins (
    login TEXT PRIMARY KEY,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0,
    single INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE login_hours (
    login TEXT NOT NULL,
    start REAL NOT NULL,
    day TEXT NOT NULL,
    hour INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    single INTEGER NOT NULL,
    rcpt_domains INTEGER NOT NULL,
    PRIMARY KEY (login, start)
) WITHOUT ROWID;
CREATE TABLE login_networks (
    login TEXT NOT NULL,
    network TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    messages INTEGER NOT NULL,
    days INTEGER NOT NULL,
    last_day TEXT NOT NULL,
    PRIMARY KEY (login, network)
) WITHOUT ROWID;
CREATE TABLE login_senders (
    login TEXT NOT NULL,
    domain TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    messages INTEGER NOT NULL,
    days INTEGER NOT NULL,
    last_day TEXT NOT NULL,
    PRIMARY KEY (login, domain)
) WITHOUT ROWID;
CREATE TABLE host_windows (
    host TEXT NOT NULL,
    start REAL NOT NULL,
    auth_addresses INTEGER,
    auth_failures INTEGER,
    queue_peak INTEGER,
    deliveries INTEGER,
    deferred INTEGER,
    PRIMARY KEY (host, start)
) WITHOUT ROWID;
CREATE TABLE learned (
    host TEXT NOT NULL,
    first REAL NOT NULL,
    last REAL NOT NULL,
    PRIMARY KEY (host, first)
) WITHOUT ROWID;
CREATE TABLE files (
    fingerprint TEXT PRIMARY KEY,
    head INTEGER NOT NULL,
    path TEXT NOT NULL,
    offset INTEGER NOT NULL,
    lines INTEGER NOT NULL,
    learned_at REAL NOT NULL
);
CREATE INDEX login_hours_start ON login_hours (start);
CREATE INDEX logins_last_seen ON logins (last_seen);
CREATE INDEX host_windows_start ON host_windows (start);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
"""Version 1. ``learned`` holds per host the log-time spans already learned
(so no line is counted twice, whichever command read it); ``files`` the
fingerprint of each file ``learn`` read and how far (to resume, to skip);
``host_windows`` one row per 10 minutes a host logged anything in (NULL
columns: that window belonged to an incident on the host, see ``Learner``)."""

Migration = Callable[[sqlite3.Connection], None]


def _create_v1(db: sqlite3.Connection) -> None:
    # statement by statement: executescript() would commit the open transaction
    for statement in SCHEMA_V1.split(";"):
        if statement.strip():
            db.execute(statement)


MIGRATIONS: dict[int, Migration] = {0: _create_v1}
"""``MIGRATIONS[n]`` takes a database at version ``n`` to ``n + 1`` (0 is empty).

A new version adds an entry here and bumps ``SCHEMA_VERSION``; each step runs
in the same transaction as the version bump, so a crash leaves the old
version or the new one."""


def migrate(db: sqlite3.Connection, version: int) -> None:
    """Run every step from ``version`` to ``SCHEMA_VERSION`` (inside a transaction)."""
    for step in range(version, SCHEMA_VERSION):
        MIGRATIONS[step](db)
        db.execute(f"PRAGMA user_version = {step + 1}")
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
