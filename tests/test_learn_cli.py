"""``spamwatch learn`` and learning in ``report``: real files, rotation, gzip, a real terminal."""

from __future__ import annotations

import gzip
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import synthlog
from click.testing import CliRunner, Result

from spamwatch.cli import cli

DAY0 = datetime(2026, 11, 23, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


def days(first: int, count: int, rate: float = 0.02, seed: int = 3) -> str:
    """``count`` days of a small server's log from day ``first`` (RFC 3339 times)."""
    mix = synthlog.TrafficMix(users=30, rate=rate)
    start = DAY0 + timedelta(days=first)
    records = synthlog.background(mix, start, start + timedelta(days=count), seed=seed + first)
    return "".join(line + "\n" for line in synthlog.render(records, "rfc3339"))


def learn(db: Path, *files: Path | str) -> Result:
    return CliRunner().invoke(
        cli, ["learn", "--config", "/dev/null", "--db", str(db), *map(str, files)]
    )


def report(db: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["report", "--config", "/dev/null", "--db", str(db), *args])


def table(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def learned(db: Path) -> list[tuple]:
    """Everything learned about logins, comparable between two databases."""
    return table(db, "SELECT login, start, messages, single FROM login_hours ORDER BY 1, 2")


def test_learn_says_what_it_learned_and_a_second_run_counts_nothing(tmp_path: Path) -> None:
    log, db = tmp_path / "mail.log", tmp_path / "p.db"
    log.write_text(days(0, 2))
    first = learn(db, log)
    assert first.exit_code == 0, first.output
    (line,) = first.stdout.splitlines()
    assert line.startswith("learned 1 file: ") and " on 1 host in " in line
    total = table(db, "SELECT sum(messages) FROM logins")[0][0]
    assert f"{total} messages of " in line and total > 100
    before = learned(db)
    second = learn(db, log)
    assert second.exit_code == 0, second.output
    assert "learned 0 files" in second.stdout and "1 already learned, skipped" in second.stdout
    assert learned(db) == before


def test_rotated_files_learn_oldest_first_and_a_rotation_is_recognised(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    parts = [days(n, 1) for n in range(4)]
    (logs / "mail.log.2.gz").write_bytes(gzip.compress(parts[0].encode()))
    (logs / "mail.log.1").write_text(parts[1])
    (logs / "mail.log").write_text(parts[2])
    db = tmp_path / "p.db"
    named = [logs / "mail.log", logs / "mail.log.1", logs / "mail.log.2.gz"]  # as a glob sorts
    assert learn(db, *named).exit_code == 0
    # logrotate: .2.gz -> .3.gz, .1 -> .2.gz (compressed), mail.log -> .1, a new day
    os.rename(logs / "mail.log.2.gz", logs / "mail.log.3.gz")
    (logs / "mail.log.2.gz").write_bytes(gzip.compress((logs / "mail.log.1").read_bytes()))
    os.rename(logs / "mail.log", logs / "mail.log.1")
    (logs / "mail.log").write_text(parts[3])
    again = learn(db, *sorted(logs.iterdir()))
    assert again.exit_code == 0, again.output
    assert "learned 1 file:" in again.stdout and "3 already learned" in again.stdout
    apart = tmp_path / "apart"
    apart.mkdir()
    for n, part in enumerate(parts):
        (apart / f"day{n}.log").write_text(part)
    fresh = tmp_path / "fresh.db"
    assert learn(fresh, *sorted(apart.iterdir())).exit_code == 0
    assert learned(db) == learned(fresh)  # each day once, renamed or compressed


def test_a_file_that_grew_is_read_from_where_it_was_left(tmp_path: Path) -> None:
    text = days(0, 2)
    cut = text.index("\n", len(text) // 2) + 1
    log, db = tmp_path / "mail.log", tmp_path / "p.db"
    log.write_text(text[:cut])
    assert learn(db, log).exit_code == 0
    with log.open("a") as handle:
        handle.write(text[cut:])
    assert "learned 1 file:" in learn(db, log).stdout
    whole = tmp_path / "whole.db"
    assert learn(whole, log).exit_code == 0
    assert learned(db) == learned(whole)


def test_report_learns_what_learn_did_not_and_nothing_twice(tmp_path: Path) -> None:
    log, db = tmp_path / "mail.log", tmp_path / "p.db"
    log.write_text(days(0, 2))
    assert learn(db, log).exit_code == 0
    before = learned(db)
    assert report(db, "--format", "json", str(log)).exit_code in (0, 1)
    assert learned(db) == before  # the same lines, recognised by their log time
    fresh = tmp_path / "fresh.db"
    assert report(fresh, "--format", "json", str(log)).exit_code in (0, 1)
    assert learned(fresh) == before  # report alone learns what learn learns


def test_a_report_run_twice_gives_the_same_findings(tmp_path: Path) -> None:
    """The second run finds the first run's lines in the database, and judges as before."""
    db = tmp_path / "p.db"
    sample = str(ROOT / "samples" / "compromised-account.log")
    first = report(db, "--format", "json", sample)
    second = report(db, "--format", "json", sample)
    assert first.exit_code == second.exit_code == 1
    assert first.stdout == second.stdout


def test_no_learn_and_no_db_create_no_database(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text(days(0, 1))
    db = tmp_path / "--no-learn.db"
    result = report(db, "--no-learn", "--format", "json", str(log))
    assert result.exit_code in (0, 1), result.output
    assert not db.exists()
    db = tmp_path / "--no-db.db"  # $SPAMWATCH_DB is a default, which --no-db overrides
    args = ["report", "--config", "/dev/null", "--no-db", "--format", "json", str(log)]
    result = CliRunner(env={"SPAMWATCH_DB": str(db)}).invoke(cli, args)
    assert result.exit_code in (0, 1), result.output
    assert not db.exists()


def test_learn_keeps_an_incidents_traffic_out_of_the_profile(tmp_path: Path) -> None:
    victim = "monika.keller@example.com"
    start = DAY0 + timedelta(hours=10)
    records = synthlog.merge(
        synthlog.background(
            synthlog.TrafficMix(users=30, rate=0.02, exclude=(victim,)),
            DAY0,
            DAY0 + timedelta(days=1),
            seed=3,
        ),
        synthlog.compromised_account(start, messages=300, duration=timedelta(minutes=6)),
    )
    log, db = tmp_path / "mail.log", tmp_path / "p.db"
    log.write_text("".join(line + "\n" for line in synthlog.render(records, "rfc3339")))
    assert learn(db, log).exit_code == 0
    assert table(db, f"SELECT count(*) FROM logins WHERE login = '{victim}'") == [(0,)]
    assert table(db, "SELECT count(*) FROM logins")[0][0] > 10  # the others were learned


def test_bad_input_and_a_corrupt_database_are_one_line_each(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    missing = learn(db, tmp_path / "nope.log")
    assert missing.exit_code == 4
    assert missing.stderr.strip() == f"spamwatch: error: {tmp_path / 'nope.log'}: no such file"
    log = tmp_path / "mail.log"
    log.write_text(days(0, 1))
    db.write_bytes(b"not a database at all\n" * 50)
    profile = CliRunner().invoke(cli, ["profile", "--db", str(db), "--list"])
    for result in (learn(db, log), report(db, str(log)), profile):
        assert result.exit_code == 5
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"spamwatch: error: {db}: corrupt profile database")
        assert "report and follow can run without it (--no-db)" in line  # learn has no --no-db


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_terminal_shows_a_progress_bar_then_the_summary(tmp_path: Path) -> None:
    log, db = tmp_path / "mail.log", tmp_path / "p.db"
    log.write_text(days(0, 2, rate=1.0))  # about 200,000 lines: a few seconds to learn
    session = f"swlearn{os.getpid()}"
    exe = shutil.which("spamwatch") or str(Path(os.sys.executable).parent / "spamwatch")
    command = f"{exe} learn --config /dev/null --db {db} {log}; sleep 30"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "150", "-y", "10", command],
        check=True,
    )
    try:
        bar = _screen_until(session, lambda s: "lines/s" in s and "file 1/1: mail.log" in s)
        assert "MB" in bar or "kB" in bar
        done = _screen_until(session, lambda s: "learned 1 file:" in s)
        assert "lines/s" in done.split("learned 1 file:")[1]  # the summary's rate, no bar left
        assert "━" not in done
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def _screen_until(session: str, check, timeout: float = 120.0) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
        ).stdout
        if check(screen):
            return screen
        time.sleep(0.1)
    raise AssertionError(f"not seen on the terminal:\n{screen}")


def test_follow_writes_while_report_reads_and_learn_writes_no_lock_errors(tmp_path: Path) -> None:
    """The shared database: a live follow checkpointing, reports reading, learn writing."""
    from followutil import FollowProcess

    db, log, other = tmp_path / "p.db", tmp_path / "mail.log", tmp_path / "mx2.log"
    hours = days(0, 1, rate=0.03).splitlines(keepends=True)
    per_hour = len(hours) // 24
    other.write_text(days(1, 1).replace(" mail.example.com ", " mx2.example.com "))
    log.write_text("".join(hours[:per_hour]))
    args = ["--from-start", "--poll", "0.2", "--format", "json", "--config", "/dev/null"]
    follow = FollowProcess([*args, "--state", str(tmp_path / "s"), "--db", str(db), str(log)])
    outcomes: list[Result] = []
    try:
        follow.wait_err("following")
        for hour in range(1, 10):
            with log.open("a") as handle:
                handle.write("".join(hours[hour * per_hour : (hour + 1) * per_hour]))
            outcomes.append(report(db, "--no-learn", "--format", "json", str(log)))
            outcomes.append(CliRunner().invoke(cli, ["profile", "--db", str(db), "--list"]))
            if hour == 5:
                outcomes.append(learn(db, other))
            time.sleep(0.3)
        assert follow.stop() == 0, follow.err
    finally:
        follow.kill()
    assert all(r.exit_code in (0, 1) for r in outcomes), [r.stderr for r in outcomes]
    assert not any("locked" in r.stderr for r in outcomes)
    assert not any("profiles not updated" in line for line in follow.err), follow.err
    hosts = {host for (host,) in table(db, "SELECT DISTINCT host FROM learned")}
    assert hosts == {"mail.example.com", "mx2.example.com"}
    (last,) = table(db, "SELECT max(last) FROM learned WHERE host = 'mail.example.com'")[0]
    assert last >= (DAY0 + timedelta(hours=9)).timestamp()  # follow wrote what it read


def test_learn_as_root_then_the_service_reports_with_the_same_database() -> None:
    """QA P1: learn by hand as root into the service's directory, then the service's report:
    it exited 5 after warning twice; now the files are the service's. A database it cannot
    write is one error line at start."""
    from followutil import as_nobody, open_dir

    with open_dir() as base:
        log = base / "mail.log"
        log.write_text(days(0, 2))
        service = base / "lib"
        service.mkdir(mode=0o755)
        os.chown(service, 65534, 65534)
        db = service / "profiles.db"
        assert learn(db, log).exit_code == 0
        assert {p.stat().st_uid for p in service.iterdir()} == {65534}
        args = ["--jobs", "1", "--format", "json", "--fail-on", "never", str(log)]
        assert report(base / "warm.db", *args).exit_code == 0  # every module imported as root
        outcome = base / "outcome"

        def service_reports(path: Path) -> None:
            result = report(path, *args)
            outcome.write_text(f"{result.exit_code}\n{result.stderr}")

        as_nobody(lambda: service_reports(db))
        assert outcome.read_text() == "0\n"
        theirs = base / "roots.db"
        assert learn(theirs, log).exit_code == 0  # root's own directory: root's file
        as_nobody(lambda: service_reports(theirs))
        status, err = outcome.read_text().split("\n", 1)
        assert status == "5" and err.count("\n") == 1, err
        assert err.startswith(f"spamwatch: error: {theirs}: profile database is not writable")


@pytest.mark.parametrize("command", ["learn", "report"])
def test_a_pipe_named_as_a_file_is_refused_not_read_as_empty(command: str, tmp_path: Path) -> None:
    """``spamwatch learn <(zcat mail.log.2.gz)``: the first look at the file (its first
    time) emptied the pipe, so learn said "learned 1 file: 0 lines" and exit 0, and report
    "cannot seek" without naming it. Both read a file more than once: a pipe goes on stdin."""
    log = tmp_path / "mail.log"
    log.write_text(days(0, 1))
    db = tmp_path / "p.db"
    exe = [sys.executable, "-m", "spamwatch", command, "--config", "/dev/null", "--db", str(db)]
    line = " ".join(shlex.quote(part) for part in exe) + f" <(cat {shlex.quote(str(log))})"
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (4, ""), done.stderr
    (said,) = done.stderr.splitlines()
    assert re.fullmatch(
        r"spamwatch: error: /dev/fd/\d+: not a regular file \(a pipe\?\), which "
        + command
        + r" reads more than once; give it on standard input: \.\.\. \| spamwatch "
        + command
        + r" -",
        said,
    ), said


def test_the_summary_line_counts_one_of_each_in_the_singular(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text(
        "Nov 26 08:00:00 mx1 postfix/submission/smtpd[1]: 4F00000001: client=unknown[192.0.2.1],"
        " sasl_method=PLAIN, sasl_username=alice@example.com\n"
    )
    line = learn(tmp_path / "p.db", log).stdout
    assert line.startswith("learned 1 file: 1 line, 0 messages of 0 logins on 1 host in "), line
