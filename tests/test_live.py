"""The live view: bounded counters, and log text that never drives the terminal."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from spamwatch.follow import live
from spamwatch.follow.live import LiveStats, LiveView, use_rich_view
from spamwatch.model import Event, IncidentState, Severity
from spamwatch.textsafe import clean
from tests.followutil import incident_record

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
HOSTILE = "[bold red]evil[/] \x1b[2J\x1b]0;owned\x07\r\x9b31m \u202egpj.exe"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def login(user: str) -> Event:
    fields = {"client_ip": "192.0.2.7", "client_name": "unknown", "sasl_username": user}
    return Event(T0, "mx1", "postfix/submission/smtpd", "smtpd", 42, "3A1F2C4D5E", "client", fields)


def test_rates_and_busiest_users_roll_over() -> None:
    clock = Clock()
    stats = LiveStats(clock)
    stats.add_lines(50)
    clock.now += 1
    stats.add_lines(150)
    assert stats.lines == 200 and stats.lines_per_second() == 20.0
    for _ in range(3):
        stats.on_event(login("monika@example.com"))
    stats.on_event(login("zoe@example.org"))
    assert stats.busiest_users() == [("monika@example.com", 3), ("zoe@example.org", 1)]
    clock.now += 60 * 11  # the ten-minute window has passed
    stats.on_event(login("zoe@example.org"))
    assert stats.busiest_users() == [("zoe@example.org", 1)]
    assert stats.lines_per_second() == 0.0


def test_user_table_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "MAX_USERS_PER_MINUTE", 50)
    stats = LiveStats(Clock())
    for n in range(150):
        stats.on_event(login(f"guess{n}@example.com"))
    assert len(stats.busiest_users(count=1000)) == 50


def test_open_incidents_by_severity() -> None:
    stats = LiveStats(Clock())
    stats.on_incident(incident_record("a", IncidentState.OPENED, Severity.WARNING))
    stats.on_incident(incident_record("a", IncidentState.ESCALATED, Severity.CRITICAL))
    stats.on_incident(incident_record("b", IncidentState.OPENED, Severity.INFO))
    stats.on_incident(incident_record("b", IncidentState.RESOLVED, Severity.INFO))
    counts = stats.open_by_severity()
    assert counts == {Severity.INFO: 0, Severity.WARNING: 0, Severity.CRITICAL: 1}


def test_log_text_is_never_markup_nor_control_codes() -> None:
    assert "\x1b" not in clean(HOSTILE) and "\x9b" not in clean(HOSTILE)
    stats = LiveStats(Clock())
    stats.on_event(login(HOSTILE))
    stats.on_incident(incident_record(HOSTILE, IncidentState.OPENED, Severity.CRITICAL))
    view = LiveView(stats, [HOSTILE])
    out = io.StringIO()
    Console(file=out, force_terminal=True, width=400, color_system="standard").print(view.render())
    text = out.getvalue()
    assert "[bold red]evil[/]" in text  # shown literally, not as style
    assert "\x1b[2J" not in text and "\x1b]0;" not in text and "\x07" not in text
    assert "\r" not in text and "\x9b" not in text
    assert "\u202e" not in text  # a bidi override would reorder what the admin reads


def test_no_rich_view_without_a_terminal_or_with_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_rich_view(Tty()) is True
    assert use_rich_view(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_rich_view(Tty()) is False


def test_table_titles_stay_whole_while_the_tables_are_empty() -> None:
    """At start both tables are narrow: their titles must not wrap mid-phrase
    ("0 critical, 0 warning, 0" / "info" on the next line)."""
    view = LiveView(LiveStats(Clock()), ["/var/log/mail.log"])
    out = io.StringIO()
    Console(file=out, force_terminal=False, width=160).print(view.render())
    lines = out.getvalue().splitlines()
    assert any("open incidents: 0 critical, 0 warning, 0 info" in line for line in lines), lines
    assert any("busiest SASL users (10 min)" in line for line in lines), lines
