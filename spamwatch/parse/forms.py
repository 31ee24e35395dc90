"""The everyday lines of a mail log, read whole by one regex: ``Parser.parse_block``'s fast path.

Five forms are nearly every line a reader of messages needs: smtpd's
``client=``, cleanup's ``message-id=``, qmgr's ``(queue active)`` and
``removed``, and a delivery agent's usual ``to=`` line. The general path
reads such a line in about ten steps of Python (the header regex, decoding,
control characters, the daemon's handler, its prefixes, the kind's regex, the
fields); here one regex, run on the block decoded once, reads the header, the
queue id and the fields together, and a builder per form makes the fields.

The rule that keeps this honest: whatever ``LINE`` reads as a form, the
general path (``Parser._read``) reads the same way, field for field and in the
same order (``tests/test_parse_forms.py`` checks every line of the corpus,
the samples and a synthetic log both ways). So the forms only take printable
ASCII (nothing to decode or escape), end at the end of the line, and take no
value the general path would cut otherwise (no ``>`` inside ``<...>``, no
``,`` inside a ``key=value``); a line of any other shape is read by the
general path, as are the daemons and kinds a form does not fit (see
``Parser._parse_candidates``). ``other`` matches any line whose header and
queue id fit, so that a line of another program is counted without the
general path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from spamwatch.parse.grammar import QUEUE_ID_FORM, Fields, handed_on, usual_delivery_fields

_NAME = r"[!-Z\\^-~]"
"""Printable ASCII but space, ``[`` and ``]``: the header's ``[^ \\[\\]]``."""
_NAME_END = r"[!-9;-Z\\^-~]"
"""... and not ``:``: the header's ``[^ \\[\\]:]``."""
_VALUE = r"[ -+\--~]*"
"""A ``key=value`` up to the next comma (printable ASCII)."""
_ANGLED = r"[ -=?-~]*"
"""Inside ``<...>`` up to the first ``>`` (printable ASCII)."""

BODIES: Final = {
    "removed": "removed",
    "message_id": "message-id=<([ -~]*)>",
    "queued": rf"from=<({_ANGLED})>, size=(\d+), nrcpt=(\d+) \(queue active\)",
    "client": rf"client=({_NAME}*)\[([0-9A-Fa-f.:]*)\]"
    rf"(?:, sasl_method=({_VALUE}), sasl_username=({_VALUE}))?",
    "delivery": rf"to=<({_ANGLED})>, (?:orig_to=({_VALUE}), )?relay=({_VALUE}), "
    rf"(?:conn_use=(\d+), )?delay=(\d+(?:\.\d+)?), delays=({_VALUE}), "
    rf"dsn=({_VALUE}), status=([\w-]+) \(([ -~]*)\)",
}
"""Each form's message text after the queue id, to the end of the line."""

LINE: Final = re.compile(
    r"([A-Z][a-z]{2} [ 0-9]?\d \d\d:\d\d:\d\d"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) "
    rf"({_NAME}*{_NAME_END}) ({_NAME_END}+)(?:\[(\d{{1,10}})\])?: ({QUEUE_ID_FORM}): (?:"
    + "".join(f"(?P<{name}>{body})$|" for name, body in BODIES.items())
    + "(?P<other>))",
    re.ASCII | re.MULTILINE,
)
"""Timestamp, host, program, pid, queue id (groups 1-5, as ``header.FAST_HEADER``
reads them), then one form, named by ``lastgroup``. On text decoded from
Latin-1, so that positions are the bytes' positions."""


def _removed(_: str) -> Fields:
    return {}


def _message_id(message_id: str) -> Fields:
    return {"message_id": message_id}


def _queued(groups: tuple[str, str, str]) -> Fields:
    sender, size, nrcpt = groups
    return {"from": sender, "size": int(size), "nrcpt": int(nrcpt)}


def _client(groups: tuple[str, str, str | None, str | None]) -> Fields:
    name, ip, method, username = groups
    fields = {"client_name": name, "client_ip": ip}
    if method is not None:
        fields["sasl_method"] = method
        fields["sasl_username"] = username  # type: ignore[assignment]
    return fields


def _delivery(groups: tuple[Any, ...]) -> Fields:
    return handed_on(usual_delivery_fields(*groups))


Build = Callable[[Any], Fields]

FORMS: Final[dict[str, tuple[str, str | None, tuple[int, ...], Build, tuple[int, ...]]]] = {
    "removed": ("removed", "qmgr", (6,), _removed, (6,)),
    "message_id": ("message_id", "cleanup", (8,), _message_id, (8,)),
    "queued": ("queued", "qmgr", (10, 11, 12), _queued, (9,)),
    "client": ("client", "smtpd", (14, 15, 16, 17), _client, (13,)),
    "delivery": ("delivery", None, (19, 20, 21, 22, 23, 24, 25, 26, 27), _delivery, (18,)),
}
"""Form -> (event kind, the daemon whose handler reads it that way or None for
any daemon, the groups its fields are made of, the builder of the fields from
``match.group(*groups)``: a string for one group, else a tuple; the group a
row carries, ``Parser.tuples``: the value or the whole text of the form)."""


def _from_text(name: str, build: Build) -> Build:
    """The fields of form ``name`` from its whole text (``BODIES``): read again here.

    A row (``Parser.tuples``) carries a form's text as one string rather
    than each of its values: the reading process, the busier of the two
    (``parse.forked``), then neither builds nor hands over a string per
    value, and the process that builds the Event reads them out of the text
    with the same regex, so the fields are the same.
    """
    body = re.compile(BODIES[name], re.ASCII)

    def fields(text: str) -> Fields:
        return build(body.fullmatch(text).groups())  # type: ignore[union-attr]

    return fields


FIELDS: Final[dict[str, Build]] = {
    kind: build if shipped == groups else _from_text(name, build)
    for name, (kind, _, groups, build, shipped) in FORMS.items()
}
"""Kind -> the builder of its form's fields from what a row carries (each kind
has one form), for the process that builds the Event (``parser.event_of``)."""
