"""Allow-lists and local domains: what the site says is normal for itself.

Some traffic looks like abuse and is not: the monitoring host that fails a
login every minute on purpose, the CRM that sends thousands of single-recipient
mails, the ``noreply@`` sender of the ticket system. The ``[allow]`` table
names them once for every detector:

    local_domains = ["example.com", "example.org"]
    [allow]
    users = ["crm@example.com"]            # SASL usernames (any case)
    networks = ["192.0.2.0/24", "2001:db8::/48"]
    senders = ["noreply@example.com", "@lists.example.com"]   # address or @domain
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from sys import intern
from typing import Any

from spamwatch.config import Config
from spamwatch.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ADDRESSES_CACHED = 8192
"""Client addresses (and networks) kept parsed: a busy log's hot set; every client
a month of log ever saw would be 65,536 of each and some 30 MB (issue 11 memory)."""


@lru_cache(maxsize=ADDRESSES_CACHED)
def parse_ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as the log writes it (``::1``, ``192.0.2.1``, ``IPv6:...``), or None.

    Cached: a busy log repeats the same few thousand addresses, and parsing
    one costs more than everything else a detector does with an event.
    """
    if not text:
        return None
    raw = text.strip().strip("[]")
    if raw[:5].lower() == "ipv6:":
        raw = raw[5:]
    raw = raw.split("%", 1)[0]  # a zone index (fe80::1%eth0) is not part of the address
    try:
        return ipaddress.ip_address(raw)
    except ValueError:
        return None


@lru_cache(maxsize=ADDRESSES_CACHED)
def network_of(ip: str, ipv4_prefix: int = 32, ipv6_prefix: int = 64) -> str:
    """Group an address into its network ("2001:db8:1:2::/64") for counting.

    One IPv6 host hops through many addresses of its /64 (privacy extensions),
    and a provider may hand a phone a new IPv4 address in the same /24 on every
    reconnect: counting networks, not addresses, keeps that from looking like
    many machines. Text that is not an address is returned unchanged.
    """
    addr = parse_ip(ip)
    if addr is None:
        return ip
    prefix = ipv4_prefix if addr.version == 4 else ipv6_prefix
    if prefix >= addr.max_prefixlen:
        return str(addr)
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def domain_of(address: str | None) -> str:
    """The lower-cased domain of ``user@domain`` ("" when there is none).

    Interned: the detectors' windows keep a domain per message, and the
    thousands of messages of an incident go to a few hundred domains; one
    string each, not one per message (about 1 MB of an incident's peak).
    """
    if not address or "@" not in address:
        return ""
    return intern(address.rsplit("@", 1)[1].strip().lower().rstrip("."))


def in_domains(domain: str, domains: Iterable[str]) -> bool:
    """``domain`` is one of ``domains`` or a subdomain of one."""
    domain = domain.lower()
    return any(domain == d or domain.endswith("." + d) for d in domains)


@dataclass(frozen=True, slots=True)
class AllowList:
    """SASL users, client networks and senders that detectors leave alone."""

    users: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()
    senders: frozenset[str] = frozenset()  # full addresses, lower-cased
    sender_domains: frozenset[str] = frozenset()  # from "@domain" entries

    def user(self, name: str | None) -> bool:
        """Is this SASL username allowed?"""
        if not self.users:  # the usual case: asked for every message, answered at once
            return False
        return bool(name) and name.lower() in self.users  # type: ignore[union-attr]

    def address(self, ip: str | None) -> bool:
        """Is this client address inside an allowed network?"""
        if not self.networks:
            return False
        addr = parse_ip(ip)
        return addr is not None and any(addr in net for net in self.networks)

    def sender(self, address: str | None) -> bool:
        """Is this envelope sender (or its domain) allowed?"""
        if not address or not (self.senders or self.sender_domains):
            return False
        low = address.lower()
        return low in self.senders or in_domains(domain_of(low), self.sender_domains)

    def allows(
        self, user: str | None = None, ip: str | None = None, sender: str | None = None
    ) -> bool:
        """True when any of the given facts is on an allow-list."""
        return self.user(user) or self.address(ip) or self.sender(sender)


@dataclass(frozen=True, slots=True)
class Site:
    """What detectors know about the site: its allow-lists and its own domains."""

    allow: AllowList = field(default_factory=AllowList)
    local_domains: frozenset[str] = frozenset()

    def owns(
        self, user: str, domain: str, extra: Iterable[str] = (), login_domain: bool = True
    ) -> bool:
        """Is ``domain`` one of ``user``'s own: a local domain, ``extra``, the login's?

        A bare login ("alice") on a site that named no domains has nothing to
        judge by: every domain counts as its own.
        """
        own = set(self.local_domains)
        own.update(d.lower() for d in extra)
        if login_domain and "@" in user:
            own.add(domain_of(user))
        return not own or in_domains(domain, own)


def list_bounce(sender: str | None) -> bool:
    """A VERP bounce address: ``LIST-bounces+LOCAL=DOMAIN@lists.example.org``.

    What a mailing list's expansion sends as, one address per member (the
    member's address folded into the local part), so each bounce names who.
    """
    if not sender or "@" not in sender:
        return False
    local = sender.rsplit("@", 1)[0]
    _, plus, folded = local.partition("+")
    _, eq, member_domain = folded.rpartition("=")
    return bool(plus and eq and "." in member_domain)


def _strings(where: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
    return [v.strip() for v in value if v.strip()]


def _networks(values: list[str]) -> tuple[Network, ...]:
    out = []
    for text in values:
        try:
            out.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ConfigError(f"allow.networks: not a network: {text!r}") from None
    return tuple(out)


def load_site(config: Config) -> Site:
    """Read ``[allow]`` and ``local_domains``; ConfigError names the bad key."""
    table = config.section("allow")
    for key in table:
        if key not in ("users", "networks", "senders"):
            raise ConfigError(f"allow.{key}: unknown key (known: networks, senders, users)")
    users = _strings("allow.users", table.get("users", []))
    senders = _strings("allow.senders", table.get("senders", []))
    domains = _strings("local_domains", config.data.get("local_domains", []))
    allow = AllowList(
        users=frozenset(u.lower() for u in users),
        networks=_networks(_strings("allow.networks", table.get("networks", []))),
        senders=frozenset(s.lower() for s in senders if not s.startswith("@")),
        sender_domains=frozenset(s[1:].lower() for s in senders if s.startswith("@")),
    )
    return Site(allow, frozenset(d.lower().lstrip("@").rstrip(".") for d in domains))
