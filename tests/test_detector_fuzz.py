"""Bad input is normal input: random events and message updates never crash a detector."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from builders import T0
from hypothesis import given, settings
from hypothesis import strategies as st

from spamwatch.config import Config
from spamwatch.detectors import build_detectors
from spamwatch.incidents.tracker import FindingTracker
from spamwatch.model import Event, Message, MessageUpdate, Recipient, Stage

pytestmark = pytest.mark.slow  # a large share of the suite's time: CI runs it, daily work not

TEXT = st.text(max_size=40) | st.sampled_from(["", "alice@example.com", "ALICE@Example.com", "a@"])
IP = st.sampled_from(["192.0.2.1", "2001:db8::1", "IPv6:2001:db8::2", "unknown", "", "300.1.1.1"])
MAYBE = st.none() | TEXT
KIND = st.sampled_from(["client", "sasl_failure", "queued", "delivery", "removed", "generic"])
STATUS = st.sampled_from(["sent", "deferred", "bounced", "expired", "weird", ""])


@st.composite
def items(draw: st.DrawFn) -> list[tuple[Event, list[MessageUpdate]]]:
    out = []
    t = T0
    for _ in range(draw(st.integers(1, 60))):
        t += timedelta(seconds=draw(st.floats(0, 4000)))
        host = draw(st.sampled_from(["mx1", "mx2", ""]))
        fields = {
            "client_ip": draw(IP),
            "client_name": draw(TEXT),
            "sasl_username": draw(MAYBE),
            "from": draw(MAYBE),
        }
        event = Event(t, host, "postfix/smtpd", "smtpd", None, draw(MAYBE), draw(KIND), fields)
        message = Message(
            host=host,
            queue_id=draw(st.sampled_from(["A1", "B2", "C3"])),
            first_seen=t,
            last_seen=t,
            origin=draw(st.sampled_from([None, "smtpd", "pickup", "bounce", "reinjected"])),
            client_ip=draw(st.none() | IP),
            sasl_username=draw(MAYBE),
            sender=draw(MAYBE),
            nrcpt=draw(st.none() | st.integers(0, 3)),
        )
        rcpt = Recipient(
            draw(TEXT),
            draw(STATUS),
            t,
            relay=draw(st.none() | st.sampled_from(["127.0.0.1[127.0.0.1]:10024", "x[::1]", "["])),
            reason=draw(MAYBE),
            dsn=draw(MAYBE),
            attempts=draw(st.integers(0, 3)),
        )
        stages = draw(st.lists(st.sampled_from(list(Stage)), max_size=3))
        updates = [
            MessageUpdate(s, message, event, rcpt if s is Stage.DELIVERY else None) for s in stages
        ]
        out.append((event, updates))
    return out


@settings(max_examples=150, deadline=None)
@given(items())
def test_detectors_never_raise_and_findings_are_json(stream: list) -> None:
    config = {"detectors": {"burst": {"short_threshold": 1, "long_threshold": 1},
                            "addresses": {"threshold": 1}, "sender": {"threshold": 1},
                            "bounces": {"min_count": 1}, "auth": {"per_address": 1,
                            "spray_addresses": 1, "success_after": 1, "per_user": 1},
                            "queue": {"level": 1, "growth": 1, "deferred": 1}}}  # fmt: skip
    detectors = build_detectors(Config(data=config))
    tracker = FindingTracker()
    records = []
    for event, updates in stream:
        for detector in detectors:
            records += [tracker.observe(s) for s in detector.tick(event.time)]
            records += [tracker.observe(s) for s in detector.on_event(event)]
            for update in updates:
                records += [tracker.observe(s) for s in detector.on_update(update)]
        records += tracker.tick(event.time)
    records += tracker.finish(stream[-1][0].time)
    for record in records:
        if record is not None:
            json.dumps(record.to_json())
