"""Scenarios: failed SASL logins, as an attack (spraying, brute force) or as ambient scanning.

Why together: the same lines, told apart only by their number and spread.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from synthlog.population import bot_client, remote_address
from synthlog.records import Record, epoch, merge
from synthlog.server import Server
from synthlog.words import SPRAY_NAMES, pick, word_list


def password_spraying(
    start: datetime | float,
    duration: timedelta = timedelta(minutes=30),
    sources: int = 40,
    usernames: Sequence[str] | None = None,
    domain: str = "example.com",
    attempts: int = 600,
    success: str | None = "sales@example.com",
    host: str = "mail.example.com",
    lane: int = 3,
    seed: int = 3,
) -> Iterator[Record]:
    """Many addresses try many usernames, slowly each, then one guess works.

    Knobs: ``sources`` attacking addresses, ``usernames`` (default: common
    role names @``domain``), ``attempts`` failed logins spread over
    ``duration``, ``success`` the login that finally works (None: none), from
    one of the attacking addresses, which then sends a test message.
    Failures log ``sasl_username=`` (Postfix 3.x with Dovecot SASL).
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane)
    clients = [bot_client(rng) for _ in range(sources)]
    names = list(usernames or [f"{n}@{domain}" for n in SPRAY_NAMES])
    t, gap = epoch(start), duration.total_seconds() / max(attempts, 1)
    for _ in range(attempts):
        yield from server.due(t)
        service = "submission" if rng.random() < 0.5 else "smtps"
        server.auth_failure(t, service, pick(rng, clients), pick(rng, names))
        t += rng.expovariate(1 / gap)
    if success:
        yield from server.due(t)
        msg = (success, [remote_address(rng)], 900)
        server.session(t, "submission", clients[0], [msg], login=success)
    yield from server.drain()


def brute_force(
    start: datetime | float,
    username: str = "info@example.com",
    attempts: int = 400,
    interval: tuple[float, float] = (2.0, 6.0),
    succeed: bool = False,
    host: str = "mail.example.com",
    lane: int = 4,
    seed: int = 4,
) -> Iterator[Record]:
    """One address hammering one login: ``attempts`` failures, ``interval`` apart.

    Knobs: ``username``, ``attempts``, ``interval`` (seconds, min/max), and
    ``succeed``: whether the last attempt works (then one message is sent).
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane)
    client = bot_client(rng)
    t = epoch(start)
    done = 0
    while done < attempts:
        tries = min(1 + int(rng.random() * 3), attempts - done)
        yield from server.due(t)
        t = server.auth_failure(t, "submission", client, username, tries=tries)
        done += tries
        t += rng.uniform(*interval)
    if succeed:
        yield from server.due(t)
        server.session(
            t, "submission", client, [(username, [remote_address(rng)], 900)], login=username
        )
    yield from server.drain()


SCANNED_NAMES = word_list(
    "admin administrator test user info office mail postmaster webmaster support sales"
    " contact root guest demo backup service noreply marketing hr"
)


def sasl_scanners(
    start: datetime | float,
    duration: timedelta = timedelta(hours=24),
    per_window: tuple[int, int] = (5, 20),
    hosts: Sequence[str] = ("mail.example.com",),
    domain: str = "example.com",
    lane: int = 13,
    seed: int = 13,
) -> Iterator[Record]:
    """The SASL scanners every internet-facing submission port sees, all day, on every host.

    Every 10 minutes, on each host, ``per_window`` (min, max) different
    addresses fail to log in once or twice, half of them naming a dictionary
    username (``admin@``, ``info@``...). It is not an attack on this server;
    a profile that knows the host's ambient level keeps it quiet.
    """
    rng = random.Random(seed)
    streams = [
        _scanning(
            Server(name, random.Random(rng.random()), lane), start, duration, per_window, domain
        )
        for name in hosts
    ]
    return merge(*streams)


def _scanning(
    server: Server,
    start: datetime | float,
    duration: timedelta,
    per_window: tuple[int, int],
    domain: str,
) -> Iterator[Record]:
    rng = server.rng
    window, end = epoch(start), epoch(start) + duration.total_seconds()
    while window < end:
        for t in sorted(window + 600 * rng.random() for _ in range(rng.randint(*per_window))):
            name = f"{pick(rng, SCANNED_NAMES)}@{domain}" if rng.random() < 0.5 else None
            service = "submission" if rng.random() < 0.6 else "smtps"
            yield from server.due(t)
            server.auth_failure(t, service, bot_client(rng), name, tries=1 + (rng.random() < 0.2))
        window += 600
    yield from server.drain()
