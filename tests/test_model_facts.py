"""Signal.facts: a documented vocabulary, checked when a Signal is made."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from spamwatch.model import FACTS, Severity, Signal

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
