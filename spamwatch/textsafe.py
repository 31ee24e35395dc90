"""One policy for showing text that came from strangers: what is not printable is escaped.

Senders, HELO names, usernames, reasons and a command's stderr come from
whoever talks to the mail server. Before any of it reaches a terminal, a
syslog daemon, a mail header, a JSON line or a TOML file, every character
that Python does not call printable (``str.isprintable``: C0 and C1 controls,
DEL, NUL, line and paragraph separators, bidi embeddings, overrides and
isolates, other format characters) is shown as a visible escape, so it cannot
move the cursor, forge a line or reorder what a reader sees. Every output uses
this module: the parser's text, sinks, the live view, the queue probe's
messages and the config writer. Only the escape syntax differs by format:

- ``clean``: ``\\xNN``, ``\\uNNNN``, ``\\UNNNNNNNN`` (plain text, one line);
- ``json_line``: JSON's ``\\uNNNN`` (a surrogate pair above U+FFFF), still valid JSON;
- ``toml_string``: TOML's ``\\uNNNN`` / ``\\UNNNNNNNN`` in a basic string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _plain(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _json(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    high, low = divmod(code - 0x10000, 0x400)
    return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"


def _toml(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _escape(text: str, form: Any) -> str:
    if text.isprintable():  # the common case, checked in C
        return text
    return "".join(char if char.isprintable() else form(char) for char in text)


def clean(text: object, limit: int | None = None) -> str:
    """``text`` as one printable line: what is not printable shown as ``\\xNN``.

    ``limit`` cuts the result to that many characters (with "..." at the end),
    for places with a size budget such as a mail subject or a syslog packet.
    """
    out = _escape(str(text), _plain)
    if limit is not None and len(out) > limit:
        out = out[: max(limit - 3, 0)] + "..."
    return out


def json_line(data: Mapping[str, Any]) -> str:
    """A JSON object on one line, safe to write to a terminal; decodes to the original text.

    ``json`` escapes C0 controls itself; with ``ensure_ascii=False`` the rest
    (C1, U+2028/9, bidi controls) would pass through, so they are escaped here.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    return _escape(text, _json)


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (quoted), nothing unprintable left in it."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{_escape(escaped, _toml)}"'
