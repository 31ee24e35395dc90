"""Reliable delivery for slow or failing sinks: a write-ahead spool, a worker, retries.

A network sink must never block reading the log, nor another sink, and must
never lose a record it was given. So each ``QueuedSink`` hands records to its
own ``Delivery``: ``put`` writes the record to the spool (spool.py) before it
returns, and a worker thread delivers the spool's records oldest first,
retrying with exponential backoff, and removes each only once delivered. A
``kill -9`` at any moment leaves the undelivered records on disk; the next
start of the sink delivers them first, in the order they were made. A record
already delivered or waiting (same ``alert_id``) is not queued again, so a
restart that re-derives what was sent before does not repeat it.

An outage is reported on stderr once when it starts and once when it ends,
never once per record. While a sink is down its records wait on disk and it
is probed at most every ``max_backoff`` seconds. When the spool cannot be
written (full or read-only filesystem, unsafe directory), records wait in
memory only; that is said once, and each record that is then lost is counted
(``SinkMeter.lost``) and said once.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from spamwatch.config.schema import Options
from spamwatch.sinks.base import Sink, SinkContext
from spamwatch.sinks.meter import SinkMeter, meter_for
from spamwatch.sinks.record import Record, alert_id
from spamwatch.sinks.spool import Entry, Spool
from spamwatch.sinks.uri import section_for

Deliver = Callable[[list[Any]], None]
Warn = Callable[[str], None]

MAX_BATCH = 100
"""Records delivered together at most (a digest)."""

RETRY_OPTIONS = frozenset({"retries", "backoff", "max_backoff", "queue_size", "drain_timeout"})
"""The options every queued sink reads (see ``RetryPolicy``)."""


def warn_stderr(text: str) -> None:
    """The default ``warn``: one line on stderr, prefixed like the CLI's errors."""
    print(f"spamwatch: warning: {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a sink tries: options shared by every queued sink.

    ``retries`` more attempts after the first, waiting ``backoff`` seconds,
    doubled each time up to ``max_backoff``; ``queue_size`` records are kept in
    memory (more wait on disk only, or, without a spool, are lost);
    ``drain_timeout`` bounds how long exit waits for the queue; with
    ``batch_interval`` records are collected that long and delivered together
    (the mail digest).
    """

    retries: int = 5
    backoff: float = 1.0
    max_backoff: float = 300.0
    queue_size: int = 1000
    drain_timeout: float = 10.0
    batch_interval: float | None = None

    @classmethod
    def from_options(cls, opts: Options, batch_key: str | None = None) -> RetryPolicy:
        """Read ``retries``, ``backoff``, ``max_backoff``, ``queue_size``, ``drain_timeout``."""
        base = cls()
        backoff = opts.seconds("backoff", base.backoff) or 0.0
        return cls(
            retries=opts.integer("retries", base.retries),
            backoff=backoff,
            max_backoff=max(opts.seconds("max_backoff", base.max_backoff) or 0.0, backoff),
            queue_size=opts.integer("queue_size", base.queue_size, minimum=1),
            drain_timeout=opts.seconds("drain_timeout", base.drain_timeout) or 0.0,
            batch_interval=opts.seconds(batch_key, None) if batch_key else None,
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        return min(self.backoff * (2**attempt), self.max_backoff)


class Delivery:
    """One sink's spool queue and worker thread (see the module docstring).

    ``deliver`` raises on failure (any exception); it is only ever called from
    the worker thread, so a sink needs no locking of its own.
    """

    def __init__(
        self,
        label: str,
        uri: str,
        deliver: Deliver,
        policy: RetryPolicy,
        spool: Spool,
        warn: Warn = warn_stderr,
        meter: SinkMeter | None = None,
    ) -> None:
        self.label = label
        self.uri = uri
        self.policy = policy
        self.spool = spool
        self.queue = spool.for_sink(uri)
        self.meter = meter or meter_for(label)
        self._deliver = deliver
        self._warn = warn
        self._items: deque[Entry] = deque()
        self._ids: set[str] = set()
        self._memory_only = 0
        self._cond = threading.Condition()
        self._closing = False
        self._drain_deadline: float | None = None
        self._abandoned = False
        self._down_since: float | None = None
        self._next_probe = 0.0
        self._warned: set[str] = set()
        self.spool_ok = False
        self._thread = threading.Thread(target=self._run, name=f"sink {label}", daemon=True)

    @property
    def down(self) -> bool:
        """True while the sink is in an outage (reported; records wait)."""
        return self._down_since is not None

    @property
    def waiting(self) -> int:
        """Records not delivered yet (on disk or in memory)."""
        return len(self._items)

    def start(self) -> None:
        """Open the spool, queue what earlier runs left (oldest first), start the worker."""
        try:
            adopted = self.queue.open()
            self.spool_ok = True
        except OSError as exc:
            self._spool_trouble(exc)
            adopted = []
        for entry in adopted:
            if entry.alert_id not in self._ids:
                self._ids.add(entry.alert_id)
                self._items.append(entry)
        self.meter.set_spooled(len(self._items))
        if adopted:
            self._warn(
                f"alert sink {self.label}: {len(adopted)} alert(s) left in the spool by an "
                "earlier run are delivered first"
            )
        self._thread.start()

    def put(self, record: Record) -> Entry | None:
        """Spool a record and queue it, never blocking on the sink; None: a repeat.

        The returned entry is on disk (``path``) unless the spool could not take
        it; ``outcome`` says when it was delivered or lost.
        """
        aid = alert_id(record)
        with self._cond:
            repeat = aid in self._ids
        if repeat or (self.spool_ok and self.queue.delivered_before(aid)):
            self.meter.add(repeated=1)
            return None
        entry = self._write(record, aid)
        with self._cond:
            if self._closing or (
                entry.path is None and self._memory_only >= self.policy.queue_size
            ):
                accepted = False
            else:
                accepted = True
                self._items.append(entry)
                self._ids.add(aid)
                self._memory_only += entry.path is None
                if len(self._items) > self.policy.queue_size and entry.path is not None:
                    entry.record = None  # wait on disk only: memory stays bounded
                self._cond.notify()
        if not accepted and entry.path is None:
            self._lose([entry], "the spool cannot be written and too many wait in memory")
        self.meter.set_spooled(len(self._items))
        return entry

    def sync(self) -> None:
        """Make every record spooled so far durable (fsync); see ``SinkSpool.sync``."""
        try:
            self.queue.sync()
        except OSError as exc:
            self._spool_trouble(exc)

    def begin_close(self) -> float:
        """Stop taking records and start draining; returns the drain deadline.

        Calling this on every sink first lets them drain side by side, so
        several slow sinks cost one ``drain_timeout`` at exit, not one each.
        """
        with self._cond:
            if self._drain_deadline is None:
                self._drain_deadline = time.monotonic() + self.policy.drain_timeout
            self._closing = True
            self._cond.notify_all()
            return self._drain_deadline

    def close(self) -> None:
        """Deliver what waits within ``drain_timeout``; the rest stays in the spool."""
        deadline = self.begin_close()
        if self._thread.is_alive():
            self._thread.join(max(deadline - time.monotonic(), 0.0))
        with self._cond:
            self._abandoned = True
            rest = list(self._items)
        kept = [e for e in rest if e.path is not None]
        unkept = [e for e in rest if e.path is None and e.outcome is None]
        for entry in unkept:  # a last try at the spool for what waits in memory
            record = entry.record
            if record is not None and self.spool_ok:
                with contextlib.suppress(OSError):
                    entry.path = self.queue.write(record, entry.alert_id).path
        lost = [e for e in unkept if e.path is None]
        if lost:
            self._lose(lost, "not delivered before exit, and the spool cannot be written")
        waiting = len(rest) - len(lost)
        if waiting and not self.down:
            self._warn(
                f"alert sink {self.label}: {waiting} alert(s) not delivered before exit wait in "
                f"the spool {self.spool.path} for its next start"
            )
        self.queue.close()
        self.meter.set_spooled(waiting if kept or waiting else 0)

    # -- worker ------------------------------------------------------------

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            records = self._load(batch)
            if records and self._attempt(records):
                self._delivered(batch)

    def _next_batch(self) -> list[Entry] | None:
        """The oldest record(s), once the sink may be tried; None when the worker ends."""
        with self._cond:
            while True:
                if self._abandoned:
                    return None
                if not self._items:
                    if self._closing:
                        return None
                    self._cond.wait()
                    continue
                left = self._next_probe - time.monotonic() if self.down else 0.0
                if left <= 0:
                    break
                if self._closing:
                    return None  # down at exit: everything stays in the spool
                self._cond.wait(left)
            interval = self.policy.batch_interval
            if interval:
                deadline = time.monotonic() + interval
                while not self._closing and (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(left)
                return list(itertools.islice(self._items, MAX_BATCH))
            return [self._items[0]]

    def _load(self, batch: list[Entry]) -> list[Record]:
        """The batch's records (read back from disk if need be); drops unreadable ones."""
        records: list[Record] = []
        for entry in batch:
            record = self.queue.load(entry)
            if record is None:
                self._forget([entry])
                self._lose([entry], "its spool file could not be read back")
            else:
                records.append(record)
        return records if len(records) == len(batch) else []

    def _attempt(self, records: list[Record]) -> bool:
        """Deliver with retries; False after an outage began (the records stay queued)."""
        attempt = 0
        while True:
            try:
                self._deliver(records)
            except Exception as exc:  # any failure of a sink is a delivery failure
                self.meter.add(failed=1)
                reason = _reason(exc)
                if self.down or attempt >= self.policy.retries or not self._wait(attempt):
                    self._outage(reason)
                    return False
                attempt += 1
                continue
            return True

    def _wait(self, attempt: int) -> bool:
        """Sleep before the next retry; False when exit is near (leave it to the spool)."""
        deadline = time.monotonic() + self.policy.delay(attempt)
        with self._cond:  # put() notifies too: wait out the whole delay
            while not self._closing and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            return not self._closing

    def _delivered(self, batch: list[Entry]) -> None:
        for entry in batch:
            self.queue.done(entry)
            entry.outcome = "delivered"
        self._forget(batch)
        self.meter.add(sent=len(batch))
        self._recovered()

    def _forget(self, batch: list[Entry]) -> None:
        with self._cond:
            for entry in batch:
                with contextlib.suppress(ValueError):
                    self._items.remove(entry)
                self._ids.discard(entry.alert_id)
                self._memory_only -= entry.path is None
            depth = len(self._items)
        self.meter.set_spooled(depth)

    def _outage(self, reason: str) -> None:
        self._next_probe = time.monotonic() + self.policy.max_backoff
        if self._down_since is not None:
            return
        self._down_since = time.monotonic()
        if self.spool_ok:
            where = f"alerts wait in the spool {self.spool.path} and are retried"
        else:
            where = (
                "the spool cannot be written, so alerts wait in memory only and are lost "
                "if spamwatch stops first"
            )
        self._warn(f"alert sink {self.label}: delivery failing ({reason}); {where}")

    def _recovered(self) -> None:
        if self._down_since is None:
            return
        self._down_since = None
        self._warn(f"alert sink {self.label}: delivering again ({self.waiting} alert(s) waiting)")

    def _write(self, record: Record, aid: str) -> Entry:
        """The record on disk, or in memory only when the spool cannot take it."""
        if self.spool_ok or self._retry_spool():
            try:
                return self.queue.write(record, aid)
            except OSError as exc:
                self._spool_trouble(exc)
        return Entry(aid, "", record)

    def _retry_spool(self) -> bool:
        """A spool that failed is tried again on the next record (the disk may have room now)."""
        if self.queue.run is None:
            try:
                self.queue.open()
            except OSError:
                return False
        self.spool_ok = True
        return True

    def _spool_trouble(self, exc: OSError) -> None:
        self.spool_ok = False
        self._once(
            "spool",
            f"alert sink {self.label}: cannot write the spool {self.spool.path} "
            f"({_reason(exc)}); alerts it cannot deliver at once are kept in memory only",
        )

    def _lose(self, entries: list[Entry], why: str) -> None:
        for entry in entries:
            entry.outcome = "lost"
        self.meter.add(lost=len(entries))
        self._once(
            "lost",
            f"alert sink {self.label}: alerts are being lost ({why}); "
            "counted in spamwatch_alerts_lost_total",
        )

    def _once(self, what: str, text: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            self._warn(text)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class QueuedSink(Sink):
    """Base for sinks that talk to something that can be slow or down.

    Subclasses implement ``deliver(records)`` (raise on failure; a list of
    one record, or several for a digest) and get the spool, worker, retries
    and outage reports for free. Without ``start`` (a sink built by hand in a
    test or a script) ``send`` delivers synchronously.
    """

    batch_option: str | None = None  # an option naming a digest interval, e.g. "digest"
    option_names: ClassVar[frozenset[str] | None] = RETRY_OPTIONS

    @classmethod
    def read_options(cls, opts: Options) -> dict[str, Any]:
        """The retry options every queued sink shares (see ``RetryPolicy``)."""
        policy = RetryPolicy.from_options(opts, cls.batch_option)
        return {**super().read_options(opts), "policy": policy}

    def setup(self) -> None:
        """Read the options (``settings``: see ``read_options``) and the retry policy."""
        super().setup()
        self.opts = Options(self.options, section_for(self.scheme))
        self.settings = self.read_options(self.opts)
        self.policy: RetryPolicy = self.settings["policy"]
        self.delivery: Delivery | None = None

    def start(self, context: SinkContext) -> None:
        """Start the worker; it first delivers what earlier runs left for ``context.uri``."""
        self.delivery = Delivery(
            self.label, context.uri, self.deliver, self.policy, context.spool, context.warn
        )
        self.delivery.start()

    def send(self, finding: Any) -> Entry | None:
        """Spool and queue the record (returns at once); see ``Delivery.put``."""
        if self.delivery is None:
            self.deliver([finding])
            return None
        return self.delivery.put(finding)

    def deliver(self, findings: list[Any]) -> None:
        """Deliver records now or raise; runs in the worker thread."""
        raise NotImplementedError

    def sync(self) -> None:
        """Make what was spooled durable (fsync), before anyone records it as sent."""
        if self.delivery is not None:
            self.delivery.sync()

    def begin_close(self) -> None:
        """Start draining now; ``close`` then waits (see ``Delivery.begin_close``)."""
        if self.delivery is not None:
            self.delivery.begin_close()

    def close(self) -> None:
        """Deliver what waits (bounded by ``drain_timeout``); the rest stays spooled."""
        if self.delivery is not None:
            self.delivery.close()
