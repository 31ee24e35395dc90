"""Scenarios: mail waiting in the queue because a destination or the relay is down.

Why: a growing queue is both a sign of spam (rejections) and of an outage
that nobody caused; these are the outages.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from synthlog.internet import INBOUND_MTAS, PROVIDERS
from synthlog.lane import Outage
from synthlog.population import make_users, remote_address
from synthlog.records import Record, epoch
from synthlog.server import Server
from synthlog.words import FIRST, LAST, pick


def queue_growth(
    start: datetime | float,
    outage: timedelta = timedelta(hours=1),
    domain: str = "outlook.com",
    rate: float = 0.2,
    users: int = 30,
    host: str = "mail.example.com",
    lane: int = 5,
    seed: int = 5,
) -> Iterator[Record]:
    """A destination goes dark: its mail is deferred, the queue grows, then drains.

    Knobs: ``domain`` whose MX times out for ``outage`` from ``start``;
    ``rate`` messages per second to it from ``users`` ordinary local users
    (through the outage and as long again after it). Retries follow Postfix's
    backoff, so the queue drains over the hour after the outage ends. Merge with
    a background built with the same ``Outage`` (``TrafficMix.outages``) so the
    background's own mail to that domain is deferred too.
    """
    rng = random.Random(seed)
    t0 = epoch(start)
    mx, ip, _ = PROVIDERS.get(domain, (f"mx.{domain}", "203.0.113.25", ""))
    out = Outage(domain, t0, t0 + outage.total_seconds(), mx, ip)
    server = Server(host, rng, lane, outages=(out,))
    people = make_users(rng, users, ("example.com", "example.net"))
    t, end = t0, t0 + 2 * outage.total_seconds()
    while t < end:
        user = pick(rng, people)
        rcpt = f"{pick(rng, FIRST)}.{pick(rng, LAST)}{rng.randrange(100)}@{domain}"
        yield from server.due(t)
        msg = (user.login, [rcpt], int(rng.lognormvariate(9.5, 1)) + 600)
        server.session(t, user.service, (user.client_name, user.client_ip), [msg], login=user.login)
        t += rng.expovariate(rate)
    yield from server.drain()


def backup_mx(
    start: datetime | float,
    outage: timedelta = timedelta(hours=2),
    rate: float = 0.03,
    primary: tuple[str, str] = ("mail.example.com", "198.51.100.25"),
    host: str = "mx2.example.com",
    lane: int = 0,
    seed: int = 10,
) -> Iterator[Record]:
    """A backup MX: takes the domain's mail while the primary is down, then drains.

    Inbound mail for the local domains arrives from the internet at ``rate``
    per second; it is relayed to ``primary``, which is unreachable for
    ``outage``, so the backup's queue grows and drains when the primary is
    back. This is a host of its own (``host``), so lane 0 is free.
    """
    rng = random.Random(seed)
    t0 = epoch(start)
    out = Outage("example.com", t0, t0 + outage.total_seconds(), *primary)
    server = Server(
        host,
        rng,
        lane,
        domains=("example.com",),
        public_ip="198.51.100.26",
        local_relay=primary,
        outages=(out,),
    )
    t, end = t0, t0 + outage.total_seconds() * 1.5
    while t < end:
        name, prefix, domains = INBOUND_MTAS[int(rng.random() * len(INBOUND_MTAS))]
        last = rng.randrange(1, 255)
        sender = f"{pick(rng, FIRST)}.{pick(rng, LAST)}@{pick(rng, domains)}"
        rcpt = f"{pick(rng, FIRST)}.{pick(rng, LAST)}@example.com"
        yield from server.due(t)
        msg = (sender, [rcpt], int(rng.lognormvariate(10, 1.2)) + 900)
        server.session(t, "smtp", (name.format(a=last), f"{prefix}{last}"), [msg])
        t += rng.expovariate(rate)
    yield from server.drain()


def relay_outage(
    start: datetime | float,
    outage: timedelta = timedelta(hours=2),
    relay: tuple[str, str] = ("relay.example.net", "198.51.100.90"),
    users: int = 3,
    per_hour: float = 25.0,
    host: str = "mail.example.com",
    lane: int = 14,
    seed: int = 14,
) -> Iterator[Record]:
    """The relayhost (or a destination) goes dark: hundreds of messages wait, nobody abuses.

    ``users`` busy but ordinary senders keep sending ``per_hour`` messages
    each through the outage and an hour after; every remote delivery is
    deferred until the relay is back. Merge with a background built with the
    same ``relay_outage_of(start, outage, relay)`` in ``TrafficMix.outages``.
    A host incident about the destination, not one about each user.
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane, outages=(relay_outage_of(start, outage, relay),))
    people = make_users(rng, users, ("example.com",))
    t, end = epoch(start), epoch(start) + outage.total_seconds() + 3600
    while t < end:
        user = pick(rng, people)
        yield from server.due(t)
        msg = (user.login, [remote_address(rng)], 2000 + rng.randrange(30000))
        server.session(t, user.service, (user.client_name, user.client_ip), [msg], login=user.login)
        t += rng.expovariate(per_hour * users / 3600)
    yield from server.drain()


def relay_outage_of(
    start: datetime | float,
    outage: timedelta = timedelta(hours=2),
    relay: tuple[str, str] = ("relay.example.net", "198.51.100.90"),
) -> Outage:
    """The ``Outage`` of every remote destination behind ``relay`` (for ``TrafficMix.outages``)."""
    t0 = epoch(start)
    return Outage("*", t0, t0 + outage.total_seconds(), *relay)
