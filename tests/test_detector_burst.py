"""burst: single-recipient volume per SASL user, fast and slow, against its own normal."""

from __future__ import annotations

import random
from datetime import timedelta

from builders import Stream, at, raised, run

from spamwatch.model import Severity

BURST = ("burst",)


def incident(stream: Stream, start: float = 0.0, count: int = 5999, minutes: float = 49) -> None:
    """The real incident: 5,999 single-recipient messages in < 50 min from 2-15 IPs."""
    rng = random.Random(7)
    bots = [f"203.0.113.{n}" for n in range(10, 22)] + ["2001:db8:77::5", "198.51.100.9"]
    step = minutes * 60 / count
    for n in range(count):
        domain = rng.choice(["gmail.com", "yahoo.com", "hotmail.com", "web.de", "aol.com"])
        stream.submission(
            at(start + n * step),
            "alice@example.com",
            rng.choice(bots),
            rcpts=[f"victim{n}@{domain}"],
            sender=f"billing{n % 50}@paypa1-secure.com",
        )


def test_fast_burst_is_raised_within_two_minutes_and_goes_critical() -> None:
    stream = Stream()
    incident(stream)
    records = run(stream, only=BURST)
    found = raised(records, "burst")
    assert len(found) == 1
    first = found[0]
    assert first.key == "alice@example.com" and first.key_kind == "sasl_username"
    assert first.raised_at - at(0) <= timedelta(minutes=2)
    assert "alice@example.com sent" in first.summary and "single-recipient" in first.summary
    worst = max(r.severity for r in records if r.detector == "burst")
    assert worst is Severity.CRITICAL
    last = [r for r in records if r.detector == "burst"][-1]
    assert len(last.evidence["client_addresses"]) == 10  # top-N, bounded
    assert set(last.evidence["sender_domains"]) == {"paypa1-secure.com"}
    assert "gmail.com" in last.evidence["recipient_domains"]
    assert 1 <= len(last.evidence["sample_queue_ids"]) <= 5
    assert last.counts["messages_short"] >= 1000


def test_escalation_is_logarithmic_not_one_record_per_message() -> None:
    stream = Stream()
    incident(stream)
    records = [r for r in run(stream, only=BURST) if r.detector == "burst"]
    assert 2 <= len(records) <= 15


def test_slow_steady_sender_is_raised_within_twenty_minutes() -> None:
    rng = random.Random(3)
    stream = Stream()
    t = 600.0  # the first abusive line, 10 minutes into the log
    first = t
    while t < first + 4 * 3600:
        stream.submission(at(t), "bob@example.com", "203.0.113.50", rcpts=["x@gmail.com"])
        t += rng.uniform(20, 60)
    found = raised(run(stream, only=BURST), "burst")
    assert found, "slow sender not raised"
    assert found[0].raised_at - at(first) <= timedelta(minutes=20)
    assert found[0].key == "bob@example.com"


def hourly(stream: Stream, user: str, per_hour: int, hours: int, start_hour: int = 0) -> None:
    """``per_hour`` single-recipient messages spread evenly through each hour."""
    step = 3600 / per_hour
    for hour in range(start_hour, start_hour + hours):
        for n in range(per_hour):
            stream.submission(at(hour * 3600 + n * step + 7), user, "192.0.2.80")


def test_user_who_always_sends_50_an_hour_is_not_flagged_at_60() -> None:
    stream = Stream()
    hourly(stream, "shop@example.com", 50, hours=48)
    hourly(stream, "shop@example.com", 60, hours=3, start_hour=48)
    records = run(stream, only=BURST)
    late = [r for r in raised(records) if r.raised_at >= at(48 * 3600)]
    assert late == []


def test_user_who_sends_3_an_hour_is_flagged_at_100() -> None:
    stream = Stream()
    hourly(stream, "carol@example.com", 3, hours=48)
    hourly(stream, "carol@example.com", 100, hours=1, start_hour=48)
    found = raised(run(stream, only=BURST))
    assert [f.key for f in found] == ["carol@example.com"]
    assert found[0].raised_at >= at(48 * 3600)
    assert "usually 3 an hour" in found[0].summary


def test_history_raises_the_bar_only_for_that_user() -> None:
    stream = Stream()
    hourly(stream, "shop@example.com", 50, hours=24)
    hourly(stream, "shop@example.com", 60, hours=2, start_hour=24)
    hourly(stream, "dave@example.com", 60, hours=1, start_hour=24)
    late = [r for r in raised(run(stream, only=BURST)) if r.raised_at >= at(24 * 3600)]
    assert [f.key for f in late] == ["dave@example.com"]


def test_many_recipient_messages_do_not_count() -> None:
    stream = Stream()
    rcpts = [f"member{n}@example.org" for n in range(40)]
    for n in range(500):
        stream.submission(at(n * 5), "news@example.com", "192.0.2.7", rcpts=rcpts)
    assert raised(run(stream, only=BURST)) == []


def test_reinjected_copies_are_not_counted_twice() -> None:
    stream = Stream()
    for n in range(25):  # 25 < 30 in 10 min; counted twice it would be 50
        stream.submission(at(n * 20), "erin@example.com", "192.0.2.33")
        stream.submission(at(n * 20 + 3), "erin@example.com", "127.0.0.1", origin="reinjected")
    config = {"detectors": {"burst": {"long_threshold": 1000}}}
    assert raised(run(stream, config=config, only=BURST)) == []
    config["detectors"]["burst"]["short_threshold"] = 25
    assert len(raised(run(stream, config=config, only=BURST))) == 1


def test_allow_list_and_per_user_override_and_disable() -> None:
    def stream_for(user: str, ip: str = "203.0.113.5") -> Stream:
        stream = Stream()
        for n in range(200):
            stream.submission(at(n * 2), user, ip)
        return stream

    assert len(raised(run(stream_for("crm@example.com"), only=BURST))) == 1
    allow = {"allow": {"users": ["CRM@example.com"]}}
    assert raised(run(stream_for("crm@example.com"), config=allow, only=BURST)) == []
    nets = {"allow": {"networks": ["203.0.113.0/24"]}}
    assert raised(run(stream_for("crm@example.com"), config=nets, only=BURST)) == []
    override = {
        "users": {
            "crm@example.com": {
                "detectors": {"burst": {"short_threshold": 500, "long_threshold": 1000}}
            }
        }
    }
    assert raised(run(stream_for("crm@example.com"), config=override, only=BURST)) == []
    assert len(raised(run(stream_for("other@example.com"), config=override, only=BURST))) == 1
    off = {"users": {"crm@example.com": {"detectors": {"burst": {"enabled": False}}}}}
    assert raised(run(stream_for("crm@example.com"), config=off, only=BURST)) == []
    globally_off = {"detectors": {"burst": {"enabled": False}}}
    assert raised(run(stream_for("crm@example.com"), config=globally_off)) == []


def test_state_is_bounded_and_expires() -> None:
    from builders import detectors_for

    (detector,) = detectors_for({"detectors": {"burst": {"max_users": 50}}}, BURST)
    stream = Stream()
    for n in range(300):
        stream.submission(at(n), f"user{n}@example.com", "192.0.2.1")
    stream.submission(at(3 * 3600), "late@example.com", "192.0.2.1")
    run(stream, detectors=[detector])
    assert len(detector._short) <= 50 and len(detector._long) <= 50
    assert len(detector._short) == 1  # everything but the last user expired
