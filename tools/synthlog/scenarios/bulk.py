"""Scenarios: legitimate bulk mail (a newsletter, a mailing list, a VERP expansion).

Why: many recipients from one login in minutes is what a takeover looks like too.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from synthlog.population import remote_address
from synthlog.records import Record, epoch
from synthlog.server import Server
from synthlog.words import pick


def newsletter(
    start: datetime | float,
    user: str = "newsletter@example.org",
    messages: int = 40,
    recipients: tuple[int, int] = (40, 90),
    interval: tuple[float, float] = (20.0, 60.0),
    client: tuple[str, str] = ("crm.example.org", "198.51.100.40"),
    host: str = "mail.example.com",
    lane: int = 6,
    seed: int = 6,
) -> Iterator[Record]:
    """A newsletter account: many messages, each with many (Bcc) recipients.

    Knobs: ``messages``, ``recipients`` per message (min, max), ``interval``
    between messages, the sending ``client`` (a fixed CRM server).
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane)
    t = epoch(start)
    for _ in range(messages):
        n = rng.randint(*recipients)
        rcpts = [remote_address(rng) for _ in range(n)]
        yield from server.due(t)
        server.session(
            t, "submission", client, [(user, rcpts, 38000 + rng.randrange(4000))], login=user
        )
        t += rng.uniform(*interval)
    yield from server.drain()


def mailing_list(
    start: datetime | float,
    list_address: str = "members@lists.example.org",
    posts: int = 6,
    members: int = 120,
    interval: tuple[float, float] = (300.0, 1500.0),
    host: str = "mail.example.com",
    lane: int = 9,
    seed: int = 9,
) -> Iterator[Record]:
    """A mailing list: each post arrives once, then goes out to every member.

    The list manager (mailman on localhost) re-injects each post as one message
    with ``members`` recipients from the list's bounce address, without SASL.
    Knobs: ``posts``, ``members``, ``interval`` between posts (seconds).
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane, domains=("example.org", "lists.example.org", "example.com"))
    roster = [remote_address(rng) for _ in range(members)]
    bounces = list_address.replace("@", "-bounces@")
    t = epoch(start)
    for _ in range(posts):
        author = pick(rng, roster)
        size = 4000 + rng.randrange(20000)
        yield from server.due(t)
        mta = ("mail-wm1-f41.google.com", "209.85.128.41")
        server.session(t, "smtp", mta, [(author, [list_address], size)])
        server.session(t + 3, "smtp", ("localhost", "127.0.0.1"), [(bounces, roster, size + 1200)])
        t += rng.uniform(*interval)
    yield from server.drain()


def verp_list(
    start: datetime | float,
    members: int = 300,
    duration: timedelta = timedelta(minutes=7),
    user: str = "lists@lists.example.org",
    list_name: str = "members",
    client: tuple[str, str] = ("lists.example.org", "198.51.100.80"),
    per_session: int = 25,
    host: str = "mail.example.com",
    lane: int = 12,
    seed: int = 12,
) -> Iterator[Record]:
    """A mailing list's VERP expansion: one message per member, in minutes, from one address.

    The list server submits through SASL as ``user``, ``per_session`` messages
    per SMTP session, each with one recipient and the envelope sender
    ``LIST-bounces+LOCAL=DOMAIN@lists.example.org`` (own domain: the login's).
    Knobs: ``members`` (250-1,000 in the wild), ``duration`` of the expansion.
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane, domains=("example.org", "lists.example.org"))
    domain = user.rpartition("@")[2]
    roster = [remote_address(rng) for _ in range(members)]
    t = epoch(start)
    gap = duration.total_seconds() / max(1, members / per_session)
    size = 6000 + rng.randrange(20000)
    for first in range(0, members, per_session):
        batch = []
        for rcpt in roster[first : first + per_session]:
            local, _, rdomain = rcpt.partition("@")
            batch.append((f"{list_name}-bounces+{local}={rdomain}@{domain}", [rcpt], size))
        yield from server.due(t)
        server.session(t, "submission", client, batch, login=user)
        t += gap * (0.7 + 0.6 * rng.random())
    yield from server.drain()
