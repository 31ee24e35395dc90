"""Hostile text costs the detectors linear time, as it costs the parser (test_parse_linear).

A remote server writes the reply our log keeps (``status=bounced (host X said:
...)``), and a client writes what a SASL failure or a rejection quotes: the
detectors read that text with regular expressions of their own (blocklist
replies, listed addresses, reasons, connection failures). One of them, a
blocklist entry written as two ``(?=.*...)`` lookaheads, tried every start
position and scanned to the end of the reply from each: a 32 KB reply cost 30
s of CPU, and ``follow`` would have stopped reading while a remote server
refused our mail.

Each line kind below goes through the whole pipeline with every built-in
detector (as ``report`` and ``follow`` run it), its slot stretched with a
filler that could make a pattern rescan, to 1 KB and 60 KB. As in
test_parse_linear, cost is compared for the same bytes: one 60 KB line against
60 lines of 1 KB, so the bound needs no clock and a loaded machine only adds
noise.
"""

from __future__ import annotations

import pytest

from spamwatch.config import Config
from spamwatch.detectors import build_detectors
from spamwatch.parse import Parser
from spamwatch.pipeline import Pipeline
from tests.test_parse_linear import cost

HEAD = "Nov 28 03:13:06 mx1 "

SUBMITTED = (
    "postfix/smtpd[812]: {qid}: client=a[192.0.2.1], sasl_method=LOGIN,"
    " sasl_username=u@example.com",
    "postfix/qmgr[812]: {qid}: from=<u@example.com>, size=1, nrcpt=1 (queue active)",
)
"""A message submitted by a SASL login, so every detector reads its deliveries."""

FORMS: dict[str, str] = {
    "bounced": "postfix/smtp[812]: {qid}: to=<b@x.org>, relay=mx.x.org[198.51.100.2]:25,"
    " delay=1, delays=0/0/0/1, dsn=5.7.1, status=bounced (host mx.x.org[198.51.100.2]"
    " said: 550 5.7.1 {text} (in reply to RCPT TO command))",
    "deferred": "postfix/smtp[812]: {qid}: to=<b@x.org>, relay=mx.x.org[198.51.100.2]:25,"
    " delay=1, delays=0/0/0/1, dsn=4.7.1, status=deferred (host mx.x.org[198.51.100.2]"
    " said: 421-4.7.1 {text})",
    "connect_failed": "postfix/smtp[812]: {qid}: to=<b@x.org>, relay=none, delay=1,"
    " delays=0/0/0/1, dsn=4.4.1, status=deferred (connect to mx.x.org[198.51.100.2]:25: {text})",
    "sasl_failure": "postfix/smtpd[812]: warning: a[192.0.2.1]: SASL LOGIN authentication"
    " failed: {text}, sasl_username=u@example.com",
    "reject": "postfix/smtpd[812]: NOQUEUE: reject: RCPT from a[192.0.2.1]: 554 5.7.1 {text};"
    " from=<u@example.com> to=<b@x.org> proto=ESMTP helo=<h>",
}
"""Each kind's line; ``{text}`` is where the hostile text goes."""

FILLERS = (
    "a", "gmx ", "web.de blocked ", "spamhaus ", "CSS ", "XBL spamhaus ", "blocked using a.",
    "listed in a-", "said: ", " 550-5.7.1 ", "(in reply to ", "1.2.3.4 ", "1.", "::", "a:",
    "http://a", "S3140 ", "[BL21] ", "timed out ", "Connection refused ", " ", "\t", "<",
    "(", "[", "<a> ", "(in reply to RCPT TO command) ", "Name service error for name=",
)  # fmt: skip

SIZES = (1024, 60 * 1024)
"""1 KB, and as long as a line the parser reads may be (64 KB) with the rest of it."""


def lines_of(kind: str, filler: str, size: int, count: int) -> list[bytes]:
    """``count`` messages whose ``kind`` line is about ``size`` bytes of ``filler``."""
    form = FORMS[kind]
    fixed = len(form.format(qid="ABC123", text=""))
    text = filler * max(1, (size - fixed) // len(filler))
    out = []
    for n in range(count):
        qid = f"{0xABC000 + n:X}"
        out.extend((HEAD + line.format(qid=qid)).encode() for line in SUBMITTED)
        out.append((HEAD + form.format(qid=qid, text=text)).encode())
    return out


def detect(lines: list[bytes]) -> None:
    """Every line through a pipeline with every built-in detector, as report runs it."""
    config = Config()
    pipeline = Pipeline.from_config(config, Parser(), build_detectors(config), lambda _: None)
    for line in lines:
        pipeline.feed(line)
    pipeline.finish()


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_hostile_text_costs_the_detectors_linear_time(kind: str) -> None:
    """One 60 KB line costs at most a few times 60 lines of 1 KB with the same text."""
    small, large = SIZES
    for filler in FILLERS:
        many = lines_of(kind, filler, small, large // small)
        one = lines_of(kind, filler, large, 1)
        per_byte = cost(detect, many) / sum(len(line) for line in many)
        size = sum(len(line) for line in one)
        ratio = cost(detect, one, under=8 * per_byte * size) / (per_byte * size)
        assert ratio <= 8, (
            f"{kind} lines stretched with {filler!r} cost the detectors more than linear"
            f" time: one 60 KB line {ratio:.1f}x the cost of the same bytes in 1 KB lines"
        )


def test_the_hostile_reply_is_still_read_as_a_listing() -> None:
    """The stretched reply that cost 30 s is cheap and still names the list it cites."""
    config = Config()
    found = []
    detectors = [d for d in build_detectors(config) if d.name == "reputation"]
    pipeline = Pipeline.from_config(config, Parser(), detectors, lambda _: None)
    pipeline.engine.on_finding = found.append
    reply = "gmx.net " + "x " * 16_000 + "blacklisted"
    for line in lines_of("bounced", reply, 0, 1):
        pipeline.feed(line)
    assert [(f.detector, f.key, sorted(f.facts)) for f in found] == [
        ("reputation", "mx1", ["blocklisted"])
    ]
    assert found[0].evidence["lists"] == {"GMX / web.de (United Internet block list)": 1}
