"""report reads only the lines some stage needs, and finds exactly what reading all of them finds.

``pipeline.reading_parser`` skips unread every line without a queue id and without
one of ``grammar.MARKERS`` (SASL failures, ``client=``, rejections). The pipeline
ignores events no stage reads, so the two ways of reading must agree on every
finding and every summary figure; only the count of events parsed differs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
from click.testing import CliRunner

from spamwatch.cli import cli
from spamwatch.cli import report as report_module
from spamwatch.config import Config
from spamwatch.correlate import KINDS as MESSAGE_KINDS
from spamwatch.detectors import build_detectors
from spamwatch.detectors.base import Detector
from spamwatch.follow.live import LiveStats
from spamwatch.model import Event, Signal
from spamwatch.parse import Parser
from spamwatch.pipeline import TAP_KINDS, direct_kinds, reading_parser
from spamwatch.report.summary import TrafficSummary
from spamwatch.sources.files import iter_blocks, open_binary
from tests.conftest import ROOT

SAMPLES = sorted((ROOT / "samples").glob("*.log"))
HOSTILE = [
    b"Nov 28 03:00:01 mx postfix/smtpd[1]: client=odd[192.0.2.7], sasl_username=nobody",
    b"Nov 28 03:00:02 mx postfix/smtpd[1]: reject: RCPT from odd[192.0.2.7]: 554 5.7.1 no",
    b"Nov 28 03:00:03 mx postfix/smtpd[1]: warning:   x[192.0.2.8]: SASL PLAIN authentication"
    b" failed: bad, sasl_username=root",
    b"Nov 28 03:00:04 mx postfix/smtpd[1]: connect from odd[192.0.2.7]",
]


class ReadsEverything(Detector):
    """A plugin that reads every kind: the report must parse every line for it."""

    name = "everything"

    def on_event(self, event: Event) -> Iterable[Signal]:
        return ()


def events(parser: Parser, path: Path) -> list[tuple[object, ...]]:
    out = []
    for block in iter_blocks(open_binary(str(path)), str(path)):
        out.extend((e.time, e.kind, e.queue_id, dict(e.fields)) for e in parser.parse_block(block))
    return out


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_the_lines_skipped_unread_hold_no_event_a_stage_reads(path: Path) -> None:
    detectors = build_detectors(Config())
    direct = direct_kinds(detectors, TAP_KINDS)
    assert direct is not None
    fast = reading_parser(Parser().options, detectors)
    assert fast.queue_ids_only  # the built-in detectors declare what they read
    wanted = [
        e
        for e in events(Parser(), path)
        if e[1] in direct or (e[2] is not None and e[1] in MESSAGE_KINDS)
    ]
    assert [e for e in events(fast, path) if e[1] in direct or e[2] is not None] == wanted


def test_odd_lines_without_a_queue_id_are_still_read(tmp_path: Path) -> None:
    log = tmp_path / "odd.log"
    log.write_bytes(b"\n".join(HOSTILE) + b"\n")
    fast = reading_parser(Parser().options, build_detectors(Config()))
    assert [e[1] for e in events(fast, log)] == ["client", "reject", "sasl_failure"]
    assert fast.stats.skipped == 1 and fast.stats.lines == 4


def test_a_detector_reading_every_kind_makes_the_report_read_every_line() -> None:
    detectors = [*build_detectors(Config()), ReadsEverything()]
    parser = reading_parser(Parser().options, detectors)
    assert not parser.queue_ids_only and parser.kinds is None


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_report_reading_only_what_it_needs_says_what_reading_everything_says(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["report", "--format", "text", "--fail-on", "never", str(path)]
    fast = CliRunner().invoke(cli, args)
    monkeypatch.setattr(report_module, "reading_parser", lambda options, *_: Parser(options))
    slow = CliRunner().invoke(cli, args)
    assert fast.exit_code == slow.exit_code == 0, fast.output + slow.output
    drop = ("  read:",)  # the one line that differs: how many events were parsed
    same = [line for line in fast.stdout.splitlines() if not line.startswith(drop)]
    assert same == [line for line in slow.stdout.splitlines() if not line.startswith(drop)]
    assert fast.stdout != slow.stdout  # the fast path did skip lines


def test_the_commands_taps_read_within_the_pipelines_tap_kinds() -> None:
    assert TrafficSummary.KINDS <= TAP_KINDS and LiveStats.KINDS <= TAP_KINDS
