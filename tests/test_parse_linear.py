"""Hostile lines cost linear time: no pattern of the parser backtracks over log text.

Log lines are written by strangers, and one regex that tries every start
position and scans to the end of the line from each (``[^\\s\\[\\]]*\\[`` over
64 KB of ``a``) turned one line into 44 s of CPU and left ``follow`` behind an
attack. Each line kind below is stretched with text that used to make some
pattern rescan (runs of letters, digits, brackets, ``to=<``, ``status=x (``,
...) to 1 KB, 64 KB and 1 MB, through both paths that read lines
(``Parser.parse``, used by ``follow`` and ``events``, and ``Parser.parse_block``
used by ``events --messages``).

Cost is compared for the same number of bytes, not against a clock: one
64 KB line against 64 lines of 1 KB, one 1 MB line against 16 lines of 64 KB.
Linear code costs about the same for both shapes (less for the long line,
which saves the per-line overhead); a quadratic pattern costs 64 (16) times
more for the long one. The bound is generous (a loaded machine only adds
noise), and each measure is the best of a few runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from spamwatch.correlate import KINDS
from spamwatch.parse import Parser

HEAD = "Nov 28 03:13:06 mx1 "
QID = "4PbMVG6Tmjz3tG3"

FORMS: dict[str, str] = {
    "connect": "postfix/smtpd[812]: connect from {}[192.0.2.1]:25",
    "disconnect": "postfix/smtpd[812]: disconnect from a[192.0.2.1] ehlo=1 {}",
    "client": f"postfix/smtpd[812]: {QID}: client=a[192.0.2.1], sasl_username={{}}",
    "reject": "postfix/smtpd[812]: NOQUEUE: reject: RCPT from a[192.0.2.1]: 554 5.7.1 {};"
    " from=<a@x> to=<b@x> proto=ESMTP helo=<h>",
    "reject_stage": "postfix/smtpd[812]: NOQUEUE: reject: {}",
    "reject_envelope": "postfix/smtpd[812]: NOQUEUE: reject: RCPT from a[192.0.2.1]: 554 5.7.1"
    " x; from=<a@x> to=<b@x> {}",
    "sasl_failure": "postfix/smtpd[812]: warning: a[192.0.2.1]: SASL LOGIN authentication"
    " failed: {}, sasl_username=u",
    "message_id": f"postfix/cleanup[812]: {QID}: message-id=<{{}}@x>",
    "content": f"postfix/cleanup[812]: {QID}: warning: header Subject: {{}} from a[192.0.2.1];"
    " from=<a@x> to=<b@x> proto=ESMTP helo=<h>: spam",
    "content_envelope": f"postfix/cleanup[812]: {QID}: reject: body {{}} from local;"
    " from=<a@x> {{}}",
    "pickup": f"postfix/pickup[812]: {QID}: uid=0 from=<{{}}>",
    "queued": f"postfix/qmgr[812]: {QID}: from=<{{}}>, size=1, nrcpt=1 (queue active)",
    "removed": f"postfix/qmgr[812]: {QID}: removed{{}}",
    "expired": f"postfix/qmgr[812]: {QID}: from=<{{}}>, status=expired, returned to sender",
    "delivery": f"postfix/smtp[812]: {QID}: to=<b@x>, relay=r[192.0.2.2]:25, delay=1,"
    " delays=0/0/0/1, dsn=2.0.0, status=sent (250 {})",
    "delivery_keys": f"postfix/local[812]: {QID}: to=<b@x>, {{}}status=sent (delivered)",
    "delivery_open": f"postfix/local[812]: {QID}: to=<b@x>, relay=local, {{}}",
    "notification": f"postfix/bounce[812]: {QID}: sender non-delivery {{}} notification: ABC12",
    "postsuper": "postfix/postsuper[812]: Deleted: {} messages",
    "anvil": "postfix/anvil[812]: statistics: max connection rate {} 1/60s for (smtpd:{})"
    " at Nov 28 03:13:06",
    "postscreen": "postfix/postscreen[812]: CONNECT from {} [192.0.2.1]:25 to [{}]:25",
    "warning": "postfix/smtpd[812]: warning: {} a[192.0.2.1]:25",
    "error": "postfix/smtp[812]: error: {}",
    "fatal": "postfix/smtpd[812]: fatal: hostname {} does not resolve to address 1",
    "panic": f"postfix/qmgr[812]: {QID}: panic: {{}}",
    "lost_connection": "postfix/smtpd[812]: lost connection after {} from a[192.0.2.1]",
    "timeout": "postfix/smtpd[812]: timeout after {} from a[192.0.2.1]",
    "generic": "postfix/smtpd[812]: {}",
    "resent_message_id": f"postfix/cleanup[812]: {QID}: resent-message-id=<{{}}@x>",
    "host": "{} postfix/smtpd[812]: connect from a[192.0.2.1]",
    "program": "{}[812]: connect from a[192.0.2.1]",
}
"""Each kind's line form; ``{}`` is where the hostile text goes (``HEAD`` is put
before forms that do not start with their own header)."""

FILLERS = (
    "a", "1", "A", " ", "[", "[a", "a[1", ":", "a:", "<", "to=< ", ", a=b", "=", "(",
    "status=x (", "status=x (a, ", " from a", " from ", "A- ", "a]", "1.", "hostname ",
    "sasl_username=", "notification", ": ", "; from=<",
)  # fmt: skip

SIZES = (1024, 64 * 1024, 1024 * 1024)


def stretched(form: str, filler: str, size: int) -> bytes:
    """The line of ``form`` about ``size`` bytes long, its slots full of ``filler``."""
    template = form if form.startswith("{}") else HEAD + form
    fixed = len(template.replace("{}", ""))
    slots = template.count("{}")
    times = max(1, (size - fixed) // (len(filler) * slots))
    return template.replace("{}", filler * times).encode()


def by_line(lines: list[bytes]) -> None:
    parser = Parser()
    for line in lines:
        parser.parse(line)


def by_block(lines: list[bytes]) -> None:
    Parser(kinds=KINDS, queue_ids_only=True).parse_block(b"\n".join(lines) + b"\n")


PATHS: dict[str, Callable[[list[bytes]], None]] = {"parse": by_line, "parse_block": by_block}


def cost(read: Callable[[list[bytes]], None], lines: list[bytes], under: float = 0.0) -> float:
    """The best of three CPU times to read ``lines`` (noise only ever adds).

    With ``under``, stop at the first time below it (the bound is met), or
    after one far above it (a quadratic line is no noise, and slow to repeat).
    """
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        read(lines)
        best = min(best, time.process_time() - start)
        if under and (best <= under or best > 10 * under):
            break
    return max(best, 1e-4)  # below the clock's resolution a ratio means nothing


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("kind", sorted(FORMS))
def test_each_line_kind_costs_linear_time(kind: str, path: str) -> None:
    """1 KB, 64 KB and 1 MB lines: the long line may cost at most a few times the
    same bytes in shorter lines (64 x 1 KB for 64 KB, 16 x 64 KB for 1 MB)."""
    read = PATHS[path]
    for filler in FILLERS:
        small, medium, large = (stretched(FORMS[kind], filler, size) for size in SIZES)
        per_byte = cost(read, [small] * 64) / (64 * len(small))
        spent = cost(read, [medium], under=8 * per_byte * len(medium))
        r64 = spent / (per_byte * len(medium))
        per_byte = max(per_byte, spent / len(medium))
        r1m = cost(read, [large], under=4 * per_byte * len(large)) / (per_byte * len(large))
        assert r64 <= 8 and r1m <= 4, (
            f"{kind} lines stretched with {filler!r} cost more than linear time:"
            f" 64 KB {r64:.1f}x, 1 MB {r1m:.1f}x the cost of the same bytes in shorter lines"
        )


def test_the_reported_lines_are_read() -> None:
    """The two lines of the report (44 s and 42 s) are read, as what they are."""
    parser = Parser()
    resent = f"postfix/cleanup[812]: {QID}: resent-message-id=<".encode() + b"a" * 64_000 + b"@x>"
    event = parser.parse(resent)
    assert event is not None and event.kind == "generic"
    assert event.fields["resent_message_id"] == "a" * 64_000 + "@x"
    digits = b"postfix/smtpd[812]: " + b"1" * 100_000
    assert parser.parse(digits) is None  # longer than the parser reads: counted malformed
    assert parser.stats.malformed == 1
    block = Parser(kinds=KINDS, queue_ids_only=True)
    assert block.parse_block(digits + b"\n" + resent + b"\n") == []
    assert block.stats.lines == 2
