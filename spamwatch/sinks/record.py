"""What the delivery layer carries: any record with ``to_json()`` and an ``id``.

Queues, the spool, retries and the fan-out know nothing of findings or
incidents: they move *records*. A record serialises itself with ``to_json``;
its kind (``record_kind``, "finding" unless the class says otherwise) tells
the spool how to read it back (``register_kind``). Each record also has an
``alert_id``: the same record made twice (a restart re-deriving it from the
warm-up) has the same id, two different records never do, so a receiver can
recognise a duplicate, and the spool does (``SinkSpool.delivered_before``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from spamwatch.model import Incident


class Record(Protocol):
    """What a sink is given (an Incident record)."""

    @property
    def id(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


_KINDS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "incident": Incident.from_json,
    "finding": Incident.from_json,  # spooled by the version before incidents: read as one
}


def register_kind(kind: str, from_json: Callable[[Mapping[str, Any]], Any]) -> None:
    """Teach the spool to read back records of another kind (class attribute ``record_kind``)."""
    _KINDS[kind] = from_json


def record_kind(record: Record) -> str:
    """The record's kind: its class's ``record_kind``, else "incident"."""
    return str(getattr(type(record), "record_kind", "incident"))


def decode_record(entry: Mapping[str, Any]) -> Any:
    """A record back from a spool entry ``{"kind": ..., "record": {...}}``."""
    reader = _KINDS[str(entry.get("kind", "incident"))]
    return reader(entry["record"])


def alert_id(record: Record) -> str:
    """A stable id for this record: the record's own ``alert_id``, else a content hash.

    The hash covers the whole JSON form, which holds log times only (no wall
    clock), so the same record made again after a restart gets the same id.
    """
    own = getattr(record, "alert_id", None)
    if isinstance(own, str) and own:
        return own
    canonical = json.dumps(record.to_json(), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:24]


def alert_json(record: Record) -> dict[str, Any]:
    """The record's JSON form with its ``alert_id``: what alert sinks send."""
    return {**record.to_json(), "alert_id": alert_id(record)}
