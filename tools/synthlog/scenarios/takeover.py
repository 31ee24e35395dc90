"""Scenarios: a stolen password used to send spam, fast or slow.

Why: the incident spamwatch exists for, at the two speeds a botnet uses it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from synthlog.delivery import Delivery
from synthlog.population import bot_client, remote_address
from synthlog.records import Record, epoch
from synthlog.server import Server
from synthlog.words import FIRST, pick


def compromised_account(
    start: datetime | float,
    user: str = "monika.keller@example.com",
    messages: int = 5999,
    duration: timedelta = timedelta(minutes=48),
    bots: int = 8,
    foreign_share: float = 0.5,
    foreign_sender: str = "@yahoo.ph",
    per_session: int = 3,
    history: int = 4,
    home: tuple[str, str] = ("p5b0c1d2e.dip0.t-ipconnect.de", "91.12.29.46"),
    host: str = "mail.example.com",
    lane: int = 1,
    seed: int = 1,
) -> Iterator[Record]:
    """A stolen password used by a botnet: THE incident spamwatch exists for.

    Knobs: ``user`` (the SASL login, no failed logins before), ``messages``
    sent in ``duration`` from ``bots`` client addresses (2-15), each message
    with one recipient at a big mailbox provider, ``per_session`` messages per
    SMTP session (1..per_session), ``foreign_share`` of them with an envelope
    sender in another domain (``foreign_sender``, e.g. ``@yahoo.ph``).
    ``history`` ordinary messages from the user's ``home`` client come in the
    50 minutes before ``start`` (the user's own baseline).
    Remote sites rate-limit and reject (spam replies): deferrals and bounces
    pile up in the queue; bounces to the forged senders are deferred too.
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane)
    t, end = epoch(start), epoch(start) + duration.total_seconds()
    _ordinary_mail(server, user, home, t - 3000, t - 60, history)
    clients = [bot_client(rng) for _ in range(bots)]
    how = Delivery(p_defer=0.3, p_bounce=0.15, spam=True)
    gap = duration.total_seconds() / max(messages, 1)
    sent = 0
    while sent < messages:
        n = min(1 + int(rng.random() * per_session), messages - sent)
        batch = []
        for _ in range(n):
            sender = user
            if rng.random() < foreign_share:
                sender = f"{pick(rng, FIRST)}{rng.randrange(1000)}{foreign_sender}"
            batch.append((sender, [remote_address(rng)], 1800 + int(rng.random() * 2500)))
        yield from server.due(t)
        client = pick(rng, clients)
        server.session(t, "submission", client, batch, login=user, how=how, method="LOGIN")
        sent += n
        t = min(t + gap * n * (0.5 + rng.random()), end)
    yield from server.drain()


def _ordinary_mail(
    server: Server, user: str, client: tuple[str, str], begin: float, end: float, count: int
) -> None:
    """Schedule ``count`` ordinary messages of ``user`` between ``begin`` and ``end``."""
    rng = server.rng
    for i in range(count):
        t = begin + (end - begin) * (i + rng.random()) / max(count, 1)
        msg = (user, [remote_address(rng)], 2000 + rng.randrange(40000))
        server.session(t, "submission", client, [msg], login=user)


def slow_sender(
    start: datetime | float,
    user: str = "peter.wolf@example.net",
    duration: timedelta = timedelta(hours=3),
    interval: tuple[float, float] = (20.0, 60.0),
    bots: int = 3,
    foreign_share: float = 0.3,
    host: str = "mail.example.com",
    lane: int = 2,
    seed: int = 2,
) -> Iterator[Record]:
    """The slow variant: one single-recipient message every 20-60 s for hours.

    Knobs: ``interval`` (min, max seconds between messages), ``duration``,
    ``bots`` client addresses used in turn, ``foreign_share`` of forged senders.
    It stays under per-minute caps but not under a one-hour window.
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane)
    clients = [bot_client(rng) for _ in range(bots)]
    how = Delivery(p_defer=0.2, p_bounce=0.1, spam=True)
    t, end = epoch(start), epoch(start) + duration.total_seconds()
    while t < end:
        sender = f"info{rng.randrange(100)}@yahoo.ph" if rng.random() < foreign_share else user
        msg = (sender, [remote_address(rng)], 2000 + int(rng.random() * 2000))
        yield from server.due(t)
        client = pick(rng, clients)
        server.session(t, "smtps", client, [msg], login=user, how=how, method="LOGIN")
        t += rng.uniform(*interval)
    yield from server.drain()
