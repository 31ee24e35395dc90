"""bounces: a rise of 5xx bounces and deferrals on one SASL user's outbound mail."""

from __future__ import annotations

from builders import Stream, at, raised, run

from spamwatch.model import Severity

ONLY = ("bounces",)
UNKNOWN = "host mx.example.net[198.51.100.25] said: 550 5.1.1 user unknown"
FILTER = "127.0.0.1[127.0.0.1]:10024"


def test_harvested_addresses_bounce_and_are_raised() -> None:
    stream = Stream()
    for n in range(300):
        status = ("bounced", "deferred", "sent")[n % 3]
        stream.submission(
            at(n * 4),
            "alice@example.com",
            "203.0.113.7",
            rcpts=[f"old{n}@{['example.net', 'yahoo.com'][n % 2]}"],
            status=status,
            reason=UNKNOWN if status == "bounced" else "421 try later",
        )
    records = run(stream, only=ONLY)
    found = raised(records, "bounces")
    assert [f.key for f in found] == ["alice@example.com"]
    assert found[0].counts["failed"] == 20
    assert max(r.severity for r in records) is Severity.CRITICAL  # 100 failures
    last = records[-1]
    assert set(last.evidence["statuses"]) == {"bounced", "deferred"}
    assert "5.1.1 host mx.example.net said: 550 5.1.1 user unknown" in last.evidence["reasons"]
    assert "bounced or deferred" in last.summary


def test_a_few_bounces_among_normal_mail_are_normal() -> None:
    stream = Stream()
    for n in range(400):
        status = "bounced" if n % 20 == 0 else "sent"
        stream.submission(
            at(n * 9),
            "bob@example.com",
            "192.0.2.4",
            status=status,
            reason=UNKNOWN if status == "bounced" else "250 ok",
        )
    assert raised(run(stream, only=ONLY)) == []


def test_retries_and_filter_hops_do_not_count() -> None:
    stream = Stream()
    for n in range(40):
        message = stream.submission(at(n * 10), "carol@example.com", "192.0.2.5", relay=FILTER)
        for attempt in range(2, 6):  # later attempts of some other deferred mail
            stream.deliver(
                message, at(n * 10 + attempt), ["x@example.net"], "deferred", attempts=attempt
            )
    assert raised(run(stream, only=ONLY)) == []
    stream = Stream()
    for n in range(40):
        stream.submission(
            at(n * 10), "carol@example.com", "192.0.2.5", relay=FILTER, status="deferred"
        )
    assert raised(run(stream, only=ONLY)) == []  # the filter said 4xx, not the world


def test_ratio_and_min_count_are_tunable_per_user() -> None:
    stream = Stream()
    for n in range(100):
        status = "bounced" if n % 4 == 0 else "sent"  # 25 % failures, 25 failures
        stream.submission(
            at(n * 20),
            "dave@example.com",
            "192.0.2.6",
            status=status,
            reason=UNKNOWN if status == "bounced" else "250 ok",
        )
    assert raised(run(stream, only=ONLY)) == []
    strict = {"users": {"dave@example.com": {"detectors": {"bounces": {"ratio": 0.2}}}}}
    assert len(raised(run(stream, config=strict, only=ONLY))) == 1
