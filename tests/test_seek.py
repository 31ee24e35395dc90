"""Bisecting a log on its timestamps: same lines as a full read, a fraction of the bytes."""

from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spamwatch.errors import InputError
from spamwatch.sources import seek
from spamwatch.sources.seek import find_offset, first_time, last_time, read_from

T0 = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)


def line_time(line: bytes) -> datetime | None:
    """A stand-in for Parser.line_time: an ISO time at the start of the line, else None."""
    try:
        return datetime.fromisoformat(line[:25].decode())
    except (ValueError, UnicodeDecodeError):
        return None


def stamp(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def build(path: Path, offsets: list[int | None], *, gz: bool = False) -> list[bytes]:
    """Write one line per offset (None: a line without timestamp); return the lines."""
    lines = []
    for index, offset in enumerate(offsets):
        if offset is None:
            lines.append(f"  continuation of the line before, number {index}".encode())
        else:
            lines.append(f"{stamp(offset)} mx1 postfix/smtpd[{index}]: line {index}".encode())
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data) if gz else data)
    return lines


def expected(lines: list[bytes], since: datetime) -> list[bytes]:
    """Brute force: everything from the first timed line at or after ``since``."""
    for index, line in enumerate(lines):
        when = line_time(line)
        if when is not None and when >= since:
            return lines[index:]
    return []


@pytest.fixture
def small_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bisect down to a few hundred bytes so small test files exercise every branch."""
    monkeypatch.setattr(seek, "LINEAR_BYTES", 200)
    monkeypatch.setattr(seek, "PROBE_BYTES", 400)


def bursty_offsets() -> list[int | None]:
    """Seconds with bursts of equal timestamps, quiet gaps and untimed lines."""
    out: list[int | None] = []
    second = 0
    for block in range(300):
        burst = 40 if block % 17 == 0 else 1 + block % 3
        out.extend([second] * burst)
        if block % 7 == 0:
            out.extend([None, None])
        second += 1 if block % 11 else 600
    return out


@pytest.mark.usefixtures("small_spans")
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_every_start_gives_the_same_lines_as_a_full_read(tmp_path: Path, gz: bool) -> None:
    offsets = bursty_offsets()
    path = tmp_path / ("mail.log.gz" if gz else "mail.log")
    lines = build(path, offsets, gz=gz)
    seconds = sorted({o for o in offsets if o is not None})
    probes = [-5, *seconds, *(s + 1 for s in seconds[::5]), seconds[-1] + 10]
    for second in probes:
        since = T0 + timedelta(seconds=second)
        assert list(read_from(str(path), since, line_time)) == expected(lines, since), second


@pytest.mark.usefixtures("small_spans")
def test_burst_of_equal_timestamps_starts_at_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "mail.log"
    lines = build(path, [1] * 50 + [2] * 500 + [3] * 50)
    got = list(read_from(str(path), T0 + timedelta(seconds=2), line_time))
    assert len(got) == 550
    assert got[0] == lines[50]


@pytest.mark.usefixtures("small_spans")
def test_range_before_and_after_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "mail.log"
    lines = build(path, list(range(100, 400)))
    assert list(read_from(str(path), T0, line_time)) == lines
    assert list(read_from(str(path), T0 + timedelta(days=1), line_time)) == []


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "mail.log"
    path.write_bytes(b"")
    assert list(read_from(str(path), T0, line_time)) == []
    assert first_time(str(path), line_time) is None
    assert last_time(str(path), line_time) is None


@pytest.mark.usefixtures("small_spans")
def test_file_without_any_timestamp_is_read_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "mail.log"
    path.write_bytes(b"no time here\n" * 200)
    assert list(read_from(str(path), T0, line_time)) == []
    with open(path, "rb") as stream:
        assert find_offset(stream, T0, line_time) == 0


def test_without_since_everything_is_read(tmp_path: Path) -> None:
    path = tmp_path / "mail.log"
    lines = build(path, [None, 5, None, 7])
    assert list(read_from(str(path), None, line_time)) == lines


class CountingReader(io.BytesIO):
    """A seekable stream that counts the bytes handed out."""

    bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_cost_depends_on_the_window_not_the_file_length() -> None:
    """Finding the last hour reads about the same few probes in a 4x larger file."""
    costs = []
    for hours in (6, 24):
        seconds = hours * 3600
        body = b"".join(
            f"{stamp(s)} mx1 postfix/qmgr[1]: line {s}\n".encode() for s in range(0, seconds, 2)
        )
        stream = CountingReader(body)
        since = T0 + timedelta(seconds=seconds - 3600)
        offset = find_offset(stream, since, line_time)
        stream.seek(offset)
        first = next(line for line in stream.read().split(b"\n") if line_time(line) >= since)
        assert line_time(first) == since
        assert len(body) - offset < 3600 // 2 * 60 + 2 * seek.LINEAR_BYTES
        costs.append(stream.bytes_read - (len(body) - offset))
    small, large = costs
    assert large <= small + 3 * seek.PROBE_BYTES  # two more probes at most
    assert large < 2 * 1024 * 1024 < len(body)


def test_last_and_first_time_skip_untimed_lines(tmp_path: Path) -> None:
    path = tmp_path / "mail.log"
    build(path, [None, 3, 4, 9, None, None])
    assert first_time(str(path), line_time) == T0 + timedelta(seconds=3)
    assert last_time(str(path), line_time) == T0 + timedelta(seconds=9)
    gz = tmp_path / "mail.log.1.gz"
    build(gz, [None, 3, 4, 9, None], gz=True)
    assert first_time(str(gz), line_time) == T0 + timedelta(seconds=3)
    assert last_time(str(gz), line_time) == T0 + timedelta(seconds=9)


def test_last_time_reads_back_over_many_blocks(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(seek, "TAIL_BYTES", 64)
    path = tmp_path / "mail.log"
    build(path, [1, 2] + [None] * 100)
    assert last_time(str(path), line_time) == T0 + timedelta(seconds=2)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        list(read_from(str(tmp_path / "nope.log"), T0, line_time))


def test_corrupt_gzip_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "mail.log.2.gz"
    data = gzip.compress(b"".join(b"%d some varied text %x\n" % (i, i * i) for i in range(9000)))
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError):
        list(read_from(str(path), T0, line_time))


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(st.one_of(st.none(), st.integers(0, 3)), max_size=300),
    since=st.integers(-2, 400),
)
def test_bisection_agrees_with_brute_force(steps: list[int | None], since: int) -> None:
    """Random sorted logs with repeats and untimed lines, any start, tiny spans."""
    offsets: list[int | None] = []
    second = 0
    for step in steps:
        if step is None:
            offsets.append(None)
        else:
            second += step
            offsets.append(second)
    lines = [
        f"{stamp(o)} x: {i}".encode() if o is not None else f"untimed {i}".encode()
        for i, o in enumerate(offsets)
    ]
    stream = io.BytesIO(b"".join(line + b"\n" for line in lines))
    saved = seek.LINEAR_BYTES, seek.PROBE_BYTES
    seek.LINEAR_BYTES, seek.PROBE_BYTES = 50, 120
    try:
        start = T0 + timedelta(seconds=since)
        offset = find_offset(stream, start, line_time)
        stream.seek(offset)
        got = list(seek.skip_before(iter(stream.read().split(b"\n")[:-1]), start, line_time))
    finally:
        seek.LINEAR_BYTES, seek.PROBE_BYTES = saved
    assert got == expected(lines, start)
