"""The people of a generated server: mailboxes, their clients, their correspondents.

Why: a detector judges a login by its usual client and volume, so each user
has one home client and a heavy-tailed activity weight, as real users do.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from synthlog.internet import ACCESS_NETS, BOT_NETS, provider
from synthlog.words import FIRST, LAST, PARTNER_DOMAINS, WORDS, pick


@dataclass(frozen=True)
class User:
    """A mailbox that submits mail: SASL login, usual client, how much it sends."""

    login: str
    client_name: str
    client_ip: str
    service: str = "submission"  # or "smtps"
    weight: float = 1.0


def person(rng: random.Random, domain: str) -> str:
    """A plausible personal address: "anna.schmidt@example.com"."""
    return f"{pick(rng, FIRST)}.{pick(rng, LAST)}@{domain}"


def access_client(rng: random.Random) -> tuple[str, str]:
    """A home or mobile client (rDNS name or "unknown", address), IPv4 or IPv6."""
    template, prefix = ACCESS_NETS[int(rng.random() * len(ACCESS_NETS))]
    if ":" in prefix:
        ip = prefix + ":".join(f"{rng.randrange(0x10000):x}" for _ in range(5))
        return "unknown", ip
    c, d = rng.randrange(256), rng.randrange(1, 255)
    ip = f"{prefix}{c}.{d}"
    if template == "unknown":
        return "unknown", ip
    a, b = (int(x) for x in prefix.rstrip(".").split("."))
    return template.format(x=f"{a:02x}{b:02x}{c:02x}{d:02x}"), ip


def bot_client(rng: random.Random) -> tuple[str, str]:
    """A botnet host: no reverse DNS, an address in a hosting or abuse-heavy range."""
    return "unknown", f"{pick(rng, BOT_NETS)}{rng.randrange(1, 255)}"


def remote_address(rng: random.Random) -> str:
    """An external recipient: mostly big mailbox providers, some business partners."""
    if rng.random() < 0.25:
        return f"{pick(rng, WORDS)}@{pick(rng, PARTNER_DOMAINS)}"
    domain = provider(rng)
    return f"{pick(rng, FIRST)}.{pick(rng, LAST)}{rng.randrange(100)}@{domain}"


def make_users(rng: random.Random, count: int, domains: Sequence[str]) -> list[User]:
    """``count`` mailboxes with their usual client and a heavy-tailed activity weight."""
    seen: set[str] = set()
    users: list[User] = []
    while len(users) < count:
        login = person(rng, pick(rng, domains))
        if login in seen:
            login = login.replace("@", f"{len(users)}@")
        seen.add(login)
        name, ip = access_client(rng)
        service = "smtps" if rng.random() < 0.3 else "submission"
        users.append(User(login, name, ip, service, rng.paretovariate(1.3)))
    return users
