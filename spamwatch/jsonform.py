"""The documented JSON forms of events and messages (man/spamwatch.1).

One place builds them so every command that prints an event or a message
(``events``, ``report --json``, a sink's evidence) prints the same keys; the
layout is a contract with whoever reads spamwatch's output, so change it only
together with the EVENT JSON and MESSAGE JSON sections of the man page.
"""

from __future__ import annotations

import json
from datetime import datetime
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

try:
    import orjson
except ImportError:  # a virtualenv made before the dependency: the standard encoder alone
    orjson = None  # type: ignore[assignment]

from spamwatch.model import Event, Message, Recipient

ISO_CACHE_SIZE = 4096
_iso_cache: dict[int, tuple[datetime, str]] = {}


def iso(when: datetime) -> str:
    """``when.isoformat()``, remembered for the datetime objects seen last.

    The parser hands the same datetime object to every line of one timestamp,
    and a message repeats its times; isoformat on a zone like dateutil's
    tzlocal runs Python code each call, so this is a large share of printing.
    The cache is keyed by identity (checked with ``is``) and cleared when full.
    """
    hit = _iso_cache.get(id(when))
    if hit is not None and hit[0] is when:
        return hit[1]
    text = when.isoformat()
    if len(_iso_cache) >= ISO_CACHE_SIZE:
        _iso_cache.clear()
    _iso_cache[id(when)] = (when, text)
    return text


def event_to_json(event: Event) -> dict[str, Any]:
    """An Event as a flat object: the header keys, then the kind's fields.

    Flat rather than nested under "fields" so ``jq 'select(.sasl_username)'``
    works; no field name of the event vocabulary collides with a header key.
    """
    out: dict[str, Any] = {
        "time": iso(event.time),
        "host": event.host,
        "program": event.program,
        "daemon": event.daemon,
        "pid": event.pid,
        "queue_id": event.queue_id,
        "kind": event.kind,
    }
    out.update(event.fields)
    return out


def recipient_to_json(recipient: Recipient) -> dict[str, Any]:
    """One recipient's latest delivery outcome."""
    return {
        "address": recipient.address,
        "status": recipient.status,
        "time": iso(recipient.time),
        "attempts": recipient.attempts,
        "orig_to": recipient.orig_to,
        "relay": recipient.relay,
        "dsn": recipient.dsn,
        "delay": recipient.delay,
        "reason": recipient.reason,
    }


def message_to_json(message: Message) -> dict[str, Any]:
    """A Message with every key always present (null when the log did not say)."""
    return {
        "host": message.host,
        "queue_id": message.queue_id,
        "state": message.state,
        "first_seen": iso(message.first_seen),
        "last_seen": iso(message.last_seen),
        "origin": message.origin,
        "client_name": message.client_name,
        "client_ip": message.client_ip,
        "orig_client_ip": message.orig_client_ip,
        "sasl_method": message.sasl_method,
        "sasl_username": message.sasl_username,
        "sender": message.sender,
        "size": message.size,
        "nrcpt": message.nrcpt,
        "message_id": message.message_id,
        "recipients": [recipient_to_json(r) for r in message.recipients],
        "related": list(message.related),
        "parent": message.parent,
    }


_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))
_C_ENCODE = (
    c_make_encoder(
        None, _ENCODER.default, encode_basestring_ascii, None, ":", ",", False, False, True
    )
    if c_make_encoder is not None
    else None
)
"""``_ENCODER``'s own C encoder, built once: ``JSONEncoder.encode`` builds it
anew for every call, a sixth of the cost of a message line. ``None`` markers
only drop the circular-reference check (our values are trees)."""


def dumps(value: dict[str, Any]) -> str:
    """Compact one-line JSON (JSON Lines), pure ASCII.

    Log text is data: with every non-ASCII character (and DEL) written as a
    ``\\u`` escape, no control character (C0, DEL, C1) of a hostile line can
    reach the reader's terminal, and undecodable bytes kept as lone
    surrogates cannot make the write fail.

    ``orjson`` (C, 5 times the standard encoder's speed: a message line in
    1.6 instead of 8.6 us) writes nearly every line; it writes UTF-8 and DEL
    as they are and refuses lone surrogates, so a line it writes with any
    byte outside printable ASCII, or cannot write, is written again by the
    standard library's encoder, which escapes them: the output is the same
    either way but for the spelling of a float below 1e-4 or from 1e16 on
    (``0.00001`` for ``1e-05``), the same number. Without orjson installed (a
    virtualenv made before it was a dependency) the standard encoder writes all.
    """
    if orjson is not None:
        try:
            data = orjson.dumps(value)
        except (orjson.JSONEncodeError, TypeError):
            data = b"\x7f"  # not ours to write: the standard encoder below
        if data.isascii() and b"\x7f" not in data:
            return data.decode("ascii")
    if _C_ENCODE is None:
        return _ENCODER.encode(value)
    return "".join(_C_ENCODE(value, 0))
