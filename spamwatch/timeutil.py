"""Durations and time zones as users write them ("10m", "1h30m", "Europe/Berlin").

One parser for every duration in the CLI and the config, so "90s" means the
same thing everywhere.
"""

from __future__ import annotations

import re
from datetime import timedelta, tzinfo
from functools import lru_cache

from dateutil import tz

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)


def parse_duration(text: str | int | float) -> timedelta:
    """Read "90s", "10m", "1h30m", "7d", "2w" or a bare number of seconds.

    Raises ValueError with a message fit to show the user.
    """
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"a duration cannot be negative: {text!r}")
        return timedelta(seconds=text)
    raw = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        return timedelta(seconds=float(raw))
    pos = 0
    total = 0.0
    for match in _PART.finditer(raw):
        if raw[pos : match.start()].strip():
            break
        total += float(match.group(1)) * _UNITS[match.group(2).lower()]
        pos = match.end()
    if pos == 0 or raw[pos:].strip():
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 10m, 1h30m, 7d)")
    return timedelta(seconds=total)


@lru_cache(maxsize=256)
def format_duration(delta: timedelta) -> str:
    """The inverse of parse_duration, for config show and messages ("1h30m").

    Evidence names its windows on every Signal of an incident: a few spans, remembered."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


def parse_timezone(name: str) -> tzinfo:
    """A zone by IANA name ("Europe/Berlin"), "UTC", "local", or "+01:00"."""
    if name.lower() == "local":
        zone = tz.tzlocal()
    elif name.upper() in ("UTC", "Z"):
        zone = tz.UTC
    elif re.fullmatch(r"[+-]\d{2}:?\d{2}", name):
        sign = -1 if name[0] == "-" else 1
        digits = name[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
        zone = tz.tzoffset(None, offset)
    else:
        zone = tz.gettz(name)
    if zone is None:
        raise ValueError(f"unknown time zone: {name!r}")
    return zone
