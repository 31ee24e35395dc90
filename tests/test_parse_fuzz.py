"""Hypothesis: random bytes and mutated corpus lines never make the parser raise.

Every line must land in exactly one counter, whatever it holds.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spamwatch.parse import ParseOptions, Parser
from tests.conftest import CORPUS

HERE = Path(__file__).parent
SEEDS: list[bytes] = [
    line
    for path in [*sorted(CORPUS.glob("*.log")), HERE / "data" / "annotated.log"]
    for line in path.read_bytes().split(b"\n")
    if line and not line.startswith(b"#")
] or [b"Nov 28 03:13:06 mx1 postfix/smtpd[7]: connect from unknown[192.0.2.1]"]

NASTY = st.sampled_from(
    [b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x1b[2J", b"\r", b"\n", b"\t", b"\x7f",
     b"[", b"]", b":", b"<", b">", b"=", b"(", b")", b" ", b"\x85", b"\xe2\x80\xae"]
)  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A corpus line cut, with bytes flipped, or with nasty bytes inserted."""
    line = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["cut", "flip", "insert", "repeat"]))
        at = draw(st.integers(0, max(len(line) - 1, 0)))
        if op == "cut":
            del line[at:]
        elif op == "flip" and line:
            line[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            line[at:at] = draw(NASTY)
        else:
            line[at:at] = bytes(line[at : at + 40]) * draw(st.integers(1, 50))
    return bytes(line)


def check(lines: list[bytes]) -> None:
    parser = Parser(ParseOptions(syslog_names=("mailout",)))
    for line in lines:
        event = parser.parse(line)
        explanation = parser.explain(line)
        assert explanation.outcome in ("event", "non_postfix", "unrecognised", "malformed")
        assert "internal parser error" not in explanation.reason
        if event is not None:
            assert event.time.tzinfo is not None
            assert all(c.isprintable() for c in event.fields.get("text", ""))
        parser.line_time(line)
    s = parser.stats
    assert s.lines == len(lines)
    assert s.lines == s.events + s.non_postfix + s.unrecognised + s.malformed + s.skipped
    assert s.events == sum(s.by_kind.values())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=20))
def test_random_bytes_are_always_counted(lines: list[bytes]) -> None:
    check(lines)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated(), min_size=1, max_size=20))
def test_mutated_corpus_lines_are_always_counted(lines: list[bytes]) -> None:
    check(lines)
