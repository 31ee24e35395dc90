"""What the built-in detectors share: site context, typed options, evidence.

``SiteDetector`` is a ``Detector`` (the plugin API stays the base class) that
also knows the site's allow-lists and local domains (bound by
``build_detectors``) and the learned profiles (``profiles``, bound by the
command that opened them; empty without a database), reads its duration and
number options once per user, and builds Signals with evidence trimmed to the
top entries, so every finding names the same kinds of things in the same JSON
shape.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, ClassVar

from spamwatch.config.schema import duration
from spamwatch.detectors.allow import Site
from spamwatch.detectors.base import Detector
from spamwatch.detectors.windows import Ranked
from spamwatch.model import Message, MessageUpdate, Severity, Signal
from spamwatch.profiles.view import EMPTY_VIEW, ProfileView

TOP_N = 10
"""Evidence lists keep this many entries (most frequent first)."""

SAMPLE_IDS = 5
"""Sample queue ids kept per key: enough to grep, never the whole incident."""

SWEEP_EVERY = timedelta(minutes=1)
"""How often (log time) idle keys are swept out of a detector's state."""


class SiteDetector(Detector):
    """Base of the built-in detectors (third-party ones may use it too)."""

    site: Site = Site()
    profiles: ProfileView = EMPTY_VIEW
    key_kind: ClassVar[str] = "sasl_username"

    def __init__(
        self,
        options: Mapping[str, Any] | None = None,
        user_options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        lowered = {user.lower(): table for user, table in (user_options or {}).items()}
        super().__init__(options, lowered)
        self._durations: dict[tuple[str, str | None], timedelta] = {}
        self._numbers: dict[tuple[str, str | None], float] = {}
        self._next_sweep: datetime | None = None
        self.setup()

    def setup(self) -> None:
        """Build the detector's state once its options are known (override this).

        Raise ValueError for an option value that makes no sense; the config
        loader reports it as a ConfigError naming the detector.
        """

    def tick(self, now: datetime) -> Iterable[Signal]:
        """Sweep idle state at most once per ``SWEEP_EVERY`` of log time.

        Windows expire themselves whenever they are added to or read, so the
        sweep only frees keys that went quiet; doing it every log second
        would cost as much as the detection itself on a busy log.
        """
        due = self._next_sweep
        if due is None or now >= due or now < due - SWEEP_EVERY:
            self._next_sweep = now + SWEEP_EVERY
            self.sweep(now)
        return ()

    def sweep(self, now: datetime) -> None:
        """Drop state that expired by ``now`` (override this, not ``tick``)."""

    def bind(self, site: Site) -> None:
        """Give the detector the site's allow-lists and local domains."""
        self.site = site

    def bind_profiles(self, view: ProfileView) -> None:
        """Give the detector the learned profiles (read-only; refreshed in place)."""
        self.profiles = view

    def enabled_for(self, user: str | None) -> bool:
        """False when ``[users."NAME".detectors.THIS] enabled = false``."""
        if user is None:
            return True
        return bool(self.user_options.get(user, {}).get("enabled", True))

    def span(self, key: str, user: str | None = None) -> timedelta:
        """A duration option as a timedelta (parsed once per user with overrides)."""
        slot = (key, self._overridden(key, user))
        found = self._durations.get(slot)
        if found is None:
            found = self._durations[slot] = duration(self.option(*slot))
        return found

    def number(self, key: str, user: str | None = None) -> float:
        """A numeric option for ``user`` (or the global value), read once."""
        slot = (key, self._overridden(key, user))
        found = self._numbers.get(slot)
        if found is None:
            found = self._numbers[slot] = float(self.option(*slot))
        return found

    def _overridden(self, key: str, user: str | None) -> str | None:
        """``user`` if it sets ``key`` itself, else None: the options are read per
        message, and only users with overrides get entries of their own (a log
        with a million logins cannot grow the cache)."""
        if user is None:
            return None
        table = self.user_options.get(user)
        return user if table is not None and key in table else None

    def signal(
        self,
        *,
        key: str,
        severity: Severity,
        time: datetime,
        first_seen: datetime | None,
        summary: str,
        host: str | None,
        counts: Mapping[str, int | float],
        evidence: Mapping[str, Any],
        key_kind: str | None = None,
        facts: Iterable[str] = (),
    ) -> Signal:
        """A Signal from this detector, with its name and key kind filled in.

        Keyword-only: eight values of like types (two times, two strings that
        both name a host or a login) are too easy to pass in the wrong order.
        ``facts`` names what was established (vocabulary: ``model.FACTS``);
        the incident engine grades the incident from them.
        """
        return Signal(
            detector=self.name,
            key=key,
            key_kind=key_kind or self.key_kind,
            severity=severity,
            time=time,
            first_seen=first_seen or time,
            summary=summary,
            host=host,
            counts=counts,
            evidence=evidence,
            facts=frozenset(facts),
        )


MAX_NAME = 320
"""Longest login or address kept (RFC 5321 allows 256 for a path): a hostile
line cannot make one key cost megabytes of memory."""


@lru_cache(maxsize=4096)
def login(text: object) -> str:
    """A SASL login or address as a key: trimmed, lower-cased, length-capped.

    Every detector asks it of every message's login, and a server's logins are
    few: the latest 4,096 are remembered."""
    return str(text).strip().lower()[:MAX_NAME]


def user_of(message: Message) -> str | None:
    """The message's SASL login, lower-cased (logins are case-insensitive)."""
    name = message.sasl_username
    return login(name) if name else None


def fresh_submission(update: MessageUpdate) -> bool:
    """A QUEUED update for a newly submitted message (not a filter's second copy)."""
    return update.message.origin != "reinjected"


def grade(value: float, threshold: float, critical_factor: float) -> Severity | None:
    """warning at ``threshold``, critical at ``critical_factor`` times it, else None."""
    if threshold <= 0 or value < threshold:
        return None
    if critical_factor > 0 and value >= threshold * critical_factor:
        return Severity.CRITICAL
    return Severity.WARNING


def top(counts: Ranked[Any] | Counter[Any] | Mapping[Any, int], n: int = TOP_N) -> dict[str, int]:
    """The ``n`` largest entries as an ordered JSON object {value: count}.

    Evidence built on every Signal should come from a ``Ranked`` view
    (``TimeWindow.ranked``): O(n). A Counter or a plain mapping is sorted
    whole, which is fine for a handful of entries only.
    """
    if isinstance(counts, Ranked):
        items = counts.top(n)
    elif isinstance(counts, Counter):
        items = counts.most_common(n)
    else:
        items = _largest(counts, n)
    return {str(k): int(v) for k, v in items}


def _largest(counts: Mapping[Any, int], n: int) -> list[tuple[Any, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]


def tally(pairs: Iterable[tuple[Hashable, int]], part: int) -> Counter[Any]:
    """Sum counts of tuple-valued window entries by one element of the tuple."""
    out: Counter[Any] = Counter()
    for value, count in pairs:
        item = value[part]  # type: ignore[index]
        if item is not None and item != "":
            out[item] += count
    return out


def plain(value: float) -> int | float:
    """30.0 -> 30 for evidence and summaries; 2.5 stays 2.5."""
    return int(value) if float(value).is_integer() else round(value, 2)


def plural(count: int | float, word: str) -> str:
    """ "1 address", "8 addresses" (for summaries)."""
    count = int(count)
    if count == 1:
        return f"1 {word}"
    if word.endswith("y") and not word.endswith(("ay", "ey", "oy", "uy")):
        return f"{count} {word[:-1]}ies"
    suffix = "es" if word.endswith(("s", "sh", "ch", "x")) else "s"
    return f"{count} {word}{suffix}"
