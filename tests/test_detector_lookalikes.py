"""Benign look-alikes: no finding from any detector at default settings.

Each stream is what a real server sees from a legitimate sender that shares one
trait with an abused account (volume, single recipients, many networks, a full
queue). All six detectors run on each, as in production.
"""

from __future__ import annotations

import random

from builders import Stream, at, run
from test_detector_burst import incident
from test_detector_queue import backup_mx_outage

from spamwatch.model import Severity

DAY = 86400


def test_newsletter_account_many_messages_many_recipients() -> None:
    stream = Stream()
    rng = random.Random(5)
    for n in range(800):  # a campaign: 800 messages of 50 recipients in 40 minutes
        rcpts = [
            f"sub{rng.randrange(10**6)}@{rng.choice(['gmail.com', 'gmx.de', 'web.de'])}"
            for _ in range(50)
        ]
        stream.submission(
            at(n * 3),
            "newsletter@example.com",
            "192.0.2.20",
            rcpts=rcpts,
            sender="newsletter@example.com",
        )
    assert run(stream) == []


def test_notification_system_steady_low_rate_all_day() -> None:
    stream = Stream()
    rng = random.Random(9)
    t = 0.0
    while t < 2 * DAY:  # a ticket system: one mail every 4-8 minutes, two days long
        stream.submission(
            at(t),
            "tickets@example.com",
            "192.0.2.30",
            rcpts=[f"customer{rng.randrange(5000)}@example.net"],
            sender="noreply@example.com",
        )
        t += rng.uniform(240, 480)
    assert run(stream) == []


def test_traveller_sending_a_few_mails_from_three_networks() -> None:
    stream = Stream()
    legs = [("192.0.2.55", 0), ("198.51.100.77", 3600), ("2001:db8:cafe:1::42", 5400)]
    for ip, start in legs:  # hotel wifi, phone on mobile data, airport lounge
        for n in range(4):
            stream.submission(
                at(start + n * 300),
                "frank@example.com",
                ip,
                rcpts=[f"colleague{n}@partner.example"],
            )
    assert run(stream) == []


def test_mailing_list_expansion() -> None:
    stream = Stream()
    # a list post arrives (inbound, one message), the list server re-sends it with
    # VERP: one message per member, over loopback, unauthenticated
    stream.submission(
        at(0),
        None,
        "198.51.100.5",
        rcpts=["list@lists.example.com"],
        sender="poster@elsewhere.example",
        service="postfix/smtpd",
    )
    for n in range(2500):
        stream.submission(
            at(10 + n * 0.2),
            None,
            "127.0.0.1",
            rcpts=[f"member{n}@{['gmail.com', 'yahoo.com', 'gmx.de'][n % 3]}"],
            sender=f"list-bounces+member{n}@lists.example.com",
            service="postfix/smtpd",
        )
    assert run(stream) == []


def test_backup_mx_draining_its_queue_is_at_most_info() -> None:
    stream = Stream()
    backup_mx_outage(stream)
    assert all(r.severity is Severity.INFO for r in run(stream))


def test_the_incident_itself_is_seen_by_several_detectors() -> None:
    """The contrast case: the same defaults do fire on the real incident."""
    stream = Stream()
    incident(stream, count=1500, minutes=12)
    records = run(stream)
    assert {r.detector for r in records} >= {"burst", "addresses", "sender"}
    assert all(r.key == "alice@example.com" for r in records if r.detector != "queue")
