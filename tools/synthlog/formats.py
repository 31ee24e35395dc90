"""Numbers as Postfix writes them: delays, smtpd's command counts, long queue-id digits.

Why: a parser is only tested by lines it will meet, so these follow Postfix's
own formatting, digit for digit.
"""

from __future__ import annotations

from collections.abc import Sequence


def fmt_delay(seconds: float) -> str:
    """Format a delay the way Postfix does: "0", "0.17", "1.2", "21", "420316"."""
    if seconds >= 10:
        return str(int(seconds))
    if seconds >= 1:
        text = f"{seconds:.1f}"
    elif seconds >= 0.01:
        text = f"{seconds:.2f}"
    else:
        return "0"
    return text.rstrip("0").rstrip(".")


def command_counts(counts: Sequence[tuple[str, int, int]]) -> str:
    """smtpd's disconnect summary: "ehlo=2 starttls=1 auth=0/1 quit=1 commands=4/5"."""
    parts = [
        f"{name}={ok}" if ok == total else f"{name}={ok}/{total}" for name, ok, total in counts
    ]
    ok = sum(c[1] for c in counts)
    total = sum(c[2] for c in counts)
    parts.append(f"commands={ok}" if ok == total else f"commands={ok}/{total}")
    return " ".join(parts)


LONG_ID_DIGITS = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"
"""Postfix's base-52 digits for long queue ids (no vowels; ``z`` is not used in base 51)."""


def postfix_digits(value: int, base: int, width: int) -> str:
    """``value`` in Postfix's long-queue-id digits, left-padded with "0" to ``width``."""
    out = []
    while value:
        value, digit = divmod(value, base)
        out.append(LONG_ID_DIGITS[digit])
    return "".join(reversed(out)).rjust(width, "0")
