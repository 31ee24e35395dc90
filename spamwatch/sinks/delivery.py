"""Reliable delivery for slow or failing sinks: a queue, retries, and a spool.

A network sink must never block reading the log, nor another sink. So each
``QueuedSink`` hands findings to its own ``Delivery``: a bounded in-memory
queue drained by one worker thread that retries with exponential backoff.
What cannot be delivered (retries exhausted, queue full, still queued at
exit) goes to the ``Spool``, a JSON Lines file that is replayed when the sink
starts next time, and also as soon as the sink works again. No finding is
silently lost; delivery is at least once (a request that times out on our
side may still have arrived).

An outage is reported on stderr once when it starts and once when it ends,
never once per finding. While a sink is down, findings go straight to the
spool and the sink is probed at most every ``max_backoff`` seconds.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from spamwatch.config.schema import Options
from spamwatch.model import Finding
from spamwatch.sinks.base import Sink, SinkContext
from spamwatch.sinks.spool import Spool
from spamwatch.sinks.uri import section_for

Deliver = Callable[[list[Finding]], None]
Warn = Callable[[str], None]

RETRY_OPTIONS = frozenset({"retries", "backoff", "max_backoff", "queue_size", "drain_timeout"})
"""The options every queued sink reads (see ``RetryPolicy``)."""


def warn_stderr(text: str) -> None:
    """The default ``warn``: one line on stderr, prefixed like the CLI's errors."""
    print(f"spamwatch: warning: {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a sink tries: options shared by every queued sink.

    ``retries`` more attempts after the first, waiting ``backoff`` seconds,
    doubled each time up to ``max_backoff``; ``queue_size`` findings may wait;
    ``drain_timeout`` bounds how long exit waits for the queue; with
    ``batch_interval`` findings are collected that long and delivered together
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
    """One sink's queue and worker thread (see the module docstring).

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
    ) -> None:
        self.label = label
        self.uri = uri
        self.policy = policy
        self.spool = spool
        self._deliver = deliver
        self._warn = warn
        self._items: deque[Finding] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._drain_deadline: float | None = None
        self._abandoned = False
        self._inflight: list[Finding] | None = None
        self._down_since: float | None = None
        self._next_probe = 0.0
        self._warned: set[str] = set()
        self._thread = threading.Thread(target=self._run, name=f"sink {label}", daemon=True)
        self.delivered = 0
        self.spooled = 0

    @property
    def down(self) -> bool:
        """True while the sink is in an outage (reported, findings spooled)."""
        return self._down_since is not None

    def start(self) -> None:
        """Start the worker, first replaying what an earlier run spooled."""
        for finding in self.spool.take(self.uri):
            self.put(finding)
        self._thread.start()

    def put(self, finding: Finding) -> None:
        """Queue a finding without ever blocking; a full queue spills to the spool."""
        with self._cond:
            closing = self._closing
            if not closing and len(self._items) < self.policy.queue_size:
                self._items.append(finding)
                self._cond.notify()
                return
        if closing:
            self._to_spool([finding], "still queued at exit", sync=False)
            return
        self._once("full", f"alert sink {self.label}: queue full, spooling findings")
        self._to_spool([finding], "queue full", sync=False)

    def begin_close(self) -> float:
        """Stop taking findings and start draining; returns the drain deadline.

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
        """Deliver what is queued within ``drain_timeout``, then spool the rest."""
        deadline = self.begin_close()
        if self._thread.is_alive():
            self._thread.join(max(deadline - time.monotonic(), 0.0))
        with self._cond:
            if not self._thread.is_alive():
                return
            self._abandoned = True
            rest = list(self._inflight or []) + list(self._items)
            self._inflight = None
            self._items.clear()
        if rest:
            self._to_spool(rest, "still queued at exit")

    # -- worker ------------------------------------------------------------

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._handle(batch)
            with self._cond:
                self._inflight = None

    def _next_batch(self) -> list[Finding] | None:
        with self._cond:
            while not self._items and not self._closing:
                self._cond.wait()
            if self._abandoned or not self._items:
                return None
            interval = self.policy.batch_interval
            if interval:
                deadline = time.monotonic() + interval
                while not self._closing and (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(left)
            if interval or (self.down and time.monotonic() < self._next_probe):
                batch = list(self._items)  # a digest, or all of it to the spool at once
                self._items.clear()
            else:
                batch = [self._items.popleft()]
            self._inflight = batch
            return batch

    def _handle(self, batch: list[Finding]) -> None:
        if self.down and time.monotonic() < self._next_probe:
            self._settle(batch, "sink down")
            return
        attempt = 0
        while True:
            try:
                self._deliver(batch)
            except Exception as exc:  # any failure of a sink is a delivery failure
                reason = _reason(exc)
                if self.down or attempt >= self.policy.retries or not self._wait(attempt):
                    self._outage(reason)
                    self._settle(batch, reason)
                    return
                attempt += 1
                continue
            self.delivered += len(batch)
            self._recovered()
            return

    def _wait(self, attempt: int) -> bool:
        """Sleep before the next retry; False when exit is near (spool instead)."""
        deadline = time.monotonic() + self.policy.delay(attempt)
        with self._cond:  # put() notifies too: wait out the whole delay
            while not self._closing and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            return not self._closing

    def _settle(self, batch: list[Finding], reason: str) -> None:
        """Spool a batch the worker gave up on, unless close() already did."""
        with self._cond:
            if self._abandoned:
                return
            self._inflight = None
        self._to_spool(batch, reason)

    def _outage(self, reason: str) -> None:
        self._next_probe = time.monotonic() + self.policy.max_backoff
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._warn(
                f"alert sink {self.label}: delivery failing ({reason}); "
                f"findings are spooled to {self.spool.path} and retried"
            )

    def _recovered(self) -> None:
        if self._down_since is None:
            return
        self._down_since = None
        self._warn(f"alert sink {self.label}: delivering again; replaying the spool")
        for finding in self.spool.take(self.uri):
            self.put(finding)

    def _to_spool(self, findings: list[Finding], reason: str, sync: bool = True) -> None:
        if self.spool.append(self.uri, findings, reason, sync):
            self.spooled += len(findings)
            return
        self._once(
            "spool",
            f"alert sink {self.label}: cannot write the spool {self.spool.path} "
            f"(full or unwritable); findings are being lost",
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

    Subclasses implement ``deliver(findings)`` (raise on failure; a list of
    one finding, or several for a digest) and get the queue, retries, spool
    and outage reports for free. Without ``start`` (a sink built by hand in a
    test or a script) ``send`` delivers synchronously.
    """

    batch_option: str | None = None  # an option naming a digest interval, e.g. "digest"
    option_names: ClassVar[frozenset[str] | None] = RETRY_OPTIONS

    def setup(self) -> None:
        """Read the retry options every queued sink shares (see ``RetryPolicy``)."""
        super().setup()
        self.opts = Options(self.options, section_for(self.scheme))
        self.policy = RetryPolicy.from_options(self.opts, self.batch_option)
        self.delivery: Delivery | None = None

    def start(self, context: SinkContext) -> None:
        """Start this sink's worker; replays what the last run spooled for ``context.uri``."""
        self.delivery = Delivery(
            self.label, context.uri, self.deliver, self.policy, context.spool, context.warn
        )
        self.delivery.start()

    def send(self, finding: Finding) -> None:
        """Queue the finding (returns at once)."""
        if self.delivery is None:
            self.deliver([finding])
        else:
            self.delivery.put(finding)

    def deliver(self, findings: list[Finding]) -> None:
        """Deliver findings now or raise; runs in the worker thread."""
        raise NotImplementedError

    def begin_close(self) -> None:
        """Start draining now; ``close`` then waits (see ``Delivery.begin_close``)."""
        if self.delivery is not None:
            self.delivery.begin_close()

    def close(self) -> None:
        """Drain the queue (bounded by ``drain_timeout``), spool the rest."""
        if self.delivery is not None:
            self.delivery.close()
