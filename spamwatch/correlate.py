"""Events -> Messages joined by (host, queue id).

Postfix logs one mail as a handful of lines from different daemons (smtpd's
``client=``, cleanup's ``message-id=``, qmgr's ``from=... (queue active)``, a
delivery line per recipient and attempt, qmgr's ``removed``). Detectors need
the joined view ("user X's message to Y was deferred"), so the correlator keeps
one small mutable record per open queue file and hands out frozen ``Message``
snapshots only at milestones (``Stage``): building a snapshot per event would
cost more than the parse.

Memory is bounded two ways: an open message older than ``max_age`` in *log*
time is given up (state ``incomplete``), and at most ``max_open`` messages are
held (the oldest is given up first). Both are counted in ``Correlator.stats``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from spamwatch.config import Config
from spamwatch.config.schema import check_options, duration
from spamwatch.errors import ConfigError
from spamwatch.model import EMPTY, Event, Message, MessageUpdate, Recipient, Stage
from spamwatch.slots import builder

MAX_AGE = timedelta(days=6)
"""Longer than Postfix's default maximal_queue_lifetime (5d): a message open
longer than this in log time will not be heard of again."""

MAX_OPEN = 100_000
"""Hard cap on messages held open at once (about 1.2 kB each: a deferred message
with its one recipient; see ``_unseen_end`` for why not its last line too)."""

SWEEP_EVERY = 4096
"""Check for messages older than ``max_age`` once per this many events."""

HANDLERS: dict[str, str] = {
    "client": "_on_start",
    "pickup": "_on_start",
    "message_id": "_on_message_id",
    "queued": "_on_queued",
    "delivery": "_on_delivery",
    "removed": "_on_removed",
    "expired": "_on_expired",
    "notification": "_on_notification",
    "postsuper": "_on_postsuper",
    "reject": "_on_reject",
    "content": "_on_reject",
    "warning": "_on_warning",
}
"""Event kind -> the Correlator method that reads it; every other kind is ignored."""

KINDS = frozenset(HANDLERS)
"""The event kinds the correlator reads; a parser may skip building others
(``Parser(kinds=KINDS)``, ``spamwatch events --messages``)."""

REJECT_ACTIONS = {
    "reject": "rejected",
    "milter-reject": "rejected",
    "discard": "discarded",
    "milter-discard": "discarded",
}
"""Actions that end a queue file before qmgr sees it, and the state they give."""

DISCARDS = frozenset({"discard", "milter-discard"})
"""A DISCARD drops the whole message whatever the stage (even one RCPT's rule)."""

UNSEEN_END = "unseen_end"
"""The kind of the stand-in event of a DONE that no log line caused (``_unseen_end``)."""

MESSAGE_STAGES = frozenset({"DATA", "END-OF-MESSAGE"})

TOO_BIG = "queue file size limit exceeded"
"""smtpd/cleanup warning after which Postfix refuses the message (552)."""
"""smtpd reject stages that throw away the whole queued message (not one RCPT)."""


_message = builder(Message)
_new_recipient = builder(Recipient)
_update = builder(MessageUpdate)
_event = builder(Event)
"""Every field is passed: a snapshot and an update per finished message, a
Recipient per delivery line; ``spamwatch.slots`` says why not ``__init__``."""


@dataclass(slots=True)
class CorrelatorStats:
    """How many messages were opened and how each one ended.

    ``incomplete`` counts every message spamwatch gave up on; ``timed_out``,
    ``evicted`` and ``reused`` say why (older than max_age, over max_open, its
    queue id started a new message). ``open_at_end`` counts what ``flush``
    found still queued.
    """

    messages: int = 0
    done: int = 0
    expired: int = 0
    rejected: int = 0
    discarded: int = 0
    deleted: int = 0
    incomplete: int = 0
    timed_out: int = 0
    evicted: int = 0
    reused: int = 0
    open_at_end: int = 0


class _Open:
    """The mutable record of one open queue file (never leaves this module)."""

    __slots__ = (
        "client_ip",
        "client_name",
        "first_seen",
        "host",
        "last_seen",
        "message_id",
        "nrcpt",
        "orig_client_ip",
        "origin",
        "parent",
        "queue_id",
        "queued",
        "recipients",
        "related",
        "sasl_method",
        "sasl_username",
        "sender",
        "size",
        "started",
        "state",
    )

    def __init__(self, event: Event, queue_id: str) -> None:
        self.host = event.host
        self.queue_id = queue_id
        self.first_seen = self.last_seen = event.time
        self.state = "queued"
        self.origin: str | None = None
        self.started = False  # client= or pickup seen: a second one means reuse
        self.queued = False  # QUEUED emitted
        self.client_name: str | None = None
        self.client_ip: str | None = None
        self.orig_client_ip: str | None = None
        self.sasl_method: str | None = None
        self.sasl_username: str | None = None
        self.sender: str | None = None
        self.size: int | None = None
        self.nrcpt: int | None = None
        self.message_id: str | None = None
        self.recipients: dict[str, Recipient] = {}  # address -> latest attempt
        self.related: tuple[str, ...] = ()  # rarely more than one, so no list kept
        self.parent: str | None = None

    def snapshot(self) -> Message:
        """The frozen view handed to detectors and printers."""
        return _message(
            self.host, self.queue_id, self.first_seen, self.last_seen, self.state, self.origin,
            self.client_name, self.client_ip, self.orig_client_ip, self.sasl_method,
            self.sasl_username, self.sender, self.size, self.nrcpt, self.message_id,
            tuple(self.recipients.values()), self.related, self.parent,
        )  # fmt: skip


def _recipient(event: Event, attempts: int) -> Recipient:
    """A delivery event as the recipient's latest outcome."""
    get = event.fields.get
    return _new_recipient(
        get("to", ""), get("status", ""), event.time, get("orig_to"), get("relay"), get("dsn"),
        get("delay"), get("reason"), attempts,
    )  # fmt: skip


def _unseen_end(rec: _Open) -> Event:
    """The event of a DONE that no line caused: the message's end was not seen.

    A message given up on (older than ``max_age``, over ``max_open``, its queue
    id reused) or still open at the end of input is handed out at the time of
    its last line, with its host and queue id. The line itself is not kept
    for this: it was most of an open message's memory (about 900 bytes of
    the 1.8 kB), and a deferred message is kept open for days.
    """
    return _event(rec.last_seen, rec.host, "spamwatch", "correlate", None, rec.queue_id,
                  UNSEEN_END, EMPTY)  # fmt: skip


def _is_loopback(ip: str | None) -> bool:
    return ip is not None and (ip.startswith("127.") or ip == "::1")


Handler = Callable[[Event, list[MessageUpdate]], None]


class Correlator:
    """Join events into messages; emit ``MessageUpdate`` at each milestone.

    ``stages`` limits which milestones are built (a command that prints only
    finished messages passes ``{Stage.DONE}`` and pays for no other
    snapshot); the bookkeeping and ``stats`` are the same either way.
    ``flush_open``: whether ``flush`` reports still-queued messages (see there).
    """

    defaults: ClassVar[Mapping[str, Any]] = {"max_age": "6d", "max_open": MAX_OPEN}
    """The ``[correlate]`` config table (see ``from_config``)."""

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> Correlator:
        """A correlator with ``[correlate] max_age`` and ``max_open`` applied."""
        table = {
            **cls.defaults,
            **check_options("correlate", config.section("correlate"), cls.defaults),
        }
        if int(table["max_open"]) < 1:
            raise ConfigError(f"correlate.max_open: must be at least 1, got {table['max_open']!r}")
        return cls(max_age=duration(table["max_age"]), max_open=int(table["max_open"]), **kwargs)

    def __init__(
        self,
        max_age: timedelta = MAX_AGE,
        max_open: int = MAX_OPEN,
        stages: Collection[Stage] = tuple(Stage),
        flush_open: bool = False,
    ) -> None:
        if max_open < 1:
            raise ValueError("max_open must be at least 1")
        self.max_age = max_age
        self.max_open = max_open
        self.flush_open = flush_open
        self.stats = CorrelatorStats()
        self._want_queued = Stage.QUEUED in stages
        self._want_delivery = Stage.DELIVERY in stages
        self._want_done = Stage.DONE in stages
        # Oldest first; OrderedDict so dropping the oldest is O(1) however many
        # entries were deleted before it.
        self._open: OrderedDict[tuple[str, str], _Open] = OrderedDict()
        self._by_message_id: dict[tuple[str, str], _Open] = {}
        self._countdown = SWEEP_EVERY
        self._handlers: dict[str, Handler] = {
            kind: getattr(self, method) for kind, method in HANDLERS.items()
        }

    @property
    def open_count(self) -> int:
        """Messages currently held open."""
        return len(self._open)

    def feed(self, event: Event) -> list[MessageUpdate]:
        """Take one event; return the milestones it completed (often none)."""
        out: list[MessageUpdate] = []
        self._take(event, out)
        return out

    def feed_many(self, events: Iterable[Event]) -> list[MessageUpdate]:
        """``feed`` for a batch (a block's events): all their milestones, in order.

        One call and one list per batch instead of per event: with most
        events completing nothing, that is a tenth of the correlator's cost.
        """
        out: list[MessageUpdate] = []
        take = self._take
        for event in events:
            take(event, out)
        return out

    def _take(self, event: Event, out: list[MessageUpdate]) -> None:
        """Apply one event; append the milestones it completed to ``out``."""
        if event.queue_id is None:
            return
        handler = self._handlers.get(event.kind)
        if handler is None:
            return
        handler(event, out)
        self._countdown -= 1
        if self._countdown <= 0:
            self._countdown = SWEEP_EVERY
            self._sweep(event.time - self.max_age, out)

    def flush(self) -> list[MessageUpdate]:
        """End of input: forget every open message.

        The log ended, not the messages: they are still in Postfix's queue,
        so they are not "incomplete". With ``flush_open`` each is reported as
        a ``DONE`` update whose message keeps state ``queued`` (``events
        --messages --include-open`` prints them); by default nothing is
        emitted, so detectors never count a message twice across runs.
        """
        out: list[MessageUpdate] = []
        self.stats.open_at_end += len(self._open)
        if self.flush_open and self._want_done:
            for rec in self._open.values():
                out.append(_update(Stage.DONE, rec.snapshot(), _unseen_end(rec), None))
        self._open.clear()
        self._by_message_id.clear()
        return out

    # -- lookup and lifecycle -------------------------------------------------

    def _get(self, event: Event, out: list[MessageUpdate]) -> _Open:
        """The open record for the event's queue id, created on first sight."""
        key = (event.host, event.queue_id or "")
        rec = self._open.get(key)
        if rec is None:
            return self._create(event, key, out)
        rec.last_seen = event.time
        return rec

    def _create(self, event: Event, key: tuple[str, str], out: list[MessageUpdate]) -> _Open:
        if len(self._open) >= self.max_open:
            self._evict(out)
        rec = _Open(event, key[1])
        self._open[key] = rec
        self.stats.messages += 1
        return rec

    def _evict(self, out: list[MessageUpdate]) -> None:
        """Over the cap: give up on the oldest open message."""
        oldest = next(iter(self._open.values()))
        self.stats.evicted += 1
        self._finish(oldest, "incomplete", out)

    def _sweep(self, cutoff: datetime, out: list[MessageUpdate]) -> None:
        """Give up on messages first seen before ``cutoff`` (log time)."""
        stale = []
        for rec in self._open.values():
            if rec.first_seen >= cutoff:
                break
            stale.append(rec)
        for rec in stale:
            self.stats.timed_out += 1
            self._finish(rec, "incomplete", out)

    def _finish(
        self, rec: _Open, state: str, out: list[MessageUpdate], event: Event | None = None
    ) -> None:
        """Close ``rec`` with its final ``state``; emit DONE into ``out``.

        ``event``: the line that ended it; None when none did (given up on).
        """
        rec.state = state
        setattr(self.stats, state, getattr(self.stats, state) + 1)
        del self._open[(rec.host, rec.queue_id)]
        if rec.message_id is not None:
            mid_key = (rec.host, rec.message_id)
            if self._by_message_id.get(mid_key) is rec:
                del self._by_message_id[mid_key]
        if self._want_done:
            out.append(_update(Stage.DONE, rec.snapshot(), event or _unseen_end(rec), None))

    # -- handlers, one per event kind -----------------------------------------

    def _on_start(self, event: Event, out: list[MessageUpdate]) -> None:
        """smtpd ``client=`` or pickup: a queue file is born."""
        rec = self._open.get((event.host, event.queue_id or ""))
        if rec is not None and (rec.started or rec.queued):
            # The id was reused: the old message ended without telling us.
            self.stats.reused += 1
            self._finish(rec, "incomplete", out)
        rec = self._get(event, out)
        rec.started = True
        f = event.fields
        if event.kind == "pickup":
            rec.origin = "pickup"
            if rec.sender is None:
                rec.sender = f.get("from")
            return
        if rec.origin is None:
            rec.origin = event.daemon
        rec.client_name = f.get("client_name")
        rec.client_ip = f.get("client_ip")
        rec.orig_client_ip = f.get("orig_client_ip")
        rec.sasl_method = f.get("sasl_method")
        rec.sasl_username = f.get("sasl_username")

    def _on_message_id(self, event: Event, out: list[MessageUpdate]) -> None:
        """cleanup's ``message-id=``; spots a content filter's re-injection early.

        A filter re-injects over loopback, unauthenticated, while the original
        queue file (same Message-ID, same host) is still open and being
        delivered to the filter: link them now, before qmgr's ``queue active``,
        so the copy's QUEUED already says ``reinjected``. The relay's reply
        ``queued as ID`` confirms the link later.
        """
        rec = self._get(event, out)
        mid = event.fields.get("message_id")
        if not mid:
            return
        rec.message_id = mid
        key = (event.host, mid)
        first = self._by_message_id.get(key)
        if first is None:
            self._by_message_id[key] = rec
        elif (
            first is not rec
            and first.queued
            and rec.origin == "smtpd"
            and rec.sasl_username is None
            and _is_loopback(rec.client_ip)
        ):
            self._link(first, rec, "reinjected")

    def _on_queued(self, event: Event, out: list[MessageUpdate]) -> None:
        """qmgr ``(queue active)``: QUEUED the first time only (retries repeat it)."""
        rec = self._get(event, out)
        f = event.fields
        rec.sender = f.get("from", rec.sender)
        rec.size = f.get("size", rec.size)
        rec.nrcpt = f.get("nrcpt", rec.nrcpt)
        if rec.queued:
            return
        rec.queued = True
        if self._want_queued:
            out.append(_update(Stage.QUEUED, rec.snapshot(), event, None))

    def _on_delivery(self, event: Event, out: list[MessageUpdate]) -> None:
        """One recipient's attempt: latest status wins, attempts add up."""
        rec = self._get(event, out)
        f = event.fields
        address = f.get("to", "")
        previous = rec.recipients.get(address)
        attempts = 1 if previous is None else previous.attempts + 1
        rec.recipients[address] = recipient = _recipient(event, attempts)
        next_id = f.get("queued_as")
        if next_id is not None:
            self._link_next(rec, next_id, "reinjected")
        else:
            reason = f.get("reason")
            if isinstance(reason, str) and reason.startswith("forwarded as "):
                self._link_next(rec, reason[13:].strip(), "forwarded")
        if self._want_delivery:
            out.append(_update(Stage.DELIVERY, rec.snapshot(), event, recipient))

    def _on_removed(self, event: Event, out: list[MessageUpdate]) -> None:
        """qmgr ``removed``: the queue file is gone, the message is over."""
        rec = self._touch(event)
        if rec is not None:
            self._finish(rec, "expired" if rec.state == "expired" else "done", out, event)

    def _on_expired(self, event: Event, out: list[MessageUpdate]) -> None:
        """``status=expired, returned to sender``: ends at the ``removed`` that follows."""
        rec = self._get(event, out)
        rec.state = "expired"
        if rec.sender is None:
            rec.sender = event.fields.get("from")

    def _on_notification(self, event: Event, out: list[MessageUpdate]) -> None:
        """bounce/defer/trace: the notice is a new message about this one."""
        new_id = event.fields.get("new_queue_id")
        self._touch(event)
        if not new_id:
            return
        key = (event.host, new_id)
        notice = self._open.get(key) or self._create(event, key, out)
        notice.origin = "bounce"
        notice.parent = event.queue_id

    def _on_postsuper(self, event: Event, out: list[MessageUpdate]) -> None:
        """``postsuper -d``: an admin deleted the queue file."""
        if event.fields.get("action") == "removed":
            rec = self._touch(event)
            if rec is not None:
                self._finish(rec, "deleted", out, event)

    def _on_reject(self, event: Event, out: list[MessageUpdate]) -> None:
        """A reject/discard that throws away the whole queue file before qmgr."""
        f = event.fields
        action = f.get("action", "")
        state = REJECT_ACTIONS.get(action)
        if state is None:
            return
        if (
            action not in DISCARDS
            and event.daemon != "cleanup"
            and f.get("stage") not in MESSAGE_STAGES
        ):
            return  # one RCPT refused: the message goes on
        rec = self._touch(event)
        if rec is not None:
            self._finish(rec, state, out, event)

    def _on_warning(self, event: Event, out: list[MessageUpdate]) -> None:
        """``QID: queue file size limit exceeded``: the client got a 552, no mail."""
        text = event.fields.get("text")
        if isinstance(text, str) and text.endswith(TOO_BIG):
            rec = self._touch(event)
            if rec is not None:
                self._finish(rec, "rejected", out, event)

    # -- helpers --------------------------------------------------------------

    def _touch(self, event: Event) -> _Open | None:
        """The open record, if any, updated to this event (never creates one)."""
        rec = self._open.get((event.host, event.queue_id or ""))
        if rec is not None:
            rec.last_seen = event.time
        return rec

    def _link_next(self, rec: _Open, next_id: str, origin: str) -> None:
        """The delivery handed the mail on under ``next_id`` on this host."""
        nxt = self._open.get((rec.host, next_id))
        if nxt is not None and nxt is not rec:
            self._link(rec, nxt, origin)

    def _link(self, first: _Open, copy: _Open, origin: str) -> None:
        """Mark ``copy`` as the same mail as ``first``, seen under another id.

        A re-injected copy also takes over who submitted the mail (client,
        SASL login), so deferrals of the filtered copy count against the
        user who sent it.
        """
        if first.queue_id not in copy.related:
            copy.related += (first.queue_id,)
        if copy.queue_id not in first.related:
            first.related += (copy.queue_id,)
        copy.origin = origin
        if origin == "reinjected":
            copy.client_name = first.client_name
            copy.client_ip = first.client_ip
            copy.orig_client_ip = first.orig_client_ip
            copy.sasl_method = first.sasl_method
            copy.sasl_username = first.sasl_username
