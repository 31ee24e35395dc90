"""addresses: many client networks behind one SASL login; phones and travellers are not."""

from __future__ import annotations

from datetime import timedelta

from builders import Stream, at, detectors_for, raised, run

from spamwatch.model import Severity

ONLY = ("addresses",)


def test_botnet_of_twelve_addresses_is_raised_and_escalates() -> None:
    stream = Stream()
    for n in range(120):
        stream.submission(at(n * 5), "alice@example.com", f"203.0.113.{10 + n % 12}")
    records = run(stream, only=ONLY)
    found = raised(records, "addresses")
    assert len(found) == 1
    assert found[0].key == "alice@example.com"
    assert found[0].counts["networks"] == 5
    assert found[0].raised_at == at(4 * 5) + timedelta(seconds=0)  # the 5th network's line
    assert max(r.severity for r in records) is Severity.CRITICAL
    last = records[-1]
    assert len(last.evidence["client_addresses"]) == 10  # top-N only
    assert last.evidence["sample_queue_ids"]
    assert "alice@example.com logged in from" in last.summary


def test_ipv6_privacy_addresses_count_as_one_network() -> None:
    stream = Stream()
    for n in range(40):
        stream.submission(at(n * 30), "bob@example.com", f"2001:db8:1:2::{n + 1:x}")
    assert raised(run(stream, only=ONLY)) == []


def test_ipv4_slash24_grouping_is_optional() -> None:
    stream = Stream()
    for n in range(10):
        stream.submission(at(n * 60), "carol@example.com", f"100.64.7.{n + 1}")
    assert len(raised(run(stream, only=ONLY))) == 1
    grouped = {"detectors": {"addresses": {"ipv4_prefix": 24}}}
    assert raised(run(stream, config=grouped, only=ONLY)) == []


def test_phone_hopping_between_home_and_mobile_is_not_a_botnet() -> None:
    stream = Stream()
    places = ["192.0.2.44", "198.51.100.201", "2001:db8:aa:bb::17"]
    for n in range(60):  # every 10 minutes for ten hours, moving around
        stream.submission(at(n * 600), "dave@example.com", places[(n // 3) % 3])
    assert raised(run(stream, only=ONLY)) == []


def test_networks_outside_the_window_do_not_add_up() -> None:
    stream = Stream()
    for n in range(20):  # a new address every 20 minutes: never 5 within an hour
        stream.submission(at(n * 1200), "erin@example.com", f"198.51.100.{n + 1}")
    assert raised(run(stream, only=ONLY)) == []


def test_allowed_network_is_not_counted_and_state_expires() -> None:
    (detector,) = detectors_for({"allow": {"networks": ["203.0.113.0/24"]}}, ONLY)
    stream = Stream()
    for n in range(50):
        stream.submission(at(n), "alice@example.com", f"203.0.113.{n + 1}")
    stream.submission(at(7200), "late@example.com", "192.0.2.1")
    assert raised(run(stream, detectors=[detector])) == []
    assert len(detector._nets) == 1  # alice's window expired and was dropped
