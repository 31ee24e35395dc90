"""The learner: what an open incident keeps out, the hold, checkpoints, the view refreshed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from builders import HOST, Stream, at

from spamwatch.model import Severity
from spamwatch.profiles import Profiles
from spamwatch.profiles.options import ProfileOptions
from spamwatch.profiles.partial import Partial
from spamwatch.profiles.store import ProfileStore

USER = "alice@example.com"


def history(db: Path, hours: int) -> None:
    """``hours`` active hours of USER the day before (a profile to judge by, or not)."""
    partial = Partial()
    for hour in range(hours):
        partial.message(USER, at(-86400 + hour * 3600), "192.0.2.0/24", "example.com", True)
        partial.cover(HOST, at(-86400 + hour * 3600).timestamp())
    store = ProfileStore(str(db))
    store.write(partial)
    store.close()


def learn(db: Path, stream: Stream, open_now: list[tuple[str, str, Severity]]) -> int:
    """Feed ``stream`` to a learner told ``open_now`` is open; how many of USER's were kept."""
    profiles = Profiles.open(ProfileOptions(path=str(db)))
    learner = profiles.learner(lambda: open_now)
    assert learner is not None
    for event, updates in stream.ordered():
        learner.tick(event.time)
        learner.on_event(event)
        for update in updates:
            learner.on_update(update)
    learner.finish()
    assert profiles.store is not None
    rows = profiles.store.rows("SELECT messages FROM logins WHERE login = ?", (USER,))
    profiles.close()
    return rows[0][0] if rows else 0


def mail(count: int, start: float = 0) -> Stream:
    stream = Stream()
    for n in range(count):
        stream.submission(at(start + n * 60), USER, "192.0.2.7")
    return stream


def test_without_history_only_a_critical_incident_keeps_traffic_out(tmp_path: Path) -> None:
    assert learn(tmp_path / "w.db", mail(10), [("sasl_username", USER, Severity.WARNING)]) == 10
    assert learn(tmp_path / "c.db", mail(10), [("sasl_username", USER, Severity.CRITICAL)]) == 0


def test_with_history_a_warning_keeps_traffic_out(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    history(db, 6)
    assert learn(db, mail(10), [("sasl_username", USER, Severity.WARNING)]) == 6  # the history
    assert learn(db, mail(10, 7200), []) == 16


def test_what_was_held_before_the_incident_opened_is_dropped_too(tmp_path: Path) -> None:
    """Messages 50 minutes before the incident opened are still held: they go with it."""
    stream = mail(50)  # 50 minutes of mail; the incident opens at the last one
    opened: list[tuple[str, str, Severity]] = []
    profiles = Profiles.open(ProfileOptions(path=str(tmp_path / "p.db")))
    learner = profiles.learner(lambda: opened)
    assert learner is not None
    for event, updates in stream.ordered():
        learner.tick(event.time)
        for update in updates:
            learner.on_update(update)
        if event.time >= at(49 * 60):
            opened[:] = [("sasl_username", USER, Severity.CRITICAL)]
    learner.tick(at(51 * 60))  # the next minute's question to the engine
    learner.finish()
    assert profiles.store is not None
    assert profiles.store.rows("SELECT count(*) FROM logins") == [(0,)]


def test_checkpoints_write_each_hour_of_log_time_and_refresh_the_view(tmp_path: Path) -> None:
    """Five hours of mail: written hour by hour (held one hour); after four hours of
    history the detectors' view judges the login by its profile."""
    profiles = Profiles.open(ProfileOptions(path=str(tmp_path / "p.db")))
    learner = profiles.learner(lambda: [])
    assert learner is not None
    stream = Stream()
    for n in range(5 * 12):  # one message every 5 minutes for 5 hours
        stream.submission(at(n * 300), USER, "192.0.2.7")
    seen_judged = []
    for event, updates in stream.ordered():
        learner.tick(event.time)
        for update in updates:
            learner.on_update(update)
        seen_judged.append(profiles.view.login(USER) is not None)
    assert learner.writes >= 2  # checkpoints before the end, not one write per line
    assert not seen_judged[0] and not any(seen_judged[: 12 * 4])
    learner.tick(at(6 * 3600 + 1))
    assert profiles.view.login(USER) is not None  # four hours written, the view refreshed
    assert profiles.view.login(USER).usual(3) == 12  # type: ignore[union-attr]
    learner.finish()
    profiles.close()


def test_a_host_incident_keeps_its_queue_out_its_ambient_failures_in(tmp_path: Path) -> None:
    """No ambient level yet: the scanners during a spray warning are the level being learned."""
    stream = Stream()
    for n in range(30):
        stream.sasl_failure(at(n * 20), f"203.0.113.{n}")
    db = tmp_path / "p.db"
    learn(db, stream, [("host", HOST, Severity.WARNING)])
    store = ProfileStore(str(db))
    assert store.rows("SELECT sum(auth_failures) FROM host_windows") == [(30,)]
    learn(tmp_path / "c.db", stream, [("host", HOST, Severity.CRITICAL)])
    critical = ProfileStore(str(tmp_path / "c.db"))
    assert critical.rows("SELECT sum(auth_failures), sum(queue_peak) FROM host_windows") == [
        (None, None)
    ]


def test_the_hold_is_whole_hours(tmp_path: Path) -> None:
    options = ProfileOptions(path=str(tmp_path / "p.db"), hold=timedelta(hours=2))
    profiles = Profiles.open(options)
    learner = profiles.learner(lambda: [])
    assert learner is not None and learner.hold == 7200
    profiles.close()
