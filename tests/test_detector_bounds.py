"""Hostile input stays bounded: huge names, endless keys, thousands of hosts."""

from __future__ import annotations

import tracemalloc

from builders import Stream, at, detectors_for, run

from spamwatch.detectors.allow import ADDRESSES_CACHED, domain_of, network_of, parse_ip
from spamwatch.detectors.queue import reason_key


def test_a_megabyte_login_is_clipped_to_a_bounded_key() -> None:
    huge = "a" * 1_000_000 + "@example.com"
    stream = Stream()
    for n in range(60):
        stream.submission(at(n), huge, f"203.0.113.{n + 1}", sender="x@forged.example")
    records = run(stream, config={"local_domains": ["example.com"]})
    assert records, "the abuse is still seen"
    assert all(len(r.key) <= 320 for r in records)
    assert {r.detector for r in records} >= {"burst", "addresses", "sender"}


def test_endless_distinct_users_and_addresses_keep_state_capped() -> None:
    config = {
        "detectors": {
            "burst": {"max_users": 100},
            "addresses": {"max_users": 100},
            "sender": {"max_users": 100},
            "auth": {"max_keys": 100},
        }
    }
    detectors = {d.name: d for d in detectors_for(config)}
    stream = Stream()
    for n in range(3000):
        stream.submission(
            at(n * 0.5),
            f"u{n}@example.com",
            f"10.{n // 65536}.{n // 256 % 256}.{n % 256}",
            sender=f"s{n}@forged{n}.example",
        )
        stream.sasl_failure(at(n * 0.5), f"198.18.{n // 256 % 256}.{n % 256}", f"v{n}@example.com")
    run(stream, detectors=list(detectors.values()))
    burst, addresses, sender, auth = (
        detectors[k] for k in ("burst", "addresses", "sender", "auth")
    )
    assert len(burst._long) <= 100 and len(burst._history) <= 100  # type: ignore[attr-defined]
    assert len(addresses._nets) <= 100  # type: ignore[attr-defined]
    assert len(sender._foreign) <= 100  # type: ignore[attr-defined]
    assert len(auth._failed) <= 100 and len(auth._by_user) <= 100  # type: ignore[attr-defined]


def test_thousands_of_hosts_are_capped_in_the_queue_detector() -> None:
    (queue,) = detectors_for(None, ("queue",))
    stream = Stream()
    for n in range(1500):
        stream.host = f"host{n}.example"
        stream.submission(at(n), "a@example.com", "192.0.2.1", status="deferred")
    run(stream, detectors=[queue])
    assert len(queue._owners) == 1000  # type: ignore[attr-defined]


def test_a_month_of_distinct_client_addresses_keeps_the_address_caches_small() -> None:
    """Scanners and botnets bring new addresses every day: the parsed addresses and
    networks the detectors keep are their hot set, not every client ever seen."""
    addresses = [f"10.{n // 65536}.{n // 256 % 256}.{n % 256}" for n in range(40_000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for ip in addresses:
            network_of(ip, 24, 64)
            network_of(ip)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert parse_ip.cache_info().currsize <= ADDRESSES_CACHED
    assert network_of.cache_info().currsize <= ADDRESSES_CACHED
    assert grown < 6_000_000  # 40,000 of each cached would be about 20 MB
    assert network_of("10.0.1.9", 24, 64) == "10.0.1.0/24"


def test_an_incidents_domains_and_reasons_are_kept_once_each() -> None:
    """The windows keep a domain and a reason per message: an incident's thousands of
    messages to a few hundred domains keep a string per domain, not per message."""
    lines = [f"rcpt{n}@Mail{n % 3}.Example.COM." for n in range(3000)]
    kept = [domain_of(line) for line in lines]  # held, as a window holds them
    assert len({id(domain) for domain in kept}) == 3
    assert domain_of(lines[0]) == "mail0.example.com"
    reasons = [
        f"host mx{n % 2}.example.com[192.0.2.{n % 250}] said: 421 4.7.0 Try again later"
        for n in range(3000)
    ]
    keys = [reason_key(reason, "4.7.0") for reason in reasons]
    assert len({id(key) for key in keys}) == 2
