"""The read-only, in-memory view of the profiles that detectors judge against.

Detectors never do I/O: the view is loaded from the store when the pipeline
starts and refreshed at the learner's checkpoints, and a detector only asks
it questions (``login(name)``, ``host(name)``) that cost a dictionary lookup.
Only what judging needs is kept, already reduced ("usual for 14:00" is one
number per hour of the day), so the view of 20,000 logins fits in a few MB.

How much history is enough: a login is judged against its profile once the
profile holds ``min_hours`` active hours (hours in which it sent at least one
message; ``[profiles] min_hours``, default 4). With fewer, ``login()`` says
None and detectors apply their fixed thresholds alone (fact ``no_history``).
A host's ambient level counts once it has a day (144 windows of 10 minutes).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from spamwatch.detectors.allow import network_of
from spamwatch.detectors.windows import quantile_of

USUAL_QUANTILE = 0.9
"""A login's usual hourly volume is this quantile of its active hours (one past
incident or one busy day does not become the new normal)."""
NEAR_SAMPLES = 3
"""Active hours needed around an hour of the day (that hour and its two
neighbours, any day) before that hour has its own usual; else the login's
usual over all hours of the day is used."""
AMBIENT_QUANTILE = 0.95
"""A host's ambient SASL-failure level: this quantile of its 10-minute windows."""
QUEUE_QUANTILE = 0.75
"""A host's usual queue size: this quantile of its 10-minute queue peaks."""
MIN_WINDOWS = 144
"""10-minute windows (one day) a host needs before its ambient level counts."""


def profile_network(ip: str) -> str:
    """The network a client address is learned and judged by: IPv4 /24, IPv6 /64.

    Coarse on purpose: a provider hands a home or a phone new addresses within
    them, and it is the network a login "has used for months" that counts.
    """
    return network_of(ip, 24, 64)


@dataclass(frozen=True, slots=True)
class LoginProfile:
    """What judging one SASL login needs from its profile.

    ``usual_by_hour[h]``: its usual messages in an hour at local hour ``h`` (24
    doubles in one array: the view holds a profile for every login of the
    retention, up to ``max_logins``, and 24 float objects were 576 bytes of each).
    ``networks`` / ``senders``: client networks (/24, /64) and envelope-sender
    domains it used, with the number of days it used each.
    """

    active_hours: int
    usual_by_hour: array[float]
    networks: Mapping[str, int] = field(default_factory=dict)
    senders: Mapping[str, int] = field(default_factory=dict)

    def usual(self, hour: int) -> float:
        """Usual messages in one hour at local hour ``hour`` (0..23)."""
        return self.usual_by_hour[hour % 24]

    def knows_address(self, ip: str) -> bool:
        """Did the login ever use this client address's network (/24, /64)?"""
        return profile_network(ip) in self.networks

    def knows_sender(self, domain: str) -> bool:
        """Did the login ever send with this envelope-sender domain?"""
        return domain in self.senders


@dataclass(frozen=True, slots=True)
class HostProfile:
    """A host's ambient levels; None where it has too little history."""

    windows: int
    auth_addresses: float | None = None  # distinct failing addresses per 10 minutes
    auth_failures: float | None = None  # SASL failures per 10 minutes
    queue: float | None = None  # messages in the queue (10-minute peaks)
    deferred: float | None = None  # deferred delivery attempts per 10 minutes


def login_profile(
    hours: Iterable[tuple[int, int]],
    networks: Mapping[str, int],
    senders: Mapping[str, int],
) -> LoginProfile:
    """Reduce a login's (local hour, messages) rows to what judging needs."""
    by_hour: list[list[int]] = [[] for _ in range(24)]
    for hour, messages in hours:
        if messages > 0:
            by_hour[hour % 24].append(messages)
    every = sorted(n for counts in by_hour for n in counts)
    overall = quantile_of(every, USUAL_QUANTILE) if every else 0.0
    usual = []
    for hour in range(24):
        near = sorted(by_hour[hour - 1] + by_hour[hour] + by_hour[(hour + 1) % 24])
        usual.append(quantile_of(near, USUAL_QUANTILE) if len(near) >= NEAR_SAMPLES else overall)
    return LoginProfile(
        len(every),
        array("d", usual),
        MappingProxyType(dict(networks)),
        MappingProxyType(dict(senders)),
    )


def host_profile(
    rows: Iterable[tuple[int | None, int | None, int | None, int | None]],
) -> HostProfile:
    """Reduce a host's (addresses, failures, queue peak, deferred) window rows."""
    auth: list[int] = []
    failures: list[int] = []
    queue: list[int] = []
    deferred: list[int] = []
    for addresses, failed, peak, late in rows:
        if addresses is not None and failed is not None:
            auth.append(addresses)
            failures.append(failed)
        if peak is not None and late is not None:
            queue.append(peak)
            deferred.append(late)
    return HostProfile(
        len(auth),
        _level(auth, AMBIENT_QUANTILE),
        _level(failures, AMBIENT_QUANTILE),
        _level(queue, QUEUE_QUANTILE),
        _level(deferred, AMBIENT_QUANTILE),
    )


def _level(values: list[int], quantile: float) -> float | None:
    if len(values) < MIN_WINDOWS:
        return None
    return quantile_of(sorted(values), quantile)


class ProfileView:
    """Profiles by login and by host, as of the last load or checkpoint (read-only to detectors)."""

    def __init__(
        self,
        logins: Mapping[str, LoginProfile] | None = None,
        hosts: Mapping[str, HostProfile] | None = None,
        min_hours: int = 4,
    ) -> None:
        self._logins: dict[str, LoginProfile] = dict(logins or {})
        self._hosts: dict[str, HostProfile] = dict(hosts or {})
        self.min_hours = min_hours

    def login(self, name: str) -> LoginProfile | None:
        """``name``'s profile when it holds enough history to judge by, else None."""
        found = self._logins.get(name)
        if found is None or found.active_hours < self.min_hours:
            return None
        return found

    def knows_login(self, name: str) -> bool:
        """Has ``name`` ever sent mail here (any history, enough to judge by or not)?"""
        return name in self._logins

    def host(self, name: str) -> HostProfile | None:
        """``name``'s ambient levels (each None until it has a day of history)."""
        return self._hosts.get(name)

    def update(
        self, logins: Mapping[str, LoginProfile | None], hosts: Mapping[str, HostProfile | None]
    ) -> None:
        """Replace the given entries (None: forgotten), as a checkpoint learned them."""
        for name, profile in logins.items():
            _put(self._logins, name, profile)
        for name, host in hosts.items():
            _put(self._hosts, name, host)


def _put(table: dict[str, object], key: str, value: object | None) -> None:
    if value is None:
        table.pop(key, None)
    else:
        table[key] = value


EMPTY_VIEW = ProfileView()
"""The view without a database (``--no-db``): nothing known, fixed thresholds only."""
