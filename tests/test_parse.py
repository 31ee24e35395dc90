"""Parser behaviour beyond single lines: years, zones, bad bytes, kinds, explain."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from dateutil import tz
from hypothesis import given
from hypothesis import strategies as st

from spamwatch.correlate import KINDS
from spamwatch.parse import ParseOptions, Parser
from spamwatch.parse.grammar import QUEUE_ID_FORM
from spamwatch.parse.parser import MAX_LINE_BYTES, ParseStats

BERLIN = tz.gettz("Europe/Berlin")
QMGR = b" mx1 postfix/qmgr[7]: 4F64840DFC: removed"


def parser(anchor: datetime | None = None, **options: object) -> Parser:
    return Parser(ParseOptions(anchor=anchor, timezone=UTC, **options))  # type: ignore[arg-type]


def times(p: Parser, stamps: list[bytes]) -> list[datetime]:
    out = []
    for stamp in stamps:
        event = p.parse(stamp + QMGR)
        assert event is not None, p.explain(stamp + QMGR)
        out.append(event.time)
    return out


def accounted(stats: ParseStats) -> int:
    return stats.events + stats.non_postfix + stats.unrecognised + stats.malformed + stats.skipped


# --- year inference ---------------------------------------------------------------


def test_year_is_the_anchors_when_that_is_not_the_future() -> None:
    p = parser(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    assert times(p, [b"Mar 10 11:00:00"])[0] == datetime(2026, 3, 10, 11, 0, tzinfo=UTC)


def test_a_date_after_the_anchor_belongs_to_the_year_before() -> None:
    p = parser(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    assert times(p, [b"Nov 28 03:13:06"])[0].year == 2025


def test_a_day_of_slack_for_clock_skew_and_zones() -> None:
    p = parser(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    assert times(p, [b"Mar 11 01:00:00"])[0].year == 2026


def test_new_year_crossing_gives_increasing_years() -> None:
    p = parser(datetime(2026, 1, 2, 0, 0, tzinfo=UTC))
    got = times(p, [b"Dec 30 23:59:59", b"Dec 31 23:59:59", b"Jan  1 00:00:01", b"Jan  1 08:00:00"])
    assert [t.year for t in got] == [2025, 2025, 2026, 2026]
    assert got == sorted(got)


def test_a_small_step_back_across_a_month_end_is_not_new_year() -> None:
    p = parser(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    got = times(p, [b"Jun  1 00:00:01", b"May 31 23:59:59"])
    assert [t.year for t in got] == [2026, 2026]


def test_year_option_overrides_inference() -> None:
    p = parser(datetime(2026, 3, 10, 12, 0, tzinfo=UTC), year=2019)
    got = times(p, [b"Nov 28 03:13:06", b"Dec 31 23:00:00", b"Jan  1 01:00:00"])
    assert [t.year for t in got] == [2019, 2019, 2020]


def test_begin_source_restarts_inference_from_the_new_anchor() -> None:
    p = parser(datetime(2026, 1, 2, tzinfo=UTC))
    times(p, [b"Dec 31 23:00:00", b"Jan  1 01:00:00"])
    p.begin_source(datetime(2024, 12, 31, 23, 30, tzinfo=UTC))
    assert times(p, [b"Dec 31 23:00:00"])[0].year == 2024


def test_begin_source_without_anchor_means_now() -> None:
    p = parser(datetime(2001, 1, 1, tzinfo=UTC))
    p.begin_source(None)
    now = datetime.now(UTC)
    stamp = (now - timedelta(minutes=5)).strftime("%b %d %H:%M:%S").encode()
    assert times(p, [stamp])[0].year == (now - timedelta(minutes=5)).year


def test_years_in_the_header_are_kept() -> None:
    p = parser(datetime(2026, 3, 10, tzinfo=UTC))
    got = times(p, [b"2013 Jun 16 16:05:06.123", b"2021-02-06T10:57:57+01:00"])
    assert got[0] == datetime(2013, 6, 16, 16, 5, 6, 123000, tzinfo=UTC)
    assert got[1] == datetime(2021, 2, 6, 9, 57, 57, tzinfo=UTC)


def test_feb_29_in_a_leap_year_before_a_non_leap_anchor() -> None:
    p = parser(datetime(2025, 3, 10, tzinfo=UTC))
    assert times(p, [b"Feb 29 10:00:00"])[0] == datetime(2024, 2, 29, 10, tzinfo=UTC)


# --- zones -------------------------------------------------------------------------


def test_zone_less_times_use_the_timezone_option() -> None:
    p = Parser(ParseOptions(anchor=datetime(2026, 8, 1, tzinfo=UTC), timezone=BERLIN))
    (when,) = times(p, [b"Jul 15 12:00:00"])
    assert when.utcoffset() == timedelta(hours=2)
    assert when.astimezone(UTC).hour == 10


def test_event_times_carry_the_offset_of_their_moment_as_a_fixed_zone() -> None:
    """C arithmetic for every detector; the same wall time and offset, so the same ISO text."""
    p = Parser(ParseOptions(anchor=datetime(2026, 12, 1, tzinfo=UTC), timezone=BERLIN))
    summer, later, winter = times(p, [b"Jul 15 12:00:00", b"Jul 15 12:00:07", b"Nov 28 12:00:00"])
    assert isinstance(summer.tzinfo, timezone) and summer.tzinfo is later.tzinfo
    assert summer.isoformat() == "2026-07-15T12:00:00+02:00"
    assert winter.isoformat() == "2026-11-28T12:00:00+01:00"
    assert winter - summer == datetime(2026, 11, 28, 11, tzinfo=UTC) - datetime(
        2026, 7, 15, 10, tzinfo=UTC
    )


def test_zone_less_times_default_to_local_time_and_are_aware() -> None:
    p = Parser(ParseOptions(anchor=datetime(2026, 8, 1, tzinfo=UTC)))
    (when,) = times(p, [b"Jul 15 12:00:00"])
    assert when.tzinfo is not None
    assert when.replace(tzinfo=None) == datetime(2026, 7, 15, 12, 0)
    assert when.utcoffset() == datetime(2026, 7, 15, 12, 0).astimezone().utcoffset()


def test_explicit_offsets_win_over_the_timezone_option() -> None:
    p = Parser(ParseOptions(timezone=BERLIN))
    (when,) = times(p, [b"2024-03-22T08:00:01.5-05:00"])
    assert when.utcoffset() == timedelta(hours=-5)
    assert when.microsecond == 500000


def test_a_naive_anchor_is_read_in_the_timezone() -> None:
    p = Parser(ParseOptions(anchor=datetime(2026, 1, 1, 0, 30), timezone=UTC))
    assert times(p, [b"Jan  1 00:10:00"])[0].year == 2026


# --- header-less lines --------------------------------------------------------------


def test_header_less_lines_take_the_previous_lines_time_and_host() -> None:
    p = parser(datetime(2026, 3, 10, tzinfo=UTC))
    first = p.parse(b"Mar  1 10:00:00 mx9 dovecot: imap-login: Login: user=<u>")
    assert first is None and p.stats.non_postfix == 1
    event = p.parse(b"postfix/qmgr[7]: 4F64840DFC: removed")
    assert event is not None
    assert event.time == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert event.host == "mx9"


def test_first_header_less_line_takes_the_anchor_time() -> None:
    anchor = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    event = parser(anchor).parse(b"postfix/qmgr[7]: 4F64840DFC: removed")
    assert event is not None and event.time == anchor and event.host == ""


# --- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "outcome"),
    [
        (b"", "malformed"),
        (b"\x00" * 10, "malformed"),
        (b"Nov 28 03:13:06 mx1 postfix/qmgr[7]: 4F64840DFC:\x00 removed", "malformed"),
        (
            b"Nov 28 03:13:06 mx1 postfix/smtpd[7]: connect from " + b"x" * MAX_LINE_BYTES,
            "malformed",
        ),
        (b"\xff\xfe\xfd garbage \x80", "malformed"),
        (b"Nov 31 03:13:06 mx1 postfix/qmgr[7]: 4F64840DFC: removed", "malformed"),
        (b"Nov 28 25:13:06 mx1 postfix/qmgr[7]: 4F64840DFC: removed", "malformed"),
        (b"Nov 28 03:13:06 mx1 postfix/qmgr[99999999999]: 4F64840DFC: removed", "malformed"),
        (b"Nov 28 03:13:06 m\xffx postfix\xff/smtpd[7]: connect", "non_postfix"),
    ],
)
def test_bad_bytes_are_counted_never_raised(line: bytes, outcome: str) -> None:
    p = parser(datetime(2026, 12, 1, tzinfo=UTC))
    assert p.parse(line) is None
    assert getattr(p.stats, outcome) == 1 and p.stats.lines == 1
    assert p.explain(line).outcome == outcome


def test_invalid_utf8_and_control_codes_in_a_postfix_line_are_escaped() -> None:
    p = parser(datetime(2026, 12, 1, tzinfo=UTC))
    line = (
        b"Nov 28 03:13:06 mx1 postfix/postscreen[7]: "
        b"PREGREET 5 after 0 from [192.0.2.1]:25: \xff\x1b[31mhi\x07"
    )
    event = p.parse(line)
    assert event is not None and event.kind == "postscreen"
    text = event.fields["text"]
    assert "\x1b" not in text and "\x07" not in text and "\ufffd" not in text
    assert text.endswith(r"\xff\x1b[31mhi\x07")
    assert event.fields["client_ip"] == "192.0.2.1"


def test_crlf_is_stripped() -> None:
    event = parser().parse(b"Nov 28 03:13:06 mx1 postfix/qmgr[7]: 4F64840DFC: removed\r")
    assert event is not None and event.kind == "removed"


def test_a_megabyte_line_is_counted_fast() -> None:
    p = parser()
    assert p.parse(b"Nov 28 03:13:06 mx1 postfix/smtpd[7]: " + b"a" * (1 << 20)) is None
    assert p.stats.malformed == 1


# --- kinds, explain, line_time --------------------------------------------------------


LINES = [
    b"Nov 28 03:13:06 mx1 postfix/smtpd[7]: connect from unknown[192.0.2.1]",
    b"Nov 28 03:13:06 mx1 postfix/smtpd[7]: 4F64840DFC: client=unknown[192.0.2.1]",
    b"Nov 28 03:13:07 mx1 postfix/qmgr[8]: 4F64840DFC: from=<a@b>, size=5, nrcpt=1 (queue active)",
    b"Nov 28 03:13:07 mx1 postfix/anvil[9]: statistics: max cache size 2 at Nov 28 03:00:00",
    b"Nov 28 03:13:08 mx1 postfix/qmgr[8]: 4F64840DFC: removed",
    b"Nov 28 03:13:08 mx1 dovecot: imap-login: Login",
    b"Nov 28 03:13:08 mx1 postfix/smtpd[7]: connect from nowhere",
]


def test_kinds_skip_unwanted_lines_and_count_them() -> None:
    everything = parser()
    wanted = Parser(ParseOptions(timezone=UTC), kinds=KINDS)
    all_events = [e for e in map(everything.parse, LINES) if e]
    some = [e for e in map(wanted.parse, LINES) if e]
    assert [e.kind for e in some] == ["client", "queued", "removed"]
    assert some == [e for e in all_events if e.kind in KINDS]
    assert wanted.stats.skipped == 3 and wanted.stats.non_postfix == 1
    assert wanted.stats.unrecognised == 0  # "connect from nowhere" is a connect: skipped
    assert accounted(wanted.stats) == wanted.stats.lines == len(LINES)
    assert everything.stats.by_kind == {
        "connect": 1, "client": 1, "queued": 1, "anvil": 1, "removed": 1,
    }  # fmt: skip
    assert accounted(everything.stats) == len(LINES)


def test_explain_says_why_and_leaves_stats_alone() -> None:
    p = Parser(ParseOptions(timezone=UTC), kinds={"removed"})
    outcomes = [p.explain(line) for line in LINES]
    assert p.stats == ParseStats()
    assert [x.outcome for x in outcomes] == [
        "event", "event", "event", "event", "event", "non_postfix", "unrecognised",
    ]  # fmt: skip
    assert outcomes[0].event is not None and outcomes[0].event.kind == "connect"
    assert "read as connect" in outcomes[0].reason
    assert "dovecot" in outcomes[5].reason and "--syslog-name" in outcomes[5].reason
    assert "host[ip]" in outcomes[6].reason
    assert "no syslog header" in p.explain(b"garbage").reason


def test_line_time_is_stateless_and_uses_the_anchor() -> None:
    p = parser(datetime(2026, 1, 2, tzinfo=UTC))
    assert p.line_time(b"Dec 31 23:00:00" + QMGR) == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert p.line_time(b"Jan  1 01:00:00" + QMGR) == datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert p.line_time(b"Dec 31 23:00:00" + QMGR) == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert p.line_time(b"postfix/qmgr[7]: 4F64840DFC: removed") is None
    assert p.line_time(b"Feb 30 00:00:00" + QMGR) is None
    assert p.line_time(b"2021-02-06T10:57:57+01:00" + QMGR) == datetime(
        2021, 2, 6, 9, 57, 57, tzinfo=UTC
    )
    assert p.stats == ParseStats()
    assert parser(year=2011).line_time(b"Dec 31 23:00:00" + QMGR).year == 2011  # type: ignore[union-attr]


def test_program_cache_is_bounded_against_hostile_input() -> None:
    p = parser()
    for i in range(5000):
        p.parse(b"Nov 28 03:13:06 mx%d prog%d[1]: hello" % (i, i))
    assert p.stats.non_postfix == 5000
    assert len(p._programs) <= 4096 and len(p._hosts) <= 4096


def test_every_kind_and_field_is_documented_in_the_man_page() -> None:
    """man/spamwatch.1 EVENT JSON is the users' copy of spamwatch.parse.kinds."""
    from pathlib import Path

    from spamwatch.parse.kinds import KINDS

    man = (Path(__file__).resolve().parents[1] / "man" / "spamwatch.1").read_text()
    section = man.split('.\\" BEGIN eventjson', 1)[1].split('.\\" END eventjson', 1)[0]
    section = section.replace("\\-", "-")
    missing = [kind for kind in KINDS if kind not in section]
    missing += [
        f"{kind}.{name}"
        for kind, names in KINDS.items()
        for name in (n.rstrip("?") for n in names)
        if name not in section
    ]
    assert not missing


def test_a_bracket_smuggled_into_a_client_name_does_not_shift_the_address() -> None:
    """``connect from \\x1b[2Jevil[1.2.3.4]``: no event with a wrong ip; counted."""
    parser = Parser()
    line = b"2026-11-28T03:00:00+00:00 mx postfix/smtpd[1]: connect from \x1b[2Jevil[1.2.3.4]"
    assert parser.parse(line) is None
    assert parser.stats.unrecognised == 1
    ok = parser.parse(b"2026-11-28T03:00:00+00:00 mx postfix/smtpd[1]: connect from a[2001:db8::1]")
    assert ok is not None
    assert ok.fields["client_ip"] == "2001:db8::1"


PLAIN_QUEUE_ID = re.compile(r"(?:[0-9A-F]{5,32}(?:X+)?|(?=[0-9A-Za-z]*\d)[0-9A-Za-z]{5,32}): ")
FAST_QUEUE_ID = re.compile(f"(?:{QUEUE_ID_FORM}): ")


@given(
    st.text(alphabet="aZ09FX -", max_size=8),
    st.text(alphabet="aZq09FX", max_size=40),
    st.sampled_from([": ", ":", " ", ": x", ""]),
)
def test_queue_id_form_is_the_plain_digit_rule(before: str, word: str, after: str) -> None:
    """``QUEUE_ID_FORM``'s possessive "letters, then a digit" takes what "an
    alphanumeric run holding a digit" takes, at every position of any text."""
    text = before + word + after
    for at in range(len(text) + 1):
        plain, fast = PLAIN_QUEUE_ID.match(text, at), FAST_QUEUE_ID.match(text, at)
        assert (plain and plain.group()) == (fast and fast.group())
