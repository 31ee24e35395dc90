"""Finding a log's rotated parts, and opening only those a range needs."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from spamwatch.sources.rotated import files_for_range, rotated_siblings
from spamwatch.sources.seek import first_time

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def line_time(line: bytes) -> datetime | None:
    try:
        return datetime.fromisoformat(line[:25].decode())
    except (ValueError, UnicodeDecodeError):
        return None


def write_log(path: Path, day: int, *, gz: bool = False) -> None:
    """A small log whose lines are all on day ``day`` after T0."""
    start = T0 + timedelta(days=day)
    data = b"".join(
        f"{(start + timedelta(hours=h)).isoformat()} mx1 postfix/qmgr[1]: line {h}\n".encode()
        for h in range(0, 24, 6)
    )
    path.write_bytes(gzip.compress(data) if gz else data)


def names(paths: list[str]) -> list[str]:
    return [os.path.basename(p) for p in paths]


def numbered_set(tmp_path: Path) -> Path:
    """mail.log (day 5), .1 (day 4), .2.gz (day 3) ... .4.gz (day 1), plus noise."""
    log = tmp_path / "mail.log"
    write_log(log, 5)
    write_log(tmp_path / "mail.log.1", 4)
    for number in (2, 3, 4):
        write_log(tmp_path / f"mail.log.{number}.gz", 5 - number, gz=True)
    for other in ("mail.err", "mail.log.bak", "mail.log.1.xz", "xmail.log.1", "mail.logger.1"):
        (tmp_path / other).write_text("not a part\n")
    (tmp_path / "mail.log.9").mkdir()
    return log


def test_numbered_parts_oldest_first_noise_ignored(tmp_path: Path) -> None:
    log = numbered_set(tmp_path)
    assert names(rotated_siblings(str(log))) == [
        "mail.log.4.gz",
        "mail.log.3.gz",
        "mail.log.2.gz",
        "mail.log.1",
    ]


def test_number_order_is_numeric_not_textual(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text("")
    for number in (1, 2, 10, 11):
        (tmp_path / f"mail.log.{number}").write_text("")
    assert names(rotated_siblings(str(log))) == [
        "mail.log.11",
        "mail.log.10",
        "mail.log.2",
        "mail.log.1",
    ]


def test_dateext_parts_by_date(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text("")
    for name in ("mail.log-20261127.gz", "mail.log-20261125", "mail.log-20261126.gz", "mail.log-x"):
        (tmp_path / name).write_text("")
    assert names(rotated_siblings(str(log))) == [
        "mail.log-20261125",
        "mail.log-20261126.gz",
        "mail.log-20261127.gz",
    ]


def test_mixed_styles_go_by_modification_time(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text("")
    ages = {
        "mail.log.2.gz": 400,
        "mail.log.1": 300,
        "mail.log-20261127": 200,
        "mail.log-20261128": 100,
    }
    for name, age in ages.items():
        (tmp_path / name).write_text("")
        when = 1_800_000_000 - age
        os.utime(tmp_path / name, (when, when))
    assert names(rotated_siblings(str(log))) == list(ages)


def test_no_parts_and_missing_directory(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text("")
    assert rotated_siblings(str(log)) == []
    assert rotated_siblings(str(tmp_path / "gone" / "mail.log")) == []


class Heads:
    """first_time over real files, remembering which files were opened."""

    def __init__(self) -> None:
        self.opened: list[str] = []

    def __call__(self, path: str) -> datetime | None:
        self.opened.append(os.path.basename(path))
        return first_time(path, line_time)


def test_range_inside_current_file_reads_only_it(tmp_path: Path) -> None:
    log = numbered_set(tmp_path)
    heads = Heads()
    since = T0 + timedelta(days=5, hours=7)
    assert files_for_range(str(log), since, heads) == [str(log)]
    assert heads.opened == ["mail.log"]


def test_range_reaching_back_opens_only_the_parts_needed(tmp_path: Path) -> None:
    log = numbered_set(tmp_path)
    heads = Heads()
    since = T0 + timedelta(days=3, hours=7)  # inside mail.log.2.gz
    got = files_for_range(str(log), since, heads)
    assert names(got) == ["mail.log.2.gz", "mail.log.1", "mail.log"]
    assert heads.opened == ["mail.log", "mail.log.1", "mail.log.2.gz"]


def test_range_starting_on_a_part_first_line_stops_there(tmp_path: Path) -> None:
    log = numbered_set(tmp_path)
    since = T0 + timedelta(days=4)  # exactly mail.log.1's first line
    assert names(files_for_range(str(log), since, Heads())) == ["mail.log.1", "mail.log"]


def test_range_before_everything_reads_all_parts(tmp_path: Path) -> None:
    log = numbered_set(tmp_path)
    got = files_for_range(str(log), T0 - timedelta(days=30), Heads())
    assert names(got) == [
        "mail.log.4.gz",
        "mail.log.3.gz",
        "mail.log.2.gz",
        "mail.log.1",
        "mail.log",
    ]


def test_empty_current_file_after_rotation_reads_back(tmp_path: Path) -> None:
    log = numbered_set(tmp_path)
    log.write_bytes(b"")  # logrotate just ran
    since = T0 + timedelta(days=4, hours=13)
    assert names(files_for_range(str(log), since, Heads())) == ["mail.log.1", "mail.log"]


def test_empty_part_does_not_stop_the_walk(tmp_path: Path) -> None:
    log = numbered_set(tmp_path)
    (tmp_path / "mail.log.1").write_bytes(b"")
    since = T0 + timedelta(days=3, hours=13)
    assert names(files_for_range(str(log), since, Heads())) == [
        "mail.log.2.gz",
        "mail.log.1",
        "mail.log",
    ]


def test_no_since_and_stdin_read_alone(tmp_path: Path) -> None:
    log = numbered_set(tmp_path)
    heads = Heads()
    assert files_for_range(str(log), None, heads) == [str(log)]
    assert files_for_range("-", T0, heads) == ["-"]
    assert heads.opened == []
