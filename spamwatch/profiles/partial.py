"""What was learned in memory, before it is written: a ``Partial`` profile.

A learner fills one ``Partial`` from the pipeline's taps; partials merge by
adding counts (``Partial.merge``), so one file, one hour of a live log or one
worker process of a parallel ``learn`` each build their own and the store
writes the sum in one transaction. Everything here is bounded by ``Limits``:
a hostile log cannot make a partial grow without end.

Two counts cannot be added exactly and are merged by their maximum instead:
the distinct recipient domains of a login's hour and the distinct failing
addresses of a host's 10-minute window (the sets themselves are not kept in
the database). Only an hour or a window split across two partials (a
rotation, a checkpoint) is undercounted, and only by what the parts share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

WINDOW = 600
"""Seconds in a host window (ambient SASL failures, queue peak, deferrals)."""
MAX_SET = 1000
"""Recipient domains per login-hour and failing addresses per host window kept as sets."""


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one partial (and the store) keeps: ``[profiles]`` max_* options."""

    max_logins: int = 20_000
    max_networks: int = 100
    max_senders: int = 50


@dataclass(slots=True)
class Seen:
    """A client network or envelope-sender domain of one login: when and how much."""

    first: float
    last: float
    messages: int = 0
    days: set[str] = field(default_factory=set)

    def add(self, when: float, day: str) -> None:
        self.first = min(self.first, when)
        self.last = max(self.last, when)
        self.messages += 1
        self.days.add(day)

    def merge(self, other: Seen) -> None:
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        self.messages += other.messages
        self.days |= other.days


@dataclass(slots=True)
class Hour:
    """One login's sending in one hour of the log's local time."""

    day: str  # the log's local date, ISO
    hour: int  # 0..23, local
    messages: int = 0
    single: int = 0  # messages with exactly one recipient
    domains: set[str] = field(default_factory=set)  # distinct recipient domains

    def merge(self, other: Hour) -> None:
        self.messages += other.messages
        self.single += other.single
        _bounded_union(self.domains, other.domains)


@dataclass(slots=True)
class LoginPartial:
    """What one SASL login did, as far as one partial saw it."""

    first: float
    last: float
    messages: int = 0
    single: int = 0
    hours: dict[float, Hour] = field(default_factory=dict)  # by the hour's start (epoch)
    networks: dict[str, Seen] = field(default_factory=dict)
    senders: dict[str, Seen] = field(default_factory=dict)

    def merge(self, other: LoginPartial, limits: Limits) -> None:
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        self.messages += other.messages
        self.single += other.single
        _merge_table(self.hours, other.hours)
        _merge_table(self.networks, other.networks, limits.max_networks)
        _merge_table(self.senders, other.senders, limits.max_senders)


@dataclass(slots=True)
class Window:
    """One host's 10 minutes: SASL failures (ambient level), queue and deferrals.

    ``tainted``: the host had an open incident then, so its queue and
    deferrals are not learned; ``auth_tainted``: nor its SASL failures (see
    ``Learner`` for when).
    """

    addresses: set[str] = field(default_factory=set)
    failures: int = 0
    queue_peak: int = 0
    deliveries: int = 0
    deferred: int = 0
    tainted: bool = False
    auth_tainted: bool = False

    def merge(self, other: Window) -> None:
        _bounded_union(self.addresses, other.addresses)
        self.failures += other.failures
        self.queue_peak = max(self.queue_peak, other.queue_peak)
        self.deliveries += other.deliveries
        self.deferred += other.deferred
        self.tainted = self.tainted or other.tainted
        self.auth_tainted = self.auth_tainted or other.auth_tainted


def hour_of(time: datetime) -> tuple[float, str, int]:
    """(start of the hour as epoch, local ISO date, local hour) of an aware time."""
    start = time.replace(minute=0, second=0, microsecond=0)
    return start.timestamp(), start.date().isoformat(), start.hour


class Partial:
    """Profiles of logins and hosts learned in memory (see the module docstring).

    ``spans`` holds, per host, the first and last log time this partial
    covers: writing it marks that span learned, so no later reader learns
    those lines again (also when nothing in them was worth keeping).
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.logins: dict[str, LoginPartial] = {}
        self.windows: dict[tuple[str, float], Window] = {}
        self.spans: dict[str, list[float]] = {}
        self.dropped = 0  # observations refused by a limit
        self._window: tuple[str, float, Window | None] = ("", 0.0, None)
        self._hour: tuple[float, str, int, object] = (-1.0, "", 0, None)

    def __bool__(self) -> bool:
        return bool(self.spans or self.logins or self.windows)

    # -- filling ------------------------------------------------------------

    def cover(self, host: str, when: float) -> None:
        """Note that ``host``'s log at ``when`` was read by this partial."""
        span = self.spans.get(host)
        if span is None:
            self.spans[host] = [when, when]
        elif when > span[1]:
            span[1] = when
        elif when < span[0]:
            span[0] = when

    def login(self, name: str, when: float) -> LoginPartial | None:
        """The partial of ``name`` (created), or None when ``max_logins`` is reached."""
        found = self.logins.get(name)
        if found is None:
            if len(self.logins) >= self.limits.max_logins:
                self.dropped += 1
                return None
            found = self.logins[name] = LoginPartial(when, when)
        return found

    def message(
        self, name: str, time: datetime, network: str | None, domain: str | None, single: bool
    ) -> None:
        """One message submitted by login ``name`` (counted at its QUEUED milestone)."""
        when = time.timestamp()
        entry = self.login(name, when)
        if entry is None:
            return
        start, day, hour = self._hour_of(time, when)
        entry.first, entry.last = min(entry.first, when), max(entry.last, when)
        entry.messages += 1
        entry.single += single
        slot = entry.hours.get(start)
        if slot is None:
            slot = entry.hours[start] = Hour(day, hour)
        slot.messages += 1
        slot.single += single
        if network:
            self._seen(entry.networks, network, when, day, self.limits.max_networks)
        if domain:
            self._seen(entry.senders, domain, when, day, self.limits.max_senders)

    def recipient(self, name: str, time: datetime, domain: str) -> None:
        """A recipient domain of one of ``name``'s messages (first delivery attempt)."""
        entry = self.logins.get(name)
        if entry is None:
            return
        start, day, hour = self._hour_of(time, time.timestamp())
        slot = entry.hours.get(start)
        if slot is None:
            slot = entry.hours[start] = Hour(day, hour)
        if len(slot.domains) < MAX_SET:
            slot.domains.add(domain)

    def window(self, host: str, when: float) -> Window:
        """The host's 10-minute window holding ``when`` (created; the last one is cached)."""
        start = when - when % WINDOW
        last_host, last_start, last = self._window
        if last is not None and last_start == start and last_host == host:
            return last
        found = self.windows.get((host, start))
        if found is None:
            found = self.windows[(host, start)] = Window()
        self._window = (host, start, found)
        return found

    def _hour_of(self, time: datetime, when: float) -> tuple[float, str, int]:
        """``hour_of(time)``, computed once per hour of the log (``when`` is its epoch)
        and time zone (two hosts may log in two zones)."""
        start, day, hour, zone = self._hour
        if zone is not time.tzinfo or not start <= when < start + 3600:
            start, day, hour = hour_of(time)
            self._hour = (start, day, hour, time.tzinfo)
        return start, day, hour

    def _seen(self, table: dict[str, Seen], key: str, when: float, day: str, cap: int) -> None:
        found = table.get(key)
        if found is None:
            if len(table) >= cap:
                self.dropped += 1
                return
            found = table[key] = Seen(when, when)
        found.add(when, day)

    # -- forgetting and merging --------------------------------------------------

    def drop_login(self, name: str) -> None:
        """Forget what ``name`` did here (it belongs to an incident)."""
        self.logins.pop(name, None)

    def taint_host(self, host: str, queue: bool, auth: bool) -> None:
        """Mark ``host``'s windows here as incident time: its queue and deferrals
        (``queue``) or its SASL failures (``auth``) are not learned."""
        if not (queue or auth):
            return
        for (name, _), window in self.windows.items():
            if name == host:
                window.tainted = window.tainted or queue
                window.auth_tainted = window.auth_tainted or auth

    def merge(self, other: Partial) -> None:
        """Add ``other`` into this partial (``other`` must not be used afterwards)."""
        for host, (first, last) in other.spans.items():
            self.cover(host, first)
            self.cover(host, last)
        for name, entry in other.logins.items():
            mine = self.logins.get(name)
            if mine is not None:
                mine.merge(entry, self.limits)
            elif len(self.logins) < self.limits.max_logins:
                self.logins[name] = entry
            else:
                self.dropped += 1
        _merge_table(self.windows, other.windows)
        self.dropped += other.dropped


class _Mergeable(Protocol):
    def merge(self, other: Any, /) -> None: ...


M = TypeVar("M", bound=_Mergeable)


def _merge_table(mine: dict[Any, M], theirs: dict[Any, M], cap: int | None = None) -> None:
    """Merge each entry of ``theirs`` into ``mine`` (new keys only while under ``cap``)."""
    for key, entry in theirs.items():
        found = mine.get(key)
        if found is not None:
            found.merge(entry)
        elif cap is None or len(mine) < cap:
            mine[key] = entry


def _bounded_union(mine: set[str], theirs: set[str]) -> None:
    for item in theirs:
        if len(mine) >= MAX_SET:
            return
        mine.add(item)
