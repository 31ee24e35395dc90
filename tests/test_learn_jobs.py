"""learn --jobs 2 (each file read and parsed in a second process) learns what --jobs 1 learns."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path

from click.testing import CliRunner, Result

from spamwatch.cli import cli
from tests.test_learn_cli import days

SKIP = {"sqlite_sequence"}
RUN_FACTS = ("files", "meta")  # paths, times of the run: differ between any two runs


def learn(db: Path, jobs: int, *files: Path) -> Result:
    args = ["learn", "--config", "/dev/null", "--db", str(db), "--jobs", str(jobs)]
    return CliRunner().invoke(cli, [*args, *map(str, files)])


def content(db: Path) -> dict[str, list[tuple]]:
    """Every table but the bookkeeping of the run itself, sorted."""
    with sqlite3.connect(db) as conn:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            name: sorted(map(repr, conn.execute(f"SELECT * FROM {name}")))
            for name in names
            if name not in SKIP and name not in RUN_FACTS
        }


def test_two_processes_learn_what_one_learns(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "mail.log.1.gz").write_bytes(gzip.compress(days(0, 1).encode()))
    (logs / "mail.log").write_text(days(1, 1))
    files = [logs / "mail.log.1.gz", logs / "mail.log"]
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    first, second = learn(one, 1, *files), learn(two, 2, *files)
    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert first.stdout.split(" in ")[0] == second.stdout.split(" in ")[0]  # the counts
    assert content(one) == content(two)
    assert content(one)["login_hours"]  # something was learned


def test_two_at_a_time_learn_the_same_whichever_finishes_first(tmp_path: Path) -> None:
    """Four files, two at a time: file n is judged against the files written before it
    started, which depends on the order of the files alone, so two runs agree, and the
    files are written in order (one mark per file, the same counts)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    files = []
    for age in range(3, -1, -1):
        path = logs / (f"mail.log.{age}.gz" if age > 1 else f"mail.log{'.1' if age else ''}")
        text = days(3 - age, 1, rate=0.01 * (1 + age)).encode()  # unequal: finish out of order
        path.write_bytes(gzip.compress(text) if path.suffix == ".gz" else text)
        files.append(path)
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    one, two = learn(first, 2, *files), learn(second, 2, *files)
    assert one.exit_code == two.exit_code == 0, one.output + two.output
    assert "learned 4 files" in one.stdout
    assert one.stdout.split(" in ")[0] == two.stdout.split(" in ")[0]
    assert content(first) == content(second)
    with sqlite3.connect(first) as conn:
        assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 4
