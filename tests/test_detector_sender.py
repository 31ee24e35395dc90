"""sender: an authenticated login sending as someone else's domain."""

from __future__ import annotations

from builders import Stream, at, detectors_for, raised, run

from spamwatch.model import Severity

ONLY = ("sender",)


def test_foreign_envelope_sender_is_raised_with_domains() -> None:
    stream = Stream()
    for n in range(60):
        sender = f"service{n}@{['paypa1.com', 'dhl-track.net'][n % 2]}"
        stream.submission(at(n * 10), "alice@example.com", "203.0.113.9", sender=sender)
    records = run(stream, only=ONLY)
    found = raised(records, "sender")
    assert [f.key for f in found] == ["alice@example.com"]
    assert found[0].raised_at == at(4 * 10 + 0.2)  # the fifth message's qmgr line
    assert max(r.severity for r in records) is Severity.CRITICAL  # 50 = 10 x 5
    last = records[-1]
    assert set(last.evidence["sender_domains"]) == {"paypa1.com", "dhl-track.net"}
    assert "foreign envelope sender" in last.summary
    assert last.evidence["client_addresses"] == {"203.0.113.9": 50}  # at the critical record


def test_own_domain_subdomain_local_domains_and_null_sender_are_fine() -> None:
    stream = Stream()
    senders = [
        "alice@example.com",
        "Alice@Example.COM",
        "alice@lists.example.com",
        "",
        "alice@example.org",
        "root",
    ]
    for n in range(120):
        stream.submission(
            at(n * 10), "alice@example.com", "192.0.2.1", sender=senders[n % len(senders)]
        )
    config = {"local_domains": ["example.org"]}
    assert raised(run(stream, config=config, only=ONLY)) == []
    # without example.org as a local domain, its 20 messages are foreign
    assert len(raised(run(stream, only=ONLY))) == 1


def test_login_without_domain_uses_local_domains_only() -> None:
    stream = Stream()
    for n in range(10):
        stream.submission(at(n * 10), "alice", "192.0.2.1", sender="alice@example.com")
    config = {"local_domains": ["example.com"]}
    assert raised(run(stream, config=config, only=ONLY)) == []
    elsewhere = {"local_domains": ["example.org"]}
    assert len(raised(run(stream, config=elsewhere, only=ONLY))) == 1
    # a bare login and no local_domains: no domain to compare with, so no verdict
    assert raised(run(stream, only=ONLY)) == []


def test_per_user_domains_and_allowed_senders() -> None:
    stream = Stream()
    for n in range(10):
        stream.submission(at(n * 10), "crm@example.com", "192.0.2.1", sender="news@shop.example")
    per_user = {
        "users": {"crm@example.com": {"detectors": {"sender": {"domains": ["shop.example"]}}}}
    }
    assert raised(run(stream, config=per_user, only=ONLY)) == []
    allowed = {"allow": {"senders": ["@shop.example"]}}
    assert raised(run(stream, config=allowed, only=ONLY)) == []
    assert len(raised(run(stream, only=ONLY))) == 1


def test_unauthenticated_and_reinjected_mail_is_ignored() -> None:
    (detector,) = detectors_for(None, ONLY)
    stream = Stream()
    for n in range(10):
        stream.submission(
            at(n), None, "198.51.100.3", sender="x@elsewhere.example", service="postfix/smtpd"
        )
        stream.submission(
            at(n),
            "alice@example.com",
            "127.0.0.1",
            sender="x@elsewhere.example",
            origin="reinjected",
        )
    assert raised(run(stream, detectors=[detector])) == []
