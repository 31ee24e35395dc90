"""The detector extension point.

A detector watches the event and message stream of one pipeline and emits
``Signal`` values whenever a key (a SASL user, a client address, a host) looks
abnormal. It keeps its own bounded, expiring state in *log time*: it never
reads the wall clock, so ``report`` over a file and ``follow`` live give the
same findings. Deduplication, escalation and resolution are not its job: the
``FindingTracker`` (spamwatch.incidents.tracker) does that for every detector alike.

Built-in detectors and third-party ones register the same way, as entry points
in the ``spamwatch.detectors`` group naming a ``Detector`` subclass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from spamwatch.model import Event, MessageUpdate, QueueSample, Signal, Stage


class Detector:
    """Base class: override the hooks you need; each returns Signals (or nothing).

    ``name`` is the entry point name and the config section
    (``[detectors.NAME]``); ``defaults`` documents every option with its
    default, and ``options`` is the effective mapping after the config file.
    Per-user overrides live under ``[users."NAME".detectors.NAME]`` and are read
    through ``option(key, user)``.
    """

    name: ClassVar[str] = "base"
    description: ClassVar[str] = ""
    defaults: ClassVar[Mapping[str, Any]] = {}
    event_kinds: ClassVar[frozenset[str] | None] = None
    """The event kinds ``on_event`` reads; None (the default) is every kind.

    The pipeline calls ``on_event`` only with these, so a detector that reads
    two kinds of a log's dozens costs nothing on the other lines. A detector
    that does not override ``on_event`` is never called with events at all.
    """

    update_stages: ClassVar[frozenset[Stage] | None] = None
    """The message milestones ``on_update`` reads; None (the default) is every one.

    A busy log has three or four updates per message and most detectors read
    one kind of them (deliveries, or the message's arrival in the queue): the
    pipeline calls ``on_update`` with these only.
    """

    def __init__(
        self,
        options: Mapping[str, Any] | None = None,
        user_options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.options: dict[str, Any] = {**self.defaults, **(options or {})}
        self.user_options: Mapping[str, Mapping[str, Any]] = user_options or {}

    def option(self, key: str, user: str | None = None) -> Any:
        """An option's value for ``user`` (per-user override) or globally."""
        if user is not None:
            per_user = self.user_options.get(user)
            if per_user is not None and key in per_user:
                return per_user[key]
        return self.options[key]

    def on_event(self, event: Event) -> Iterable[Signal]:
        """Called for every recognised event, in log order."""
        return ()

    def on_update(self, update: MessageUpdate) -> Iterable[Signal]:
        """Called for every message milestone from the correlator."""
        return ()

    def on_sample(self, sample: QueueSample) -> Iterable[Signal]:
        """Called with each new sample of the real queue (only while the log is live).

        Samples come from a source (``postqueue -j``), never from a detector's
        own I/O; ``sample.time`` is when it was taken, to compare with log time.
        """
        return ()

    def tick(self, now: datetime) -> Iterable[Signal]:
        """Called as log time advances (at least once per log second seen).

        Expire window state here; a detector may also re-evaluate keys.
        """
        return ()
