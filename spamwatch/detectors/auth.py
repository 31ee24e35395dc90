"""SASL authentication failures: brute force, password spraying, and the success after.

Three shapes of attack on passwords show in a Postfix log: one address trying
many passwords (brute force), many addresses each trying a few logins against
many usernames (spraying, meant to stay under per-address limits), and the
moment it works: a successful login from an address that was failing. The
last one is the most urgent finding spamwatch can make before any spam is
sent, so spraying is raised on the *number of failing addresses* (fast) rather
than on per-address counts (which a spray keeps low on purpose).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar

from spamwatch.detectors.allow import network_of
from spamwatch.detectors.site import SiteDetector, grade, login, plain, plural, top
from spamwatch.detectors.windows import KeyedWindows, Recent, TimeWindow
from spamwatch.model import Event, Severity, Signal
from spamwatch.timeutil import format_duration

MAX_NAMES = 10
"""Usernames remembered per failing address (evidence, bounded)."""
MAX_BRUTES = 1000
"""Addresses per host remembered as having a brute-force finding raised."""
MAX_TOLD = 20
"""The busiest addresses of a host's window checked for brute-forcing one login."""


@dataclass(slots=True)
class _Failures:
    """What one client network did wrong recently."""

    first: datetime
    last: datetime
    count: int = 0
    spraying: bool = False  # failed while a spray or brute force was being raised
    brute: bool = False  # its own brute-force finding was raised
    users: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Spray:
    """One episode of password spraying on a host."""

    start: datetime
    last: datetime
    guessed: str | None = None  # the first login it guessed


@dataclass(slots=True)
class _Breach:
    """Successful logins of one user from addresses that had been failing."""

    count: int = 0
    severity: Severity = Severity.WARNING
    addresses: dict[str, int] = field(default_factory=dict)
    attacks: dict[tuple[str, str, str], None] = field(default_factory=dict)  # findings it ended


class AuthFailureDetector(SiteDetector):
    """SASL failures per address, per username and per host; success after failures.

    Reads smtpd's ``SASL ... authentication failed`` warnings (``sasl_failure``
    events; the username only when Postfix logs it) and ``client=`` lines with
    ``sasl_username`` (a success). Options ``[detectors.auth]`` (per-user
    tables apply to the attacked username):

    ``window`` ("10m"): window for per-address and spraying counts.
    ``per_address`` (10): failures from one address (network) in ``window``.
    ``user_window`` ("1h") / ``per_user`` (10): failures against one username
    (not raised while a spray raised on any host within ``user_window`` covers it).
    ``spray_addresses`` (10): distinct failing addresses on one host in
    ``window`` (password spraying; raised within minutes).
    ``ambient_factor`` (2.0): once the host's profile knows its ambient level
    (the 95th percentile, over the learned days, of distinct failing
    addresses and of failures per 10 minutes: the scanners every
    internet-facing port sees), spraying is raised at this multiple of it,
    addresses or failures (not counting the failures of an address
    brute-forcing a single login: that login's incident tells them), with
    ``spray_addresses`` as the floor; and
    ``per_user`` for a username that never sent mail here (a dictionary name
    the scanners try) is multiplied by it too.
    ``critical_factor`` (3.0): critical at this multiple of a threshold.
    ``success_after`` (5): failures from an address before a successful login
    from it is raised (any number when the address took part in a spray or
    brute force being raised: then it is critical, and its evidence
    ``continues`` names that spray's finding and its addresses' brute-force
    findings, which the incident engine moves into the login's incident; an
    address of that spray that brute-forces later names the login under
    ``logins``, so it joins that incident, not a new one of the host).
    ``memory`` ("1h"): how long an address's failures are remembered.
    ``ipv6_prefix`` (64): IPv6 addresses are grouped by this prefix.
    ``max_keys`` (50000): addresses/usernames tracked at once.
    """

    name: ClassVar[str] = "auth"
    description: ClassVar[str] = "SASL brute force, password spraying, success after failures"
    defaults: ClassVar[Mapping[str, Any]] = {
        "window": "10m",
        "per_address": 10,
        "user_window": "1h",
        "per_user": 10,
        "spray_addresses": 10,
        "ambient_factor": 2.0,
        "critical_factor": 3.0,
        "success_after": 5,
        "memory": "1h",
        "ipv6_prefix": 64,
        "max_keys": 50_000,
    }
    event_kinds: ClassVar[frozenset[str] | None] = frozenset({"sasl_failure", "client"})

    def setup(self) -> None:
        if not 0 <= int(self.options["ipv6_prefix"]) <= 128:
            raise ValueError("ipv6_prefix must be between 0 and 128")
        cap = int(self.options["max_keys"])
        window = self.span("window")
        self._by_addr: KeyedWindows[str, str] = KeyedWindows(window, cap)
        self._by_user: KeyedWindows[str, str] = KeyedWindows(self.span("user_window"), cap)
        self._host_addrs: KeyedWindows[str, str] = KeyedWindows(window, 1000)
        self._host_users: KeyedWindows[str, str] = KeyedWindows(window, 1000)
        self._failed: Recent[str, _Failures] = Recent(cap)
        self._breaches: Recent[str, _Breach] = Recent(cap)
        self._sprays: Recent[str, _Spray] = Recent(1000)  # host -> its spray
        self._last_spray: datetime | None = None
        # host -> addresses whose brute-force finding was raised (oldest first)
        self._brutes: Recent[str, dict[str, None]] = Recent(1000)

    def on_event(self, event: Event) -> Iterable[Signal]:
        if event.kind == "sasl_failure":
            return self._failure(event)
        if event.kind == "client" and event.fields.get("sasl_username"):
            return self._success(event)
        return ()

    def sweep(self, now: datetime) -> None:
        for windows in (self._by_addr, self._by_user, self._host_addrs, self._host_users):
            windows.expire(now)
        self._failed.expire(now - self.span("memory"))
        self._breaches.expire(now - self.span("memory"))
        self._sprays.expire(now - self.span("memory"))
        self._brutes.expire(now - self.span("memory"))

    def _group(self, ip: str) -> str:
        return network_of(ip, 32, int(self.options["ipv6_prefix"]))

    def _failure(self, event: Event) -> list[Signal]:
        ip = event.fields.get("client_ip")
        if not ip or self.site.allow.address(ip):
            return []
        name = login(event.fields.get("sasl_username") or "")
        now, addr = event.time, self._group(ip)
        record = self._failed.get(addr, now, lambda: _Failures(now, now))
        record.count += 1
        record.last = now
        if name and name not in record.users and len(record.users) < MAX_NAMES:
            record.users.append(name)
        brute = self._address(addr, name, event)
        spray = self._spray(addr, name, event, brute)
        if brute is not None:
            record.brute = True
            brute = self._brute_of_spray(addr, record, brute)
        out = [s for s in (brute, spray) if s]
        if out:
            record.spraying = True
        if name and self.enabled_for(name) and not self.site.allow.user(name):
            explained = bool(out) or self._spraying(now)
            user_signal = self._user(name, addr, event, explained)
            if user_signal is not None:
                out.append(user_signal)
        return out

    def _brute_of_spray(self, addr: str, record: _Failures, signal: Signal) -> Signal:
        """Remember the address as brute-forcing its host; once the host's spray has
        guessed a login, an address of that spray brute-forces for that login's
        incident (evidence ``logins``), not for a new host incident."""
        host = signal.host or ""
        addrs = self._brutes.get(host, signal.time, dict)
        addrs.pop(addr, None)
        addrs[addr] = None
        if len(addrs) > MAX_BRUTES:
            del addrs[next(iter(addrs))]
        episode = self._sprays.peek(host)
        if episode is None or episode.guessed is None or "logins" in signal.evidence:
            return signal
        if not self._in_spray(host, record):
            return signal
        return replace(signal, evidence={**signal.evidence, "logins": [episode.guessed]})

    def _address(self, addr: str, name: str, event: Event) -> Signal | None:
        window = self._by_addr.add(addr, event.time, name)
        limit = self.number("per_address")
        severity = grade(len(window), limit, self.number("critical_factor"))
        if severity is None:
            return None
        names = window.ranked()  # "" (no username logged) is not one
        summary = (
            f"{addr} failed SASL authentication {len(window)} times in"
            f" {format_duration(self.span('window'))}"
            + (f" against {plural(len(names), 'username')}" if names else "")
        )
        counts = {"failures": len(window), "usernames": len(names)}
        evidence: dict[str, Any] = {
            "usernames": top(names),
            "window": format_duration(self.span("window")),
        }
        if len(names) == 1:
            evidence["logins"] = list(names)  # against one login: part of its incident
        return self.signal(
            key=addr,
            severity=severity,
            time=event.time,
            first_seen=window.first_time,
            summary=summary,
            host=event.host,
            counts=counts,
            evidence=evidence,
            key_kind="client_ip",
            facts=("brute_force",),
        )

    def _spray(self, addr: str, name: str, event: Event, brute: Signal | None) -> Signal | None:
        """The host's failing addresses and failures in ``window``: a spray when many.

        ``brute``: this failure's own brute-force signal of ``addr``, if any.
        """
        addrs = self._host_addrs.add(event.host, event.time, addr)
        users = self._host_users.add(event.host, event.time, name)
        severity = self._spray_grade(event.host, addrs, addr if brute else None)
        if severity is None:
            return None
        episode = self._sprays.get(event.host, event.time, lambda: _Spray(event.time, event.time))
        episode.last = self._last_spray = event.time
        names = users.ranked()
        span = format_duration(self.span("window"))
        summary = (
            f"{event.host}: SASL failures from {plural(addrs.distinct, 'address')} in {span}"
            f" ({plural(len(addrs), 'failure')}"
            + (f", {plural(len(names), 'username')})" if names else ")")
            + ": password spraying"
        )
        counts = {"addresses": addrs.distinct, "failures": len(addrs), "usernames": len(names)}
        evidence = {
            "client_addresses": top(addrs.ranked()),
            "usernames": top(names),
            "window": span,
        }
        ambient = self.profiles.host(event.host)
        if ambient is not None and ambient.auth_addresses is not None:
            usual = f"{ambient.auth_addresses:g} addresses"
            if ambient.auth_failures is not None:
                usual += f", {ambient.auth_failures:g} failures"
            summary += f" (usually up to {usual})"
            evidence["ambient"] = {
                "addresses": plain(ambient.auth_addresses),
                "failures": plain(ambient.auth_failures or 0),
            }
        return self.signal(
            key=event.host,
            severity=severity,
            time=event.time,
            first_seen=addrs.first_time,
            summary=summary,
            host=event.host,
            counts=counts,
            evidence=evidence,
            key_kind="host",
            facts=("spray",),
        )

    def _spray_grade(self, host: str, addrs: TimeWindow[str], brute: str | None) -> Severity | None:
        """Failing addresses on a host against the floor, or against its ambient level.

        Without a profile, ``spray_addresses`` distinct addresses. With one,
        ``ambient_factor`` times the host's usual addresses or failures (the
        floor still holds): scanners trying a password or two from 5-20
        addresses every 10 minutes all day are the weather, a spray is not.
        Failures that are another finding's (``_told_by_logins``: an address
        brute-forcing one login; ``brute`` raised its finding with this failure)
        do not count: one attacker on one login amid the weather is that login's
        incident, not a spray of the host as well.
        """
        addresses, failures = addrs.distinct, len(addrs)
        floor, factor = self.number("spray_addresses"), self.number("critical_factor")
        ambient = self.profiles.host(host)
        if ambient is None or ambient.auth_addresses is None:
            return grade(addresses, floor, factor)
        times = self.number("ambient_factor")
        by_addresses = grade(addresses, max(floor, times * ambient.auth_addresses), factor)
        by_failures = None
        if addresses >= 2 and ambient.auth_failures is not None:
            limit = max(floor, times * ambient.auth_failures)
            by_failures = grade(failures, limit, factor)
            if by_failures is not None and (by_addresses is None or by_failures > by_addresses):
                told = self._told_by_logins(host, addrs, brute)  # only when it decides
                by_failures = grade(failures - told, limit, factor)
        return max(by_addresses, by_failures, key=lambda s: 0 if s is None else int(s))

    def _told_by_logins(self, host: str, addrs: TimeWindow[str], brute: str | None) -> int:
        """Failures in the host's window from addresses brute-forcing a single login.

        Each such address has its own finding, which names the login
        (``_address``: evidence ``logins``) and so joins that login's incident.
        ``brute``: the address whose finding is being raised with this failure
        (not yet among ``_brutes``). Only the window's ``MAX_TOLD`` busiest
        addresses are looked at: a brute-forcer fails ``per_address`` times or
        more, the scanners once or twice, so one attacker amid the weather is
        among them; a thousand of them are a distributed attack, a spray too.
        """
        brutes = self._brutes.peek(host) or {}
        told = 0
        for addr, failures in addrs.top(MAX_TOLD):
            if addr != brute and addr not in brutes:
                continue
            window = self._by_addr.get(addr)
            if window is not None and len(window.ranked()) == 1:
                told += failures
        return told

    def _has_ambient(self, host: str) -> bool:
        ambient = self.profiles.host(host)
        return ambient is not None and ambient.auth_addresses is not None

    def _user(self, name: str, addr: str, event: Event, explained: bool) -> Signal | None:
        """Failures against one username, unless an address or spray finding covers them.

        A spray against forty usernames is one finding (listing them), not
        forty; a success after failures is always its own finding.
        """
        window = self._by_user.add(name, event.time, addr, self.span("user_window", name))
        limit = self.number("per_user", name)
        if not self.profiles.knows_login(name) and self._has_ambient(event.host):
            limit *= self.number("ambient_factor")  # a dictionary name: the scanners' weather
        severity = grade(len(window), limit, self.number("critical_factor", name))
        if severity is None or (explained and self._breaches.peek(name) is None):
            return None
        return self._user_signal(name, severity, event)

    def _success(self, event: Event) -> list[Signal]:
        ip = event.fields.get("client_ip")
        name = login(event.fields["sasl_username"])
        if not ip or not self.enabled_for(name) or self.site.allow.allows(name, ip):
            return []
        addr = self._group(ip)
        record = self._failed.peek(addr)
        if record is None:
            return []
        attacked = record.spraying or self._in_spray(event.host, record)
        if not attacked and record.count < self.number("success_after", name):
            return []
        breach = self._breaches.get(name, event.time, _Breach)
        breach.count += 1
        breach.addresses[addr] = record.count
        if attacked:
            breach.severity = Severity.CRITICAL
            for attack in self._attacks(event.host, addr, record, name):
                breach.attacks.setdefault(attack, None)
        return [self._user_signal(name, breach.severity, event)]

    def _attacks(
        self, host: str, addr: str, record: _Failures, name: str
    ) -> list[tuple[str, str, str]]:
        """The findings of the attack this address took part in: the spray on ``host``
        and the brute force of each of its addresses, or its own brute force. The
        login's incident continues them (evidence ``continues``)."""
        found = []
        if self._in_spray(host, record):
            found.append((self.name, "host", host))
            episode = self._sprays.peek(host)
            if episode is not None and episode.guessed is None:
                episode.guessed = name
            for other in self._brutes.peek(host) or ():
                failed = self._failed.peek(other)
                if failed is not None and failed.brute and self._in_spray(host, failed):
                    found.append((self.name, "client_ip", other))
        if record.brute:
            found.append((self.name, "client_ip", addr))
        return found

    def _spraying(self, now: datetime) -> bool:
        """Was a spray raised (on any host) within ``user_window``? Failures against one
        username then belong to it (its finding lists the usernames), also between its
        signals, on the other hosts and from the scanners mixed in: one finding, not forty."""
        last = self._last_spray
        return last is not None and last <= now <= last + self.span("user_window")

    def _in_spray(self, host: str, record: _Failures) -> bool:
        """Did this address fail during (or just before) a spray on ``host``?"""
        episode = self._sprays.peek(host)
        if episode is None:
            return False
        window = self.span("window")
        return episode.start - window <= record.last and record.first <= episode.last + window

    def _user_signal(self, name: str, severity: Severity, event: Event) -> Signal:
        """One finding per attacked username: its failures and any success after them."""
        window = self._by_user.get(name, event.time)
        failures = len(window) if window is not None else 0
        addresses = window.distinct if window is not None else 0
        breach = self._breaches.peek(name)
        span = format_duration(self.span("user_window", name))
        if breach is not None:
            worst = max(breach.addresses, key=breach.addresses.__getitem__)
            summary = (
                f"{name} logged in from {worst} after"
                f" {plural(breach.addresses[worst], 'failed attempt')} from that address"
            )
            sprayed = [key for _, kind, key in breach.attacks if kind == "host"]
            if sprayed:
                summary += f", during password spraying on {', '.join(sprayed)}"
            severity = max(severity, breach.severity)
        else:
            summary = (
                f"{name}: {plural(failures, 'failed SASL login')} in {span}"
                f" from {plural(addresses, 'address')}"
            )
        counts = {
            "failures": failures,
            "addresses": addresses,
            "logins_after_failures": breach.count if breach else 0,
        }
        evidence: dict[str, Any] = {
            "failing_addresses": top(window.ranked()) if window is not None else {},
            "logins_after_failures": dict(breach.addresses) if breach else {},
            "window": span,
        }
        if breach is not None and breach.attacks:
            evidence["continues"] = [list(attack) for attack in breach.attacks]
        facts = ["success_after_failures"] if breach is not None else []
        if failures >= self.number("per_user", name):
            facts.append("brute_force")
        first = window.first_time if window is not None else None
        return self.signal(
            key=name,
            severity=severity,
            time=event.time,
            first_seen=first,
            summary=summary,
            host=event.host,
            counts=counts,
            evidence=evidence,
            facts=facts,
        )
