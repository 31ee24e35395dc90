"""Signal.facts: a documented vocabulary, checked when a Signal is made."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from spamwatch.config import Config
from spamwatch.correlate import Correlator
from spamwatch.detectors import build_detectors
from spamwatch.model import FACTS, Severity, Signal
from spamwatch.parse import Parser

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def make(facts: frozenset[str]) -> Signal:
    return Signal("burst", "alice", "sasl_username", Severity.WARNING, T0, T0, "s", facts=facts)


def test_facts_default_to_none_and_carry_known_names() -> None:
    assert make(frozenset()).facts == frozenset()
    assert make(frozenset({"volume", "new_network"})).facts == {"volume", "new_network"}


def test_an_unknown_fact_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown signal facts"):
        make(frozenset({"volumes"}))


def test_every_fact_is_documented_in_readme_and_man_page() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("(`Signal.facts`)") : readme.index("Writing a detector")]
    man = (ROOT / "man/spamwatch.1").read_text()
    section = man[man.index(".SS facts") : man.index(".SS findings")]
    assert [name for name in FACTS if f"`{name}`" not in table] == []
    assert [name for name in FACTS if f" {name}" not in section] == []


def signals_of(sample: str) -> dict[tuple[str, str], frozenset[str]]:
    """(detector, key kind) -> the union of facts its signals named over a sample log."""
    parser, correlator = Parser(), Correlator()
    detectors = build_detectors(Config())
    found: dict[tuple[str, str], frozenset[str]] = {}

    def take(signals: Iterable[Signal]) -> None:
        for sig in signals:
            slot = (sig.detector, sig.key_kind)
            found[slot] = found.get(slot, frozenset()) | sig.facts

    with open(ROOT / "samples" / sample, "rb") as handle:
        for line in handle:
            event = parser.parse(line)
            if event is None:
                continue
            for detector in detectors:
                take(detector.tick(event.time))
                take(detector.on_event(event))
            for update in correlator.feed(event):
                for detector in detectors:
                    take(detector.on_update(update))
    return found


def test_the_built_in_detectors_name_what_they_found() -> None:
    """Each built-in detector names its facts: the incident is graded from them."""
    account = signals_of("compromised-account.log")
    assert {"volume", "no_history"} <= account[("burst", "sasl_username")]
    assert account[("addresses", "sasl_username")] == {"many_networks"}
    assert account[("sender", "sasl_username")] == {"foreign_sender"}
    assert account[("bounces", "sasl_username")] == {"bounces"}
    assert account[("queue", "host")] & {"queue_growth", "deferrals"}
    spray = signals_of("password-spraying.log")
    assert spray[("auth", "host")] == {"spray"}
    assert "success_after_failures" in spray[("auth", "sasl_username")]
    brute = signals_of("brute-force.log")
    assert brute[("auth", "client_ip")] == {"brute_force"}
