"""Queue growth per host: the queue fills when spam meets the world's filters.

A spam run through a hijacked account shows up in the queue within minutes:
big providers throttle and refuse, so deferred deliveries pile up. The log
tells the queue's size without asking Postfix (messages entered minus
removed or expired), and what matters to the admin is *whose* mail is stuck
and *where* it is going. A backup MX holding mail for its primary during an
outage also fills its queue, but with inbound mail; that is reported as info
at most. So is a queue that waits for one destination or relay that cannot be
reached (fact ``outage``, spamwatch.detectors.outage): the destination's
trouble, not the users' whose mail waits, unless the queue is one login's mail.
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from sys import intern
from typing import Any, ClassVar

from spamwatch.detectors.allow import domain_of, parse_ip
from spamwatch.detectors.outage import connection_failure
from spamwatch.detectors.site import SiteDetector, grade, tally, top, user_of
from spamwatch.detectors.windows import BucketHistory, KeyedWindows, SlidingMin
from spamwatch.model import Message, MessageUpdate, QueueSample, Severity, Signal, Stage
from spamwatch.timeutil import format_duration

INBOUND = "(inbound)"
HOUR = timedelta(hours=1)
REPEAT = timedelta(minutes=1)
MAX_HOSTS = 1000
LIVE_LAG = timedelta(minutes=5)
"""A real-queue sample describes log lines written at most this far from when it was taken."""
_ADDRESS = re.compile(r"\[[0-9A-Fa-f.:]+\](?::\d+)?")


def owner_of(message: Message) -> str:
    """Whose mail this is: the SASL user, or the kind of unauthenticated source."""
    user = user_of(message)
    if user:
        return user
    if message.origin == "pickup":
        return f"(local) {message.sender or '?'}"
    if message.origin == "bounce":
        return "(bounces)"
    ip = parse_ip(message.client_ip)
    if ip is not None and ip.is_loopback:
        return "(local smtp)"
    return INBOUND


def reason_key(reason: str | None, dsn: str | None) -> str:
    """A deferral reason with addresses and ports removed, so alike reasons group.

    Interned, as ``domain_of``: windows keep one per deferral or bounce.
    """
    text = _ADDRESS.sub("", reason or "").strip()
    return intern(f"{dsn or '?'} {text[:100]}".strip())


class QueueDetector(SiteDetector):
    """Messages in the queue per host, and deferred deliveries, too many or rising fast.

    Options ``[detectors.queue]``:

    ``window`` ("10m"): window for growth and deferral counts.
    ``level`` (40): messages in the queue for a warning.
    ``growth`` (40): net growth of the queue within ``window``.
    ``deferred`` (60): deferred delivery attempts (retries too) within ``window``.
    ``critical_factor`` (5.0): critical at this multiple of a threshold.
    ``history`` ("1d"): how long the host's usual queue size is remembered.
    ``history_factor`` (3.0): once an hour of history is known, ``level``
    becomes at least this multiple of the usual size (the 75th percentile of
    the 10-minute peaks), so a server that always holds 100 deferred
    messages is not alarmed at 101. With a learned profile of the host (a
    day of history), its usual size and usual deferrals per window are
    used, and ``deferred`` is raised the same way.
    ``inbound_share`` (0.5): when at least this share of the queued and
    deferred mail came in unauthenticated from outside (a backup MX holding
    mail for its primary, an inbound MX whose mailbox store is down), the
    finding is info only.
    ``outage_share`` (0.5): when more than this share of the queued messages
    (or of the deferred deliveries in the window) wait for one destination or
    relay whose last delivery attempt failed at the connection level (timed
    out, refused, lost, greylisted: see spamwatch.detectors.outage), and no
    one login owns more than half of the queue, the finding names that
    destination and its failure with the fact ``outage`` (an ``info``
    incident about the host) instead of ``queue_growth``/``deferrals``.
    ``max_messages`` (200000): queue entries tracked (oldest forgotten).
    ``probe`` (false): also ask Postfix (``postqueue -j``, see
    spamwatch.sources.queue) for the true queue size and oldest message's age,
    at most every ``probe_interval`` ("1m"); ``MAIL_CONFIG`` selects a
    non-default instance. The source feeds the samples in (``on_sample``);
    they are used only for live lines of a single-host log; when unavailable
    it is said once and the log-derived estimate stays.
    """

    name: ClassVar[str] = "queue"
    description: ClassVar[str] = "queue size, growth and deferrals per host, and whose mail"
    key_kind: ClassVar[str] = "host"
    defaults: ClassVar[Mapping[str, Any]] = {
        "window": "10m",
        "level": 40,
        "growth": 40,
        "deferred": 60,
        "critical_factor": 5.0,
        "history": "1d",
        "history_factor": 3.0,
        "inbound_share": 0.5,
        "outage_share": 0.5,
        "max_messages": 200_000,
        "probe": False,
        "probe_interval": "1m",
    }

    def setup(self) -> None:
        self._real: QueueSample | None = None  # the latest real-queue sample
        self._queued: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._owners: dict[str, Counter[str]] = {}
        self._counts: Counter[str] = Counter()  # messages queued per host
        self._sizes: dict[str, SlidingMin] = {}
        self._usual: dict[str, BucketHistory] = {}
        # deferrals in the window: (domain, reason, owner, (server, failure) or None
        # when the server could be reached)
        self._deferred: KeyedWindows[str, tuple[str, str, str, tuple[str, str] | None]] = (
            KeyedWindows(self.span("window"), 1000)
        )
        self._last: dict[str, tuple[datetime, Severity]] = {}
        # what each queued message waits for, when its last attempt could not connect
        self._waits: dict[tuple[str, str], tuple[str, str]] = {}
        self._waiting: dict[str, Counter[tuple[str, str]]] = {}  # per host
        self.evicted = 0

    def on_update(self, update: MessageUpdate) -> Iterable[Signal]:
        message = update.message
        key = (message.host, message.queue_id)
        now = update.event.time
        if update.stage is Stage.DONE:
            self._leave(key, now)
            return ()
        if update.stage is Stage.QUEUED:
            if key in self._queued or not self._room_for(message.host):
                return ()
            self._enter(key, owner_of(message), now)
        elif update.recipient is not None and update.recipient.status == "deferred":
            rcpt = update.recipient
            failure = connection_failure(rcpt.reason)
            value = (
                domain_of(rcpt.address),
                reason_key(rcpt.reason, rcpt.dsn),
                owner_of(message),
                failure,
            )
            self._deferred.add(message.host, now, value)
            if key in self._queued:
                self._wait(key, failure)
        else:
            return ()
        signal = self._evaluate(message.host, now)
        return () if signal is None else (signal,)

    def on_sample(self, sample: QueueSample) -> Iterable[Signal]:
        """Keep the latest real-queue sample; it is weighed with the next messages."""
        self._real = sample
        return ()

    def sweep(self, now: datetime) -> None:
        self._deferred.expire(now)

    def _room_for(self, host: str) -> bool:
        """A log naming thousands of hosts is hostile or broken: cap them."""
        return host in self._owners or len(self._owners) < MAX_HOSTS

    def _enter(self, key: tuple[str, str], owner: str, now: datetime) -> None:
        self._queued[key] = owner
        self._owners.setdefault(key[0], Counter())[owner] += 1
        self._counts[key[0]] += 1
        if len(self._queued) > int(self.options["max_messages"]):
            old_key, _ = next(iter(self._queued.items()))
            self._leave(old_key, now)
            self.evicted += 1
        self._sample(key[0], now)

    def _leave(self, key: tuple[str, str], now: datetime) -> None:
        owner = self._queued.pop(key, None)
        if owner is None:
            return
        self._wait(key, None)
        owners = self._owners[key[0]]
        self._counts[key[0]] -= 1
        owners[owner] -= 1
        if owners[owner] <= 0:
            del owners[owner]
        self._sample(key[0], now)

    def _wait(self, key: tuple[str, str], why: tuple[str, str] | None) -> None:
        """Remember what a queued message waits for (None: nothing it could not reach)."""
        before = self._waits.get(key)
        if before == why:
            return
        waiting = self._waiting.setdefault(key[0], Counter())
        if before is not None:
            waiting[before] -= 1
            if waiting[before] <= 0:
                del waiting[before]
        if why is None:
            del self._waits[key]
        else:
            self._waits[key] = why
            waiting[why] += 1

    def _sample(self, host: str, now: datetime) -> None:
        sizes = self._sizes.get(host)
        if sizes is None:
            sizes = self._sizes[host] = SlidingMin(self.span("window"))
        size = self._size(host)
        sizes.add(now, size)
        usual = self._usual.get(host)
        if usual is None:
            usual = self._usual[host] = BucketHistory(self.span("window"), self.span("history"))
        usual.peak(now, size)

    def _size(self, host: str) -> int:
        return self._counts.get(host, 0)

    def _evaluate(self, host: str, now: datetime) -> Signal | None:
        size = self._size(host)
        lowest = self._sizes[host].minimum() if host in self._sizes else None
        growth = size - int(lowest or 0)
        real = self._real_queue(now)
        if real is not None:
            size = real.size
        deferred = self._deferred.get(host, now)
        n_deferred = len(deferred) if deferred is not None else 0
        if (
            size < self.number("level")
            and growth < self.number("growth")
            and n_deferred < self.number("deferred")
        ):
            self._last.pop(host, None)  # back under every threshold: the next is news
            return None  # the common case, decided without the history baseline
        if self._held(host, now, Severity.CRITICAL):
            return None  # before the grades: even critical would not be signalled now
        factor = self.number("critical_factor")
        grades = [
            grade(size, self._level(host, now), factor),
            grade(growth, self.number("growth"), factor),
            grade(n_deferred, self._deferred_limit(host), factor),
        ]
        found = [g for g in grades if g is not None]
        if not found:
            return None
        severity = max(found)
        if not self._due(host, now, severity):
            return None  # before the evidence: a full queue is re-judged on every message
        owners = self._owners.get(host, Counter())
        deferred_counts = deferred.counts if deferred is not None else Counter()
        by_owner = tally(deferred_counts.items(), 2)
        inbound = owners.get(INBOUND, 0) + by_owner.get(INBOUND, 0)
        share = inbound / max(1, size + n_deferred)
        outage = None if sole_login(owners) else self._outage(host, deferred_counts)
        facts = _facts(grades, share >= self.number("inbound_share"), outage)
        if share >= self.number("inbound_share"):
            severity = Severity.INFO  # inbound mail waiting is nobody's abuse
        signal = self._signal(
            host, now, severity, (size, growth), owners, deferred_counts, share, outage
        )
        signal = replace(signal, facts=facts)
        if real is None:
            return signal
        return replace(signal, evidence={**signal.evidence, "real_queue": describe(real)})

    def _outage(self, host: str, deferred: Mapping[tuple[Any, ...], int]) -> dict[str, Any] | None:
        """The destination or relay that cannot be reached, as evidence (destination,
        failure, messages waiting), when it explains the queue (option ``outage_share``).

        It does when more than that share of the queued messages wait for it,
        or of the deferrals in the window failed to reach it: the second is
        known minutes before the first (the queue also holds mail not tried
        yet), and an outage first judged as queue growth would stay a warning.
        """
        share = self.number("outage_share")
        waiting = self._waiting.get(host) or Counter()
        if waiting:
            (destination, failure), count = waiting.most_common(1)[0]
            if count > share * self._size(host):
                return {"destination": destination, "failure": failure, "waiting": count}
        unreachable = tally(deferred.items(), 3)
        if not unreachable:
            return None
        (destination, failure), failed = unreachable.most_common(1)[0]
        if failed <= share * sum(deferred.values()):
            return None
        return {
            "destination": destination,
            "failure": failure,
            "waiting": waiting.get((destination, failure), 0),
            "failed": failed,  # of the window's deferrals
        }

    def _real_queue(self, now: datetime) -> QueueSample | None:
        """The true queue (option ``probe``), when the log is live and of one host."""
        sample = self._real
        if sample is None or len(self._owners) > 1 or abs(sample.time - now) > LIVE_LAG:
            return None
        return sample

    def _level(self, host: str, now: datetime) -> float:
        """``level``, raised to a multiple of the host's usual queue size when known.

        The usual size is the host's learned profile's (days of history) when
        it has one, else what this process saw in the last ``history``.
        """
        level = self.number("level")
        learned = self.profiles.host(host)
        base = learned.queue if learned is not None else None
        if base is None:
            usual = self._usual.get(host)
            min_buckets = int(HOUR / self.span("window")) or 1
            base = usual.baseline(now, HOUR, min_buckets=min_buckets) if usual else None
        return level if base is None else max(level, self.number("history_factor") * base)

    def _deferred_limit(self, host: str) -> float:
        """``deferred``, raised to a multiple of the host's learned usual deferrals."""
        limit = self.number("deferred")
        learned = self.profiles.host(host)
        if learned is None or learned.deferred is None:
            return limit
        return max(limit, self.number("history_factor") * learned.deferred)

    def _held(self, host: str, now: datetime, severity: Severity) -> bool:
        """Signalled within ``REPEAT`` at ``severity`` or worse: ``_due``'s one refusal rule.

        ``_evaluate`` asks it with critical before the grades, so a host deep in
        an incident (every message re-judged) skips the baseline and the level.
        """
        last = self._last.get(host)
        return last is not None and now - last[0] < REPEAT and severity <= last[1]

    def _due(self, host: str, now: datetime, severity: Severity) -> bool:
        """At most one Signal per host and ``REPEAT`` of log time, unless it got worse.

        A full queue is re-judged on every message; a queue changes slowly, and
        building its evidence every time would cost more than the detection.
        Only while the host stays over a threshold: once a message finds it
        under all of them, the next queue is signalled at once (with a
        ``[findings] cooldown`` shorter than ``REPEAT`` its finding may have
        resolved in between, and a new one must be raised).
        """
        if self._held(host, now, severity):
            return False
        self._last[host] = (now, severity)
        return True

    def _signal(
        self,
        host: str,
        now: datetime,
        severity: Severity,
        sizes: tuple[int, int],
        owners: Counter[str],
        deferred: Mapping[tuple[str, str, str], int],
        share: float,
        outage: Mapping[str, Any] | None,
    ) -> Signal:
        size, growth = sizes
        n_deferred = sum(deferred.values())
        span = format_duration(self.span("window"))
        whose = owners.most_common(1)
        summary = f"{host}: {size} messages in the queue ({growth:+d} in {span})"
        if outage is not None:
            summary = (
                f"{host}: {outage['destination']} cannot be reached ({outage['failure']}):"
                f" {outage['waiting']} of {size} queued messages wait for it"
                f" ({growth:+d} in {span})"
            )
        if outage is not None and "failed" in outage:
            summary += (
                f", {outage['failed']} of {n_deferred} deferred deliveries in {span} failed to"
            )
            summary += " reach it"
        else:
            summary += f", {n_deferred} deferred deliveries in {span}"
        if whose:
            summary += f"; most queued mail from {whose[0][0]} ({whose[0][1]})"
        counts = {"queued": size, "growth": growth, "deferred": n_deferred}
        waiting = Counter({f"{d}: {f}": n for (d, f), n in self._waiting.get(host, {}).items()})
        evidence: dict[str, Any] = {
            "queued_by": top(owners),
            "destinations": top(tally(deferred.items(), 0)),
            "deferral_reasons": top(tally(deferred.items(), 1), 5),
            "deferred_by": top(tally(deferred.items(), 2)),
            "waiting_for": top(waiting, 5),
            "inbound_share": round(share, 2),
            "window": span,
        }
        if outage is not None:
            evidence["outage"] = dict(outage)
        login = sole_login(owners)
        if login is not None:
            evidence["logins"] = [login]  # one login's mail: part of its incident
        return self.signal(
            key=host,
            severity=severity,
            time=now,
            first_seen=now,
            summary=summary,
            host=host,
            counts=counts,
            evidence=evidence,
        )


def sole_login(owners: Counter[str]) -> str | None:
    """The SASL login that owns more than half of the queue, if one does."""
    whose = owners.most_common(1)
    if whose and not whose[0][0].startswith("(") and whose[0][1] * 2 > owners.total():
        return whose[0][0]
    return None


def _facts(
    grades: list[Severity | None], inbound: bool, outage: Mapping[str, Any] | None
) -> frozenset[str]:
    """What the queue finding established (see the class docstring)."""
    if outage is not None:
        return frozenset({"outage"})  # the destination's trouble explains growth and deferrals
    if inbound:
        return frozenset()  # inbound mail waiting is nobody's abuse
    facts = set()
    if grades[0] is not None or grades[1] is not None:
        facts.add("queue_growth")
    if grades[2] is not None:
        facts.add("deferrals")
    return frozenset(facts)


def describe(sample: QueueSample) -> dict[str, object]:
    """Evidence fields for a finding: the true size and the oldest message's age."""
    return {
        "queue_size": sample.size,
        "queue_recipients": sample.recipients,
        "oldest_age_seconds": None if sample.oldest_age is None else round(sample.oldest_age),
        "by_queue": dict(sample.by_queue),
        "source": "postqueue -j",
    }
