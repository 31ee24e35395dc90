"""``forms.LINE`` reads each everyday line exactly as the general path reads it.

``Parser.parse_block`` (with ``queue_ids_only``) reads a line of one of the
everyday forms with one regex (``spamwatch.parse.forms``) and any other line
with ``Parser._read``. For every line of the corpus, the samples, a synthetic
log, near misses written by hand and mutated corpus lines, both give the same
outcome: the same Event (fields in the same order) or the same count.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from synthlog import generate

from spamwatch.model import Event
from spamwatch.parse import ParseOptions, Parser
from spamwatch.parse.forms import FORMS, LINE
from spamwatch.parse.parser import ParseStats, row_event
from spamwatch.sources.files import iter_lines
from tests.test_parse_fuzz import mutated

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ParseOptions(anchor=datetime(2026, 12, 1, tzinfo=UTC), timezone=UTC)

H = b"Nov 28 03:13:06 mx1 postfix/"
NEAR_MISSES = [
    H + b"qmgr[1]: ABCDE12345: removed",
    H + b"qmgr[1]: ABCDE12345: removed ",
    H + b"smtp[1]: ABCDE12345: removed",
    H + b"qmgr[1]: ABCDE12345: from=<a@b>, size=1, nrcpt=1 (queue active)",
    H + b"qmgr[1]: ABCDE12345: from=<>, size=01, nrcpt=2 (queue active)",
    H + b"qmgr[1]: ABCDE12345: from=<a>b>, size=1, nrcpt=1 (queue active)",
    H + b"qmgr[1]: ABCDE12345: from=<a>, size=1, nrcpt=1 (queue active)>, size=2, nrcpt=2 "
    b"(queue active)",
    H + b"qmgr[1]: ABCDE12345: from=a@b, size=1, nrcpt=1 (queue active)",
    H + b"nqmgr[1]: ABCDE12345: from=<a@b>, size=1, nrcpt=1 (queue active)",
    H + b"cleanup[1]: ABCDE12345: message-id=<x@y>",
    H + b"cleanup[1]: ABCDE12345: message-id=<<x@y>>",
    H + b"cleanup[1]: ABCDE12345: message-id=< x@y >",
    H + b"cleanup[1]: ABCDE12345: message-id=<>",
    H + b"cleanup[1]: ABCDE12345: message-id=x@y",
    H + b"cleanup[1]: ABCDE12345: message-id=<x@y> ",
    H + b"cleanup[1]: ABCDE12345: message-id=<x\xc3\xa9@y>",
    H + b"smtp[1]: ABCDE12345: message-id=<x@y>",
    H + b"smtpd[1]: ABCDE12345: client=h[192.0.2.1]",
    H + b"smtpd[1]: ABCDE12345: client=h[192.0.2.1]:25",
    H + b"smtpd[1]: ABCDE12345: client=h[IPv6:2001:db8::1]",
    H + b"smtpd[1]: ABCDE12345: client=h[2001:db8::1]",
    H + b"smtpd[1]: ABCDE12345: client=unknown[unknown]",
    H + b"smtpd[1]: ABCDE12345: client=h[192.0.2.1], sasl_method=PLAIN, sasl_username=u@d",
    H + b"smtpd[1]: ABCDE12345: client=h[192.0.2.1], sasl_method=PLAIN, sasl_username=u=v",
    H + b"smtpd[1]: ABCDE12345: client=h[192.0.2.1], sasl_method=PLAIN, sasl_username=",
    H + b"smtpd[1]: ABCDE12345: client=h[192.0.2.1], sasl_method=PLAIN, sasl_username=u, x=y",
    H + b"smtpd[1]: ABCDE12345: client=h[192.0.2.1], sasl_method=PLAIN, sasl_username=u, "
    b"sasl_sender=s",
    H + b"smtpd[1]: ABCDE12345: client=h[192.0.2.1], orig_queue_id=ABCDE1234F, "
    b"orig_client=x[192.0.2.9]",
    H + b"submission/smtpd[1]: ABCDE12345: client=h[192.0.2.1], sasl_method=LOGIN, sasl_username=u",
    H + b"cleanup[1]: ABCDE12345: client=h[192.0.2.1]",
    H + b"smtp[1]: ABCDE12345: to=<a@b>, relay=r[192.0.2.2]:25, delay=1, delays=0/0/0/1, "
    b"dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4Xyz1234)",
    H + b"smtp[1]: ABCDE12345: to=<a@b>, relay=r[192.0.2.2]:25, delay=1, delays=0/0/0/1, "
    b"dsn=2.0.0, status=sent (250 ok queued as A queued as B)",
    H + b"local[1]: ABCDE12345: to=<a@b>, orig_to=<c@d>, relay=local, delay=0.01, "
    b"delays=0/0/0/0, dsn=2.0.0, status=sent (forwarded as ABCDE12399 )",
    H + b"smtp[1]: ABCDE12345: to=<a@b>, relay=r, conn_use=2, delay=1.5, delays=0/0/0/1, "
    b"dsn=4.4.1, status=deferred (connect to r: (x) (y))",
    H + b"smtp[1]: ABCDE12345: to=<a@b>, relay=r, delay=1.5, delays=0/0/0/1, dsn=4.4.1, "
    b"status=deferred (x",
    H + b"smtp[1]: ABCDE12345: to=<a@b>, relay=r, delay=x, delays=0/0/0/1, dsn=4.4.1, "
    b"status=deferred (x)",
    H + b"smtp[1]: ABCDE12345: to=<a@b>, relay=r, delay=1, delays=0/0/0/1, dsn=5.0.0, "
    b"status=bounced (\xff\x01)",
    H + b"smtp[1]: ABCDE12345: to=<a@b>, relay=r, delay=1, delays=0/0/0/1, dsn=5.0.0, "
    b"status=bounced (x)\r",
    H + b"qmgr[1]: ABCDE12345: removed\x00",
    H + b"qmgr[1]: ABCDE12345: " + b"x" * 70_000,
    H + b"qmgr[1] ABCDE12345: removed",
    H + b"qmgr: ABCDE12345: removed",
    b"Feb 30 03:13:06 mx1 postfix/qmgr[1]: ABCDE12345: removed",
    b"2026-11-28T03:13:06.123+01:00 mx1 postfix/qmgr[1]: ABCDE12345: removed",
    b"2026-11-28T03:13:06Z mx1 postfix/qmgr[1]: 4Xyz1234abcdefg: removed",
    b"Nov 28 03:13:06 mx1 opendkim[1]: ABCDE12345: DKIM verification successful",
    b"Nov 28 03:13:06 mx1 opendkim[1]: ABCDE12345: \x00",
    b"Nov 28 03:13:06 mx1 postfix/smtpd[1]: warning: ABCDE12345: queue file size limit exceeded",
]


def read_both(line: bytes) -> tuple[Event | None, ParseStats, list[Event], ParseStats]:
    """``line`` by ``Parser.parse`` and by ``parse_block`` (fresh parsers)."""
    plain = Parser(OPTIONS)
    want = plain.parse(line)
    fast = Parser(OPTIONS, queue_ids_only=True)
    got = fast.parse_block(line + b"\n")
    return want, plain.stats, got, fast.stats


def assert_same(line: bytes) -> bool:
    """Same outcome both ways (when ``parse_block`` read the line); True if it did."""
    want, want_stats, got, got_stats = read_both(line)
    if got_stats.skipped:
        return False  # no queue id: not read, nothing to compare
    assert got == ([want] if want is not None else []), line
    if want is not None:
        assert list(got[0].fields.items()) == list(want.fields.items()), line
    assert got_stats == want_stats, line
    return True


def form_of(line: bytes) -> str | None:
    m = LINE.match(line.decode("latin-1"))
    return m.lastgroup if m is not None else None


def corpus_lines() -> list[bytes]:
    from tests.conftest import CORPUS

    logs = sorted(CORPUS.glob("*.log")) if CORPUS.is_dir() else []
    logs += sorted((ROOT / "samples").glob("*.log"))
    return [line for log in logs for line in iter_lines(io.BytesIO(log.read_bytes()))]


def test_every_real_line_reads_the_same(corpus_dir: Path) -> None:
    lines = corpus_lines()
    read = sum(assert_same(line) for line in lines)
    forms = [form_of(line) for line in lines]
    assert read > 1000
    for form in FORMS:  # each form is really taken, not only the general path
        assert forms.count(form) >= 5, form


def test_synthetic_lines_read_the_same() -> None:
    start = datetime(2026, 11, 2, tzinfo=UTC)
    lines = [line.encode() for line in generate(start, lines=5_000, seed=11)]
    assert sum(assert_same(line) for line in lines) > 1000


@pytest.mark.parametrize("line", NEAR_MISSES, ids=range(len(NEAR_MISSES)))
def test_near_misses_read_the_same(line: bytes) -> None:
    assert assert_same(line)


def test_near_misses_take_both_paths() -> None:
    """The hand-written lines are on both sides of each form's edge."""
    taken = [form_of(line) for line in NEAR_MISSES]
    for form in FORMS:
        assert taken.count(form) >= 2, form
    assert taken.count("other") >= 10 and taken.count(None) >= 2


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_lines_read_the_same(line: bytes) -> None:
    for piece in line.split(b"\n"):
        assert_same(piece)


def test_rows_are_the_events() -> None:
    """``Parser.tuples``: each row, a line read by form or not, makes the Event that
    ``parse_block`` gives without it (fields in the same order)."""
    start = datetime(2026, 11, 2, tzinfo=UTC)
    data = "".join(line + "\n" for line in generate(start, lines=5_000, seed=5)).encode()
    data += b"\n".join(NEAR_MISSES[:-3]) + b"\n"
    want = Parser(OPTIONS, queue_ids_only=True).parse_block(data)
    parser = Parser(OPTIONS, queue_ids_only=True)
    parser.tuples = True
    rows = parser.parse_block(data)
    got = [row_event(row) for row in rows]
    assert got == want and len(got) > 1000
    assert [list(e.fields.items()) for e in got] == [list(e.fields.items()) for e in want]
    assert {row[7].__class__ for row in rows} == {dict, str}  # by form, and not
