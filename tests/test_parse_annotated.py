"""Every annotated line of tests/data/annotated.log parses as its comment says.

fail2ban-style: the comment line before each test line states the outcome
(an event kind with attributes and fields, or the counter it lands in).
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from pathlib import Path

import pytest

from spamwatch.model import Event
from spamwatch.parse import ParseOptions, Parser
from spamwatch.parse.kinds import KINDS

DATA = Path(__file__).parent / "data" / "annotated.log"
ATTRS = ("queue_id", "host", "program", "daemon", "pid")
OUTCOMES = ("non_postfix", "unrecognised", "malformed")


def load_cases() -> list[tuple[int, list[str], bytes]]:
    """(line number, annotation words, raw line) for each annotated line."""
    raw_lines = DATA.read_bytes().split(b"\n")
    cases = []
    pending: tuple[int, list[str]] | None = None
    for number, raw in enumerate(raw_lines, 1):
        if raw.startswith(b"## ") or (pending is None and raw.startswith(b"#   ")):
            continue
        if raw.startswith(b"# ") and pending is None:
            words = shlex.split(raw[2:].decode())
            if words and (words[0].startswith("kind=") or words[0] in OUTCOMES):
                pending = (number, words)
            continue
        if pending is not None:
            cases.append((pending[0], pending[1], raw))
            pending = None
    return cases


CASES = load_cases()


def make_parser() -> Parser:
    options = ParseOptions(
        anchor=datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
        timezone=UTC,
        syslog_names=("mailout",),
    )
    return Parser(options)


def check_event(event: Event, words: list[str]) -> list[str]:
    """Differences between ``event`` and the annotation words."""
    problems = []
    for word in words:
        if word.startswith("-"):
            if word[1:] in event.fields or (word[1:] in ATTRS and getattr(event, word[1:])):
                problems.append(f"{word[1:]} should be absent")
            continue
        key, _, want = word.partition("=")
        if key == "kind":
            got = event.kind
        elif key == "time":
            got = event.time.isoformat()
        elif key in ATTRS:
            got = getattr(event, key)
        elif key in event.fields:
            got = event.fields[key]
        else:
            problems.append(f"{key} missing (want {want!r}); fields={dict(event.fields)}")
            continue
        if str(got if got is not None else "") != want:
            problems.append(f"{key}={got!r}, want {want!r}")
    return problems


def test_the_file_has_cases_for_every_kind_and_outcome() -> None:
    kinds = {w[5:] for _, words, _ in CASES for w in words if w.startswith("kind=")}
    outcomes = {words[0] for _, words, _ in CASES if words[0] in OUTCOMES}
    assert kinds == set(KINDS), f"kinds without an annotated line: {set(KINDS) - kinds}"
    assert outcomes == set(OUTCOMES)
    assert len(CASES) > 140


def test_every_annotation_holds() -> None:
    """Lines are fed in file order: header-less lines borrow the previous time."""
    parser = make_parser()
    failures = []
    for number, words, raw in CASES:
        before = parser.stats.lines
        explanation = parser.explain(raw)
        event = parser.parse(raw)
        assert parser.stats.lines == before + 1
        expected = words[0] if words[0] in OUTCOMES else "event"
        if explanation.outcome != expected:
            failures.append(f"line {number}: {explanation.outcome} ({explanation.reason})")
            continue
        if expected != "event":
            assert event is None
            continue
        assert event is not None and event.time.tzinfo is not None
        problems = check_event(event, words)
        if problems:
            failures.append(f"line {number}: " + "; ".join(problems))
    assert not failures, "\n".join(failures)
    stats = parser.stats
    assert stats.lines == len(CASES)
    assert stats.lines == (
        stats.events + stats.non_postfix + stats.unrecognised + stats.malformed + stats.skipped
    )


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_outcome_counters_match_annotations(outcome: str) -> None:
    parser = make_parser()
    for _, _, raw in CASES:
        parser.parse(raw)
    expected = sum(1 for _, words, _ in CASES if words[0] == outcome)
    assert getattr(parser.stats, outcome) == expected
