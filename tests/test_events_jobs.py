"""events --messages --jobs 2 (the log read and parsed by a second process) prints what
--jobs 1 prints: byte for byte, on every sample, over several files read as one stream
(a rotated gzip part then the log: a message crossing the two is joined alike), and the
summary line on stderr is the same too; the events a child hands over are the
events it read."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from dateutil.tz import gettz

from spamwatch.cli import cli
from spamwatch.model import Event
from spamwatch.parse import ParseOptions, Parser
from spamwatch.parse.forked import blocks_forked
from spamwatch.sources.files import iter_blocks
from tests.conftest import ROOT

SAMPLES = sorted((ROOT / "samples").glob("*.log"))


def events(*args: str) -> Result:
    return CliRunner().invoke(cli, ["events", "--config", "/dev/null", "--messages", *args])


def same(*args: str) -> str:
    one, two = events("--jobs", "1", *args), events("--jobs", "2", *args)
    assert (two.exit_code, two.stdout, two.stderr) == (one.exit_code, one.stdout, one.stderr)
    return one.stdout


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_two_processes_print_what_one_prints(path: Path) -> None:
    assert same(str(path))
    same("--include-open", str(path))


def test_several_files_one_stream(tmp_path: Path) -> None:
    lines = b"".join(path.read_bytes() for path in SAMPLES).splitlines(keepends=True)
    half = len(lines) // 2
    (tmp_path / "mail.log.1.gz").write_bytes(gzip.compress(b"".join(lines[:half])))
    (tmp_path / "mail.log").write_bytes(b"".join(lines[half:]))
    out = same(str(tmp_path / "mail.log.1.gz"), str(tmp_path / "mail.log"))
    assert out.count("\n") > 10


def _blocks_of(parser: Parser, data: bytes, rows: bool) -> Iterator[tuple[list, int]]:
    parser.tuples = rows
    parser.begin_source(parser.options.anchor)
    for block in iter_blocks(io.BytesIO(data)):
        yield parser.parse_block(block), parser.stats.lines


@pytest.mark.parametrize("rows", [False, True], ids=["events", "rows"])
def test_the_events_handed_over_are_the_events_read(rows: bool) -> None:
    """``forked.blocks_forked``: Events or rows in the child, the same Events here,
    fields in the same order, times with the very zone objects this process uses
    (a fixed offset's, and the parser's own for a header-less first line)."""
    zone = gettz("Europe/Berlin")
    options = ParseOptions(anchor=datetime(2026, 12, 1, tzinfo=zone), timezone=zone)
    data = (
        b"postfix/qmgr[1]: ABCDE12345: removed\n"  # no time: the anchor, in the parser's zone
        b"Mar 29 01:59:59 h postfix/qmgr[1]: ABCDE12345: from=<a@b>, size=1, nrcpt=1 "
        b"(queue active)\n"
        b"Mar 29 03:00:00 h postfix/smtp[2]: ABCDE12345: to=<c@d>, relay=r, delay=1, "
        b"delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n"
        b"2026-03-29T03:00:01.5-04:00 h postfix/smtpd[3]: ABCDE12346: client=x[192.0.2.1]\n"
        b"Mar 29 03:00:02 h postfix/pickup[4]: ABCDE12347: uid=0 from=<root>\n"
    ) * 3
    want = [e for e, _ in _blocks_of(Parser(options, queue_ids_only=True), data, False)]
    parser = Parser(options, queue_ids_only=True)
    got = [e for e, _ in blocks_forked(parser, lambda: _blocks_of(parser, data, rows))]
    assert got == want and len(got[0]) == 15
    for mine, theirs in zip(got[0], want[0], strict=True):
        assert list(mine.fields.items()) == list(theirs.fields.items())
        assert mine.time.tzinfo is theirs.time.tzinfo
    assert got[0][0].time.tzinfo is parser.clock.zone
    assert parser.stats.events == 15


def test_fields_marshal_cannot_write_go_by_pickle() -> None:
    """``forked``: a block is handed over in columns, the fields by marshal; a block
    whose fields hold a value marshal does not write (here a time) goes by pickle
    whole, and arrives the same as the blocks around it."""
    when = datetime(2026, 12, 1, tzinfo=UTC)
    plain = Event(when, "h", "postfix/qmgr", "qmgr", 2, "ABCDE12345", "removed", {})
    odd = Event(when, "h", "postfix/smtp", "smtp", 1, "ABCDE12345", "delivery", {"at": when})
    blocks = [([plain], 1), ([plain, odd], 2), ([], 3), ([plain], 4)]
    parser = Parser(ParseOptions(anchor=when, timezone=UTC), queue_ids_only=True)
    assert list(blocks_forked(parser, lambda: iter(blocks))) == blocks
