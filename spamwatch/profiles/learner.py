"""Learning profiles from the events and messages a pipeline sees.

The learner sits on the pipeline's taps (``on_event``, ``on_update``,
``tick``) in ``report``, ``follow`` and ``learn`` alike. What it sees goes
into a ``Partial`` in memory; nothing is written per line.

Traffic of an open incident is not learned as normal. An incident is often
raised only after the lines that made it (30 messages make a burst), so
what is seen waits ``hold`` (1h of log time, the longest detector window) in
two generations: every ``hold`` the older generation is kept and the younger
one ages. Every minute of log time the incident engine is asked which logins
and hosts have an open incident, and what they did in both generations is
dropped (for a host: its queue and deferrals, or its SASL failures) when the
incident is at warning or above and the login (host) has a profile to judge
by, or critical when it has none yet. Without history a warning is no
evidence against the traffic: it may be the login's normal (the ticketing
system, the daily foreign sender domain, the scanners every server sees),
and it would never be learned, never become quiet. The strong combinations
(mass mail from new networks, forged senders with bounces, a login after a
brute force) are critical and kept out from the first day.

At each ``hold`` boundary the kept generation is written in one transaction
(a checkpoint) and the view the detectors read is refreshed for the logins
and hosts written, with what was learned before the boundary minus ``hold``:
so ``report`` and ``follow`` judge the same lines against the same profiles,
and a report run twice over one file gives the same result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import datetime

from spamwatch.detectors.allow import domain_of, network_of
from spamwatch.detectors.bounces import internal_hop
from spamwatch.detectors.site import fresh_submission, user_of
from spamwatch.errors import ProfileError
from spamwatch.model import Event, MessageUpdate, Severity, Stage
from spamwatch.profiles.options import ProfileOptions
from spamwatch.profiles.partial import Partial
from spamwatch.profiles.spans import LearnedSpans
from spamwatch.profiles.store import ProfileStore
from spamwatch.profiles.view import ProfileView, profile_network

OpenKeys = Callable[[], Iterable[tuple[str, str, Severity]]]
"""(key kind, key, severity) of every open incident (kinds: sasl_username, host)."""
SWEEP = 60.0
"""Seconds of log time between two questions to the incident engine."""
MAX_QUEUED = 200_000
"""Queue ids tracked per learner for the queue size (oldest forgotten beyond)."""


def open_keys_of(tracker: object) -> list[tuple[str, str, Severity]]:
    """What the incident engine says is open, as (key kind, key, severity).

    Its ``open_incidents()``, or (the finding tracker) its ``open_findings()``.
    """
    for name in ("open_incidents", "open_findings"):
        found = getattr(tracker, name, None)
        if callable(found):
            return [(item.key_kind, item.key, item.severity) for item in found()]
    return []


def _counts(severity: Severity, judged: bool) -> bool:
    """Does an incident at ``severity`` keep traffic out? (``judged``: there is a profile.)"""
    return severity >= (Severity.WARNING if judged else Severity.CRITICAL)


class Learner:
    """Builds partial profiles from the pipeline's taps; writes them at checkpoints.

    ``store`` None: learn nothing (``--no-learn``) and never write. ``view``
    is the detectors' view, refreshed at checkpoints when ``refresh``.
    ``on_error`` takes a ProfileError of a write (``follow`` says it and
    keeps what it learned for the next checkpoint); without it, it is raised.
    ``batch``: write nothing; the caller ``take``s the partial at the end
    (``learn`` writes one file's partial with the file's mark, in one
    transaction, and can merge the partials of files learned in parallel).
    """

    def __init__(
        self,
        store: ProfileStore,
        view: ProfileView,
        options: ProfileOptions,
        open_keys: OpenKeys,
        refresh: bool = True,
        on_error: Callable[[ProfileError], None] | None = None,
        batch: bool = False,
    ) -> None:
        self.store = store
        self.batch = batch
        self.view = view
        self.options = options
        self.open_keys = open_keys
        self.refresh = refresh
        self.on_error = on_error
        self.spans = LearnedSpans(store.learned())
        self.hold = options.hold.total_seconds()
        self.young = self._partial()
        self.old = self._partial()
        self.ready = self._partial()
        self._queued: dict[str, dict[str, None]] = {}
        self._next_sweep = -math.inf
        self._next_rotate: float | None = None
        self._seen: tuple[Event | None, float, bool] = (None, 0.0, False)
        self._covered: tuple[str | None, float, Partial | None] = (None, 0.0, None)
        self.skipped = 0  # events not learned: learned before
        self.writes = 0

    def _partial(self) -> Partial:
        return Partial(self.options.limits)

    # -- taps --------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Every event: its span is covered; a SASL failure counts for the host."""
        when, learned = self._moment(event)
        if learned:
            return
        young = self.young
        if (
            when != self._covered[1]
            or event.host != self._covered[0]
            or young is not self._covered[2]
        ):
            young.cover(event.host, when)  # once per host and log moment: lines share seconds
            young.window(event.host, when)  # quiet windows count too
            self._covered = (event.host, when, young)
        if event.kind == "sasl_failure":
            window = young.window(event.host, when)
            ip = event.fields.get("client_ip")
            window.failures += 1
            if ip and len(window.addresses) < 1000:
                window.addresses.add(network_of(ip, 32, 64))

    def on_update(self, update: MessageUpdate) -> None:
        """Message milestones: logins' sending, recipients, the host's queue and deferrals."""
        event = update.event
        when, learned = self._moment(event)
        if learned:
            return
        stage, message = update.stage, update.message
        if stage is Stage.QUEUED:
            self._queue(message.host, message.queue_id, when, True)
            user = user_of(message)
            if user is not None and fresh_submission(update):
                ip = message.client_ip
                self.young.message(
                    user,
                    event.time,
                    profile_network(ip) if ip else None,
                    domain_of(message.sender) or None,
                    message.nrcpt == 1,
                )
        elif stage is Stage.DONE:
            self._queue(message.host, message.queue_id, when, False)
        elif update.recipient is not None and not internal_hop(update.recipient.relay):
            self._delivery(update, when)

    def tick(self, now: datetime) -> None:
        """Log time advanced: ask about incidents every minute, rotate every ``hold``."""
        when = now.timestamp()
        if self._next_rotate is None:
            self._next_rotate = when - when % self.hold + self.hold
        if when >= self._next_sweep:
            self._next_sweep = when - when % SWEEP + SWEEP
            self._sweep()
        while when >= self._next_rotate:
            self._rotate(self._next_rotate)
            self._next_rotate += self.hold

    def finish(self) -> None:
        """End of input: keep both generations (after a last look at incidents), write."""
        self._sweep()
        for generation in (self.old, self.young):
            self.ready.merge(generation)
        self.old, self.young = self._partial(), self._partial()
        self._write(None)

    def take(self) -> Partial:
        """What is ready to be written (all of it after ``finish``); the learner forgets it."""
        ready, self.ready = self.ready, self._partial()
        return ready

    # -- inside ------------------------------------------------------------

    def _moment(self, event: Event) -> tuple[float, bool]:
        """(epoch time, learned before by any command?) of an event, once per event.

        Its updates come right after it: they reuse the answer.
        """
        seen = self._seen
        if seen[0] is not event:
            when = event.time.timestamp()
            learned = self.spans.covers(event.host, when)
            self.skipped += learned
            seen = self._seen = (event, when, learned)
        return seen[1], seen[2]

    def _queue(self, host: str, queue_id: str, when: float, entered: bool) -> None:
        queued = self._queued.setdefault(host, {})
        if entered:
            queued[queue_id] = None
            if len(queued) > MAX_QUEUED:
                del queued[next(iter(queued))]
            window = self.young.window(host, when)
            window.queue_peak = max(window.queue_peak, len(queued))
        else:
            queued.pop(queue_id, None)

    def _delivery(self, update: MessageUpdate, when: float) -> None:
        rcpt = update.recipient
        assert rcpt is not None
        window = self.young.window(update.message.host, when)
        window.deliveries += 1
        window.deferred += rcpt.status == "deferred"
        user = user_of(update.message)
        if user is not None and rcpt.attempts == 1:
            self.young.recipient(user, update.event.time, domain_of(rcpt.address) or "(local)")

    def _sweep(self) -> None:
        """Drop what belongs to an incident open now (both generations; see the module)."""
        for kind, key, severity in self.open_keys():
            if kind == "sasl_username":
                if _counts(severity, self.view.login(key) is not None):
                    self.young.drop_login(key)
                    self.old.drop_login(key)
            elif kind == "host":
                host = self.view.host(key)
                queue = _counts(severity, host is not None and host.queue is not None)
                auth = _counts(severity, host is not None and host.auth_addresses is not None)
                for generation in (self.young, self.old):
                    generation.taint_host(key, queue, auth)

    def _rotate(self, boundary: float) -> None:
        self._sweep()
        self.ready.merge(self.old)
        self.old, self.young = self.young, self._partial()
        self._write(boundary - self.hold)

    def _write(self, before: float | None) -> None:
        """A checkpoint: write what is ready in one transaction, refresh the view."""
        ready = self.ready
        if not ready or self.batch:
            return
        try:
            self.store.write(ready, retention=self.options.retention, limits=self.options.limits)
        except ProfileError as exc:
            if self.on_error is None:
                raise
            self.on_error(exc)  # kept: merged into the next checkpoint's batch
            return
        self.writes += 1
        self.ready = self._partial()
        for host, (first, last) in ready.spans.items():
            self.spans.add(host, first, last)
        if self.refresh:
            self._refresh(ready, before)

    def _refresh(self, written: Partial, before: float | None) -> None:
        try:
            logins = self.store.login_profiles(written.logins, before)
            hosts = self.store.host_profiles({h for h, _ in written.windows}, before)
        except ProfileError as exc:
            if self.on_error is None:
                raise
            self.on_error(exc)
            return
        self.view.update(logins, hosts)  # type: ignore[arg-type]
