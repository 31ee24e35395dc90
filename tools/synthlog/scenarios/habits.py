"""Scenarios: one sender's steady habits (notifications, ticketing, travel, a foreign domain).

Why: each trips a fixed threshold every day; a learned profile keeps it quiet.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from synthlog.population import remote_address
from synthlog.records import Record, epoch
from synthlog.server import Server
from synthlog.words import pick


def notifications(
    start: datetime | float,
    user: str = "alerts@example.com",
    duration: timedelta = timedelta(hours=10),
    interval: tuple[float, float] = (120.0, 240.0),
    client: tuple[str, str] = ("monitor.example.com", "198.51.100.61"),
    recipients: Sequence[str] | None = None,
    host: str = "mail.example.com",
    lane: int = 7,
    seed: int = 7,
) -> Iterator[Record]:
    """A monitoring system: one single-recipient mail every few minutes, all day.

    Knobs: ``interval`` (seconds, min/max), ``duration``, the fixed ``client``,
    ``recipients`` (default: a handful of on-call people, some external).
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane)
    people = list(
        recipients
        or [
            "oncall@example.com",
            "it-team@example.com",
            "stefan.krause@example.com",
            "ops.pager@gmail.com",
        ]
    )
    t, end = epoch(start), epoch(start) + duration.total_seconds()
    while t < end:
        yield from server.due(t)
        msg = (user, [pick(rng, people)], 3000 + rng.randrange(2000))
        server.session(t, "submission", client, [msg], login=user)
        t += rng.uniform(*interval)
    yield from server.drain()


def traveller(
    start: datetime | float,
    user: str = "clara.braun@example.com",
    networks: Sequence[tuple[str, str]] = (
        ("p54960a1b.dip0.t-ipconnect.de", "84.150.10.27"),
        ("guest-wifi.hotel-seeblick.at", "193.81.77.140"),
        ("unknown", "2a01:598:b182:4f21:1c4e:2bff:fe33:9a10"),
    ),
    per_network: int = 3,
    duration: timedelta = timedelta(hours=8),
    host: str = "mail.example.com",
    lane: int = 8,
    seed: int = 8,
) -> Iterator[Record]:
    """A user on the road: a few mails from home, a hotel, and mobile data.

    Knobs: ``networks`` (client name, address) visited in order,
    ``per_network`` mails from each, spread over ``duration``. Mobile IPv6
    addresses change within one /64 between mails.
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane)
    t = epoch(start)
    gap = duration.total_seconds() / (len(networks) * per_network)
    for name, ip in networks:
        for _ in range(per_network):
            addr = ip
            if ":" in ip:
                addr = ip.rsplit(":", 1)[0] + f":{rng.randrange(0x10000):x}"
            yield from server.due(t)
            msg = (user, [remote_address(rng)], 2000 + rng.randrange(60000))
            server.session(t, "submission", (name, addr), [msg], login=user)
            t += gap * (0.5 + rng.random())
    yield from server.drain()


def ticketing(
    start: datetime | float,
    duration: timedelta = timedelta(hours=10),
    per_hour: tuple[float, float] = (30.0, 60.0),
    user: str = "helpdesk@example.com",
    sender: str = "noreply@example.com",
    client: tuple[str, str] = ("tickets.example.com", "198.51.100.70"),
    host: str = "mail.example.com",
    lane: int = 11,
    seed: int = 11,
) -> Iterator[Record]:
    """A ticketing system or CRM: single-recipient mail at a steady rate all day.

    Knobs: ``per_hour`` (min, max; a new rate is drawn each hour), ``duration``,
    the one fixed ``client`` and the own-domain ``sender``. At 60 an hour the
    fixed thresholds see "20 in 20 minutes from 1 address" several times a day;
    a profile that knows its usual hour does not.
    """
    server = Server(host, random.Random(seed), lane)
    return _steady(server, start, duration, per_hour, user, sender, client, (3000, 12000))


def _steady(
    server: Server,
    start: datetime | float,
    duration: timedelta,
    per_hour: tuple[float, float],
    user: str,
    sender: str,
    client: tuple[str, str],
    sizes: tuple[int, int],
) -> Iterator[Record]:
    """One single-recipient message after another at a rate drawn anew each hour."""
    rng = server.rng
    t, end = epoch(start), epoch(start) + duration.total_seconds()
    hour, rate = -1, 0.0
    while t < end:
        if int(t // 3600) != hour:
            hour, rate = int(t // 3600), rng.uniform(*per_hour) / 3600
        yield from server.due(t)
        msg = (sender, [remote_address(rng)], rng.randrange(*sizes))
        server.session(t, "submission", client, [msg], login=user)
        t += rng.expovariate(rate)
    yield from server.drain()


def foreign_habit(
    start: datetime | float,
    duration: timedelta = timedelta(hours=9),
    user: str = "anna.schmidt@example.com",
    sender: str = "anna@schmidt-consulting.de",
    per_hour: tuple[float, float] = (4.0, 8.0),
    client: tuple[str, str] = ("p5b0c1d2e.dip0.t-ipconnect.de", "91.12.29.47"),
    host: str = "mail.example.com",
    lane: int = 15,
    seed: int = 15,
) -> Iterator[Record]:
    """A user who sends as one foreign domain every day (her own small business on the side).

    Knobs: the foreign ``sender``, ``per_hour`` (min, max) from her usual
    ``client``. The fixed threshold (5 foreign senders an hour) raises it
    daily; once her profile knows the domain, nothing.
    """
    server = Server(host, random.Random(seed), lane)
    return _steady(server, start, duration, per_hour, user, sender, client, (4000, 44000))
