"""--since/--until as admins write them, relative to a given now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dateutil import tz

from spamwatch.errors import UsageError
from spamwatch.report.timerange import TimeRange, parse_now, parse_range, parse_time

NOW = datetime(2026, 11, 28, 3, 30, 15, tzinfo=UTC)
BERLIN = tz.gettz("Europe/Berlin")


@pytest.mark.parametrize(
    ("text", "back"),
    [("1h", 3600), ("30m", 1800), ("1h30m", 5400), ("2d", 172800), ("90s", 90), ("90m ago", 5400)],
)
def test_durations_count_back_from_now(text: str, back: int) -> None:
    assert parse_time(text, NOW, UTC) == NOW - timedelta(seconds=back)


def test_today_and_yesterday_are_midnights_in_the_zone() -> None:
    assert parse_time("today", NOW, UTC) == datetime(2026, 11, 28, tzinfo=UTC)
    assert parse_time("Yesterday", NOW, UTC) == datetime(2026, 11, 27, tzinfo=UTC)
    # 03:30 UTC is 04:30 in Berlin: still the 28th there, midnight is 23:00 UTC the day before
    assert parse_time("today", NOW, BERLIN) == datetime(2026, 11, 27, 23, tzinfo=UTC)
    # 23:30 UTC on the 27th is already the 28th in Berlin
    late = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    assert parse_time("yesterday", late, BERLIN) == datetime(2026, 11, 26, 23, tzinfo=UTC)


def test_wall_clock_times_are_in_the_log_zone() -> None:
    assert parse_time("2026-11-28 03:00", NOW, UTC) == datetime(2026, 11, 28, 3, tzinfo=UTC)
    assert parse_time("2026-11-28 03:00", NOW, BERLIN) == datetime(2026, 11, 28, 2, tzinfo=UTC)
    assert parse_time("2026-11-28", NOW, UTC) == datetime(2026, 11, 28, tzinfo=UTC)


def test_iso_with_zone_keeps_its_zone() -> None:
    got = parse_time("2026-11-28T03:00:00+01:00", NOW, BERLIN)
    assert got == datetime(2026, 11, 28, 2, tzinfo=UTC)
    assert parse_time("2026-11-28T03:00:00Z", NOW, BERLIN) == datetime(2026, 11, 28, 3, tzinfo=UTC)


def test_summer_time_wall_clock() -> None:
    assert parse_time("2026-07-01 12:00", NOW, BERLIN) == datetime(2026, 7, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "tomorrowish", "1x", "Nov 28 03:00", "-1h", "2026-13-45"])
def test_nonsense_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text, NOW, UTC)


def test_range_is_half_open() -> None:
    span = parse_range("yesterday", "today", NOW, UTC)
    assert span == TimeRange(datetime(2026, 11, 27, tzinfo=UTC), datetime(2026, 11, 28, tzinfo=UTC))
    assert datetime(2026, 11, 27, tzinfo=UTC) in span
    assert datetime(2026, 11, 27, 23, 59, 59, tzinfo=UTC) in span
    assert datetime(2026, 11, 28, tzinfo=UTC) not in span
    assert datetime(2026, 11, 26, 23, 59, tzinfo=UTC) not in span


def test_open_ends() -> None:
    span = parse_range(None, None, NOW, UTC)
    assert span == TimeRange()
    assert datetime(1999, 1, 1, tzinfo=UTC) in span
    assert span.describe() == "start of log .. end of log"
    assert parse_range("1h", None, NOW, UTC).until is None


def test_bad_option_names_the_option() -> None:
    with pytest.raises(UsageError, match="--until"):
        parse_range("1h", "soonish", NOW, UTC)
    with pytest.raises(UsageError, match=r"--since .* is not before --until"):
        parse_range("1h", "2h", NOW, UTC)


def test_now_option() -> None:
    assert parse_now(None, UTC) is None
    assert parse_now("2026-11-28 03:00", UTC) == datetime(2026, 11, 28, 3, tzinfo=UTC)
    with pytest.raises(UsageError, match="--now"):
        parse_now("1h", UTC)


def test_relative_until() -> None:
    span = parse_range("2h", "1h", NOW, UTC)
    assert span == TimeRange(NOW - timedelta(hours=2), NOW - timedelta(hours=1))
    assert span.describe() == "2026-11-28 01:30:15+00:00 .. 2026-11-28 02:30:15+00:00"


def test_describe_is_to_the_second_like_the_rest_of_the_report() -> None:
    """``--since 1h`` counts back from the clock: no microseconds in the heading."""
    span = TimeRange(datetime(2026, 11, 28, 5, 22, 27, 607083, tzinfo=UTC), None)
    assert span.describe() == "2026-11-28 05:22:27+00:00 .. end of log"
