"""auth: brute force, password spraying (before the first success), success after failures."""

from __future__ import annotations

import random
from datetime import timedelta

from builders import Stream, at, raised, run

from spamwatch.model import Severity

ONLY = ("auth",)


def test_brute_force_from_one_address() -> None:
    stream = Stream()
    for n in range(40):
        stream.sasl_failure(at(n * 6), "198.51.100.66")
    records = run(stream, only=ONLY)
    found = raised(records, "auth")
    assert [(f.key, f.key_kind) for f in found] == [("198.51.100.66", "client_ip")]
    assert found[0].raised_at == at(9 * 6)  # the tenth failure
    assert max(r.severity for r in records) is Severity.CRITICAL  # 30 in 10 minutes
    assert "failed SASL authentication" in found[0].summary


def test_password_spraying_is_raised_within_ten_minutes_before_the_first_success() -> None:
    rng = random.Random(11)
    stream = Stream()
    bots = [f"203.0.113.{n}" for n in range(1, 41)]
    users = [f"user{n}@example.com" for n in range(30)]
    first = 60.0
    for index, ip in enumerate(bots):  # each address tries about once every 6 minutes
        t = first + index * 9
        while t < first + 30 * 60:
            stream.sasl_failure(at(t), ip, rng.choice(users))
            t += rng.uniform(300, 420)
    success = at(first + 14 * 60)
    stream.login(success, "user7@example.com", bots[3])  # one guess worked
    records = run(stream, only=ONLY)
    spray = [f for f in raised(records, "auth") if f.key_kind == "host"]
    assert len(spray) == 1
    assert spray[0].raised_at - at(first) <= timedelta(minutes=10)
    assert spray[0].raised_at < success
    assert "password spraying" in spray[0].summary
    assert spray[0].counts["addresses"] >= 10
    breach = [r for r in records if r.key == "user7@example.com"]
    assert breach and breach[0].raised_at == success
    assert breach[0].severity is Severity.CRITICAL
    assert "logged in from 203.0.113.4 after" in breach[0].summary
    before = [
        ev
        for ev, _ in stream.ordered()
        if ev.kind == "sasl_failure" and ev.fields["client_ip"] == bots[3] and ev.time < success
    ]
    assert breach[0].evidence["logins_after_failures"] == {"203.0.113.4": len(before)}
    assert len(before) < 5  # below success_after: the spray is what makes it critical


def test_success_after_many_failures_from_the_same_address() -> None:
    stream = Stream()
    for n in range(6):
        stream.sasl_failure(at(n * 30), "192.0.2.77", "carol@example.com")
    stream.login(at(400), "carol@example.com", "192.0.2.77")
    found = raised(run(stream, only=ONLY))
    assert [(f.key, f.severity) for f in found] == [("carol@example.com", Severity.WARNING)]
    assert found[0].counts["logins_after_failures"] == 1


def test_a_mistyped_password_then_success_is_normal() -> None:
    stream = Stream()
    for day in range(5):
        base = day * 86400
        stream.sasl_failure(at(base), "192.0.2.10", "dave@example.com")
        stream.sasl_failure(at(base + 20), "192.0.2.10", "dave@example.com")
        stream.login(at(base + 40), "dave@example.com", "192.0.2.10")
    assert raised(run(stream, only=ONLY)) == []


def test_many_failures_against_one_username_from_several_addresses() -> None:
    stream = Stream()
    for n in range(12):
        stream.sasl_failure(at(n * 240), f"198.51.100.{n % 6 + 1}", "erin@example.com")
    found = raised(run(stream, only=ONLY))
    assert [(f.key, f.key_kind) for f in found] == [("erin@example.com", "sasl_username")]
    assert "10 failed SASL logins in 1h from 6 addresses" in found[0].summary


def test_background_scanners_and_allowed_networks_stay_quiet() -> None:
    stream = Stream()
    for hour in range(24):
        for ip in ("198.51.100.1", "198.51.100.2", "2001:db8::99"):
            stream.sasl_failure(at(hour * 3600 + 100), ip)
            stream.sasl_failure(at(hour * 3600 + 1900), ip)
    for n in range(50):  # the monitoring host tests a wrong password on purpose
        stream.sasl_failure(at(n * 10), "192.0.2.250", "monitor@example.com")
    config = {"allow": {"networks": ["192.0.2.250/32"]}}
    assert raised(run(stream, config=config, only=ONLY)) == []
