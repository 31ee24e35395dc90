"""Distinct client networks per SASL user: one login, many machines.

A person submits mail from a handful of places (the office, home, a phone on
mobile data, a hotel); a botnet that holds the password logs in from many
machines at once. Counting *networks* rather than addresses keeps IPv6
privacy addresses (one host, many addresses in its /64) and, optionally, a
carrier's rotating IPv4 addresses (``ipv4_prefix = 24``) from looking like a
botnet.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from spamwatch.detectors.allow import network_of
from spamwatch.detectors.site import SAMPLE_IDS, SiteDetector, grade, login, plural, top
from spamwatch.detectors.windows import KeyedWindows, Recent
from spamwatch.model import Event, Signal
from spamwatch.timeutil import format_duration


class AddressesDetector(SiteDetector):
    """Too many distinct client networks authenticating as one SASL user.

    Counts smtpd ``client=`` lines that carry ``sasl_username`` (each one a
    submitted message). Options, global ``[detectors.addresses]`` or per user:

    ``window`` ("1h"): how far back networks are counted.
    ``threshold`` (5): distinct networks in the window for a warning; a
    traveller or a phone hopping between home and mobile data uses 2-3.
    ``critical_factor`` (2.0): critical at this multiple of the threshold.
    ``ipv4_prefix`` (32): group IPv4 addresses by this prefix (24: by /24).
    ``ipv6_prefix`` (64): group IPv6 addresses by this prefix.
    ``known_weight`` (0.5): with a learned profile, a network the login has
    used before (its /24 or /64) counts this much, one it never used counts
    1: a user moving between home, office and phone is not a botnet, five
    networks never seen in an hour are (fact ``new_network``).
    ``max_users`` (10000): users tracked at once (least recent evicted).
    """

    name: ClassVar[str] = "addresses"
    description: ClassVar[str] = "distinct client networks per SASL user"
    defaults: ClassVar[Mapping[str, Any]] = {
        "window": "1h",
        "threshold": 5,
        "critical_factor": 2.0,
        "ipv4_prefix": 32,
        "ipv6_prefix": 64,
        "known_weight": 0.5,
        "max_users": 10_000,
    }
    event_kinds: ClassVar[frozenset[str] | None] = frozenset({"client"})

    def setup(self) -> None:
        for key, most in (("ipv4_prefix", 32), ("ipv6_prefix", 128)):
            if not 0 <= int(self.options[key]) <= most:
                raise ValueError(f"{key} must be between 0 and {most}")
        cap = int(self.options["max_users"])
        self._nets: KeyedWindows[str, str] = KeyedWindows(self.span("window"), cap)
        self._ips: KeyedWindows[str, str] = KeyedWindows(self.span("window"), cap)
        self._fresh: KeyedWindows[str, str] = KeyedWindows(self.span("window"), cap)
        self._samples: Recent[str, deque[str]] = Recent(cap)

    def on_event(self, event: Event) -> Iterable[Signal]:
        if event.kind != "client":
            return ()
        fields = event.fields
        name = fields.get("sasl_username")
        ip = fields.get("client_ip")
        if not name or not ip:
            return ()
        user = login(name)
        if not self.enabled_for(user) or self.site.allow.allows(user, ip):
            return ()
        signal = self._count(user, ip, event)
        return () if signal is None else (signal,)

    def sweep(self, now: datetime) -> None:
        self._nets.expire(now)
        self._ips.expire(now)
        self._fresh.expire(now)
        self._samples.expire(now - self.span("window"))

    def _count(self, user: str, ip: str, event: Event) -> Signal | None:
        now = event.time
        span = self.span("window", user)
        net = network_of(
            ip, int(self.number("ipv4_prefix", user)), int(self.number("ipv6_prefix", user))
        )
        nets = self._nets.add(user, now, net, span)
        ips = self._ips.add(user, now, ip, span)
        if event.queue_id:
            self._samples.get(user, now, lambda: deque(maxlen=SAMPLE_IDS)).append(event.queue_id)
        fresh = self._weigh(user, ip, net, now)
        score = nets.distinct if fresh is None else self._score(user, nets.distinct, fresh)
        severity = grade(
            score, self.number("threshold", user), self.number("critical_factor", user)
        )
        if severity is None:
            return None
        summary = (
            f"{user} logged in from {plural(nets.distinct, 'network')}"
            f" ({plural(ips.distinct, 'address')}) in {format_duration(span)}"
            f", {plural(len(nets), 'message')}"
        )
        counts = {"networks": nets.distinct, "addresses": ips.distinct, "messages": len(nets)}
        if fresh is not None:  # judged against the profile: say how many it never saw
            summary += f" ({fresh} never used before)"
            counts["new_networks"] = fresh
        evidence = {
            "client_networks": top(nets.ranked()),
            "client_addresses": top(ips.ranked()),
            "sample_queue_ids": list(self._samples.peek(user) or ()),
            "window": format_duration(span),
        }
        return self.signal(
            key=user,
            severity=severity,
            time=now,
            first_seen=nets.first_time,
            summary=summary,
            host=event.host,
            counts=counts,
            evidence=evidence,
            facts=("many_networks", "new_network") if fresh else ("many_networks",),
        )

    def _weigh(self, user: str, ip: str, net: str, now: datetime) -> int | None:
        """Networks in the window the login's profile never saw (None: no profile to ask)."""
        profile = self.profiles.login(user)
        if profile is None:
            return None
        span = self.span("window", user)
        if not profile.knows_address(ip):
            return self._fresh.add(user, now, net, span).distinct
        found = self._fresh.get(user, now)
        return found.distinct if found is not None else 0

    def _score(self, user: str, distinct: int, fresh: int) -> float:
        """Networks never seen count 1, networks the login used before ``known_weight``."""
        return fresh + self.number("known_weight", user) * (distinct - fresh)
