"""`spamwatch report` end to end on real files: ranges, rotation, output, exit statuses."""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import synthlog
from click.testing import CliRunner, Result

from spamwatch.cli import cli
from spamwatch.cli import report as report_module
from spamwatch.detectors.base import Detector
from spamwatch.model import MessageUpdate, Severity, Signal, Stage

T0 = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
HOSTILE_USER = "[bold red]x[/]\x1b[31mred\x07@example.com"


def syslog_time(when: datetime) -> str:
    return f"{when:%b} {when.day:2d} {when:%H:%M:%S}"


def message_lines(
    when: datetime, number: int, user: str, rcpt: str = "bob@example.net"
) -> list[str]:
    """The lines Postfix logs for one authenticated message, sent at once."""
    qid = f"4F{number:08X}"
    stamp = syslog_time(when)
    head = f"{stamp} mx1 postfix"
    return [
        f"{head}/submission/smtpd[100]: {qid}: client=unknown[203.0.113.5], "
        f"sasl_method=LOGIN, sasl_username={user}",
        f"{head}/cleanup[101]: {qid}: message-id=<{number}@example.com>",
        f"{head}/qmgr[102]: {qid}: from=<{user}>, size=1000, nrcpt=1 (queue active)",
        f"{head}/smtp[103]: {qid}: to=<{rcpt}>, relay=mx.example.net[198.51.100.1]:25, "
        "delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 ok)",
        f"{head}/qmgr[102]: {qid}: removed",
    ]


def write_log(
    path: Path,
    start: datetime,
    minutes: int,
    users: Iterable[str] = ("alice@example.com",),
    *,
    gz: bool = False,
    number: int = 0,
) -> None:
    """One message per user per minute from ``start``; mtime = the last line's time."""
    lines: list[str] = []
    for minute in range(minutes):
        for user in users:
            number += 1
            lines += message_lines(start + timedelta(minutes=minute), number, user)
    data = "".join(line + "\n" for line in lines).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    end = (start + timedelta(minutes=max(minutes - 1, 0))).timestamp()
    os.utime(path, (end, end))


class PerUserDetector(Detector):
    """A test detector: every queued message of a user re-signals that user.

    The username's prefix picks the severity (crit-, info-, else warning), so
    the report's ordering and exit statuses can be checked exactly.
    """

    name = "peruser"

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}
        self.first: dict[str, datetime] = {}

    def on_update(self, update: MessageUpdate) -> Iterable[Signal]:
        user = update.message.sasl_username
        if update.stage is not Stage.QUEUED or not user:
            return ()
        self.counts[user] = self.counts.get(user, 0) + 1
        self.first.setdefault(user, update.event.time)
        severity = Severity.WARNING
        if user.startswith("crit-"):
            severity = Severity.CRITICAL
        elif user.startswith("info-"):
            severity = Severity.INFO
        return [
            Signal(
                detector=self.name,
                key=user,
                key_kind="sasl_username",
                severity=severity,
                time=update.event.time,
                first_seen=self.first[user],
                summary=f"{user} queued {self.counts[user]} messages",
                host=update.message.host,
                counts={"messages": self.counts[user]},
                evidence={"client_ips": {update.message.client_ip or "?": self.counts[user]}},
            )
        ]


@pytest.fixture
def test_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "_detectors", lambda config: [PerUserDetector()])


@pytest.fixture(autouse=True)
def no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never read the machine's /etc/spamwatch: an empty config file."""
    config = tmp_path / "empty.toml"
    config.write_text("")
    monkeypatch.setenv("SPAMWATCH_CONFIG", str(config))


def run(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, ["report", "--timezone", "UTC", *args], input=stdin)


def json_records(result: Result) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


# ---- ranges and files ------------------------------------------------------


@pytest.fixture
def no_detectors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "_detectors", lambda config: [])


@pytest.mark.usefixtures("no_detectors")
def test_no_findings_exit_0_with_summary(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    write_log(log, T0, 10)
    result = run("--format", "text", str(log))
    assert result.exit_code == 0, result.stderr
    assert "No incidents." in result.stdout
    assert "messages:         10 queued, 10 recipients" in result.stdout
    assert "alice@example.com (10 msgs, 10 rcpts)" in result.stdout
    assert result.stderr == ""


@pytest.mark.usefixtures("no_detectors")
def test_the_summary_counts_one_line_in_the_singular(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text(message_lines(T0, 1, "alice@example.com")[1] + "\n")
    result = run("--format", "text", str(log))
    assert result.exit_code == 0, result.stderr
    assert f"read:             1 line, 1 event from {log}" in result.stdout
    write_log(log, T0, 1)
    assert re.search(r"read: +5 lines, 5 events from ", run(str(log)).stdout)


def test_since_reads_only_the_window(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    write_log(log, T0, 600)  # 10 hours, 3000 lines
    now = (T0 + timedelta(minutes=600)).isoformat()
    args = ["--format", "text", "--fail-on=never", "--warmup", "0", "--since", "1h", "--now", now]
    result = run(*args, str(log))
    assert result.exit_code == 0, result.stderr
    assert "messages:         60 queued" in result.stdout
    lines_read = int(result.stdout.split("read:")[1].split()[0])
    assert lines_read < 3000 // 5  # the bisection skipped the first nine hours


def test_until_is_exclusive_and_stops_reading(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    write_log(log, T0, 120)
    since, until = (
        (T0 + timedelta(minutes=30)).isoformat(),
        (T0 + timedelta(minutes=40)).isoformat(),
    )
    result = run("--format=text", "--fail-on=never", "--since", since, "--until", until, str(log))
    assert result.exit_code == 0, result.stderr
    assert "messages:         10 queued" in result.stdout


@pytest.mark.usefixtures("test_detector")
def test_until_in_one_file_does_not_end_the_next(tmp_path: Path) -> None:
    """Two hosts' logs side by side: --until stops each file, not the whole report."""
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    write_log(first, T0, 60, ["alice@example.com"])
    write_log(second, T0, 60, ["bob@example.com"], number=500)
    args = ["--since", "2026-11-28 00:10", "--until", "2026-11-28 00:20", "--warmup=0"]
    result = run("--format", "json", *args, str(first), str(second))
    assert result.exit_code == 1, result.stderr
    counts = {r["key"]: r["counts"]["peruser.messages"] for r in json_records(result)}
    assert counts == {"alice@example.com": 10, "bob@example.com": 10}


def rotated_set(tmp_path: Path) -> Path:
    """mail.log.3.gz, mail.log.2.gz, mail.log.1 and mail.log: one hour each, one user each."""
    parts = [("mail.log.3.gz", "carol"), ("mail.log.2.gz", "dave"), ("mail.log.1", "erin")]
    for hour, (name, user) in enumerate([*parts, ("mail.log", "frank")]):
        write_log(
            tmp_path / name,
            T0 + timedelta(hours=hour),
            60,
            [f"{user}@example.com"],
            gz=name.endswith(".gz"),
            number=hour * 1000,
        )
    return tmp_path / "mail.log"


def users_in(result: Result) -> list[str]:
    return [record["key"] for record in json_records(result)]


@pytest.mark.usefixtures("test_detector")
def test_range_reaching_back_reads_rotated_files_oldest_first(tmp_path: Path) -> None:
    log = rotated_set(tmp_path)
    since = (T0 + timedelta(hours=1, minutes=30)).isoformat()  # inside mail.log.2.gz
    args = ["--format", "json", "--all-records", "--fail-on=never", "--warmup=0", "--since", since]
    result = run(*args, str(log))
    assert result.exit_code == 0, result.stderr
    records = json_records(result)
    order = list(dict.fromkeys(record["key"] for record in records))
    assert order == ["dave@example.com", "erin@example.com", "frank@example.com"]
    dave = [r for r in records if r["key"] == "dave@example.com"]
    assert dave[0]["opened_at"] == "2026-11-28T01:30:00+00:00"  # nothing before --since
    text = run("--format", "text", "--warmup=0", "--since", since, str(log)).stdout
    assert f"from {tmp_path}/mail.log.2.gz, {tmp_path}/mail.log.1, {tmp_path}/mail.log" in text


@pytest.mark.usefixtures("test_detector")
def test_warmup_refills_detectors_without_counting_traffic(tmp_path: Path) -> None:
    """The hour before --since is read for the detectors only, from rotated files too."""
    log = rotated_set(tmp_path)
    since = (T0 + timedelta(hours=1, minutes=30)).isoformat()  # warm-up from 00:30
    result = run("--format", "json", "--fail-on=never", "--since", since, str(log))
    assert result.exit_code == 0, result.stderr
    records = json_records(result)
    # carol (00:00-00:59) resolved at 01:19, before the range: left out; all 60 messages
    # each: frank still open first, then the resolved ones by when they were raised
    keys = [r["key"] for r in records]
    assert keys == ["frank@example.com", "dave@example.com", "erin@example.com"]
    dave = records[1]
    assert dave["opened_at"] == "2026-11-28T01:00:00+00:00"  # seen whole thanks to the warm-up
    assert (dave["state"], dave["counts"]["peruser.messages"]) == ("resolved", 60)
    text = run("--format", "text", "--since", since, str(log)).stdout
    assert f"from {tmp_path}/mail.log.3.gz, {tmp_path}/mail.log.2.gz," in text
    assert "(detectors warmed up from 2026-11-28 00:30:00+00:00)" in text
    assert "messages:         150 queued" in text  # 01:30-03:59 only, not the warm-up
    cold = run("--format", "json", "--fail-on=never", "--warmup=0", "--since", since, str(log))
    counts = {r["key"]: r["counts"]["peruser.messages"] for r in json_records(cold)}
    assert counts == {"dave@example.com": 30, "erin@example.com": 60, "frank@example.com": 60}


def test_bad_warmup_is_a_usage_error(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    write_log(log, T0, 1)
    result = run("--since", "1h", "--warmup", "an hour", str(log))
    assert result.exit_code == 2
    assert "--warmup" in result.stderr


@pytest.mark.usefixtures("test_detector")
def test_year_less_rotated_files_across_new_year(tmp_path: Path) -> None:
    """Each file's mtime anchors its year: Dec 31 in mail.log.1, Jan 1 in mail.log."""
    eve = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    write_log(tmp_path / "mail.log.1", eve, 60, ["old@example.com"])
    write_log(tmp_path / "mail.log", eve + timedelta(hours=1), 60, ["new@example.com"], number=99)
    args = ["--format", "json", "--all-records", "--warmup=0", "--since", "2026-12-31 23:30"]
    result = run(*args, str(tmp_path / "mail.log"))
    assert result.exit_code == 1, result.stderr
    raised = {r["key"]: r["opened_at"] for r in json_records(result) if r["state"] == "opened"}
    assert raised == {
        "old@example.com": "2026-12-31T23:30:00+00:00",
        "new@example.com": "2027-01-01T00:00:00+00:00",
    }


@pytest.mark.usefixtures("test_detector")
def test_range_inside_current_file_reads_no_rotated_file(tmp_path: Path) -> None:
    log = rotated_set(tmp_path)
    (tmp_path / "mail.log.3.gz").write_bytes(b"\x1f\x8bcorrupt")  # would fail if opened
    now = (T0 + timedelta(hours=4)).isoformat()
    result = run("--format", "json", "--since", "30m", "--now", now, str(log))
    assert result.exit_code == 1, result.stderr
    assert users_in(result) == ["frank@example.com"]


@pytest.mark.usefixtures("test_detector")
def test_without_since_only_the_named_file(tmp_path: Path) -> None:
    log = rotated_set(tmp_path)
    assert users_in(run("--format", "json", str(log))) == ["frank@example.com"]


@pytest.mark.usefixtures("test_detector")
def test_now_end_counts_back_from_the_last_line(tmp_path: Path) -> None:
    log = rotated_set(tmp_path)  # last line at 03:59
    args = ["--format", "json", "--all-records", "--warmup=0", "--since", "70m", "--now", "end"]
    result = run(*args, str(log))
    assert result.exit_code == 1, result.stderr
    assert users_in(result)[:1] == ["erin@example.com"]
    assert json_records(result)[0]["opened_at"] == "2026-11-28T02:49:00+00:00"


@pytest.mark.usefixtures("test_detector")
def test_now_end_right_after_rotation_looks_at_the_rotated_part(tmp_path: Path) -> None:
    log = rotated_set(tmp_path)
    log.write_bytes(b"")  # logrotate just ran: mail.log is empty, mail.log.1 ends 02:59
    result = run("--format", "json", "--warmup=0", "--since", "10m", "--now", "end", str(log))
    assert result.exit_code == 1, result.stderr
    assert users_in(result) == ["erin@example.com"]
    assert json_records(result)[0]["opened_at"] == "2026-11-28T02:49:00+00:00"


def test_now_end_needs_a_file_with_time(tmp_path: Path) -> None:
    assert run("--now", "end", "-", stdin=b"").exit_code == 2
    empty = tmp_path / "mail.log"
    empty.write_bytes(b"no timestamp here\n")
    result = run("--now", "end", str(empty))
    assert result.exit_code == 2
    assert "has no timestamped line" in result.stderr


def test_log_ending_before_the_range_says_so(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    write_log(log, T0, 60)  # ends 00:59
    now = (T0 + timedelta(hours=4)).isoformat()
    result = run("--format", "text", "--since", "1h", "--now", now, str(log))
    assert result.exit_code == 0
    assert "No incidents." in result.stdout
    assert "ends at 2026-11-28T00:59:00+00:00, before the range starts" in result.stderr
    quiet = run("--quiet", "--since", "1h", "--now", now, str(log))
    assert (quiet.exit_code, quiet.stdout) == (0, "")
    assert "before the range starts" in quiet.stderr  # a dead log is worth a cron mail


def test_a_file_without_postfix_lines_says_so(tmp_path: Path) -> None:
    """``report /var/log/auth.log`` (the wrong file) must not read as an all-clear."""
    log = tmp_path / "auth.log"
    log.write_bytes(
        b"2026-11-28T01:00:00+00:00 mx sshd[1]: Accepted publickey for root\n"
        b"\x00\xff\xfe binary \x1b[2J\n"
    )
    for args in (["--format", "text"], ["--quiet"]):
        result = run(*args, str(log))
        assert result.exit_code == 0
        assert result.stderr == (
            f"spamwatch: warning: {log}: nothing in it looked like a mail log "
            "(2 lines, none from Postfix; another syslog name needs --syslog-name)\n"
        )
    quiet = run("--quiet", str(log))
    assert quiet.stdout == ""


def test_stdin_ending_before_the_range_says_so(tmp_path: Path) -> None:
    """``zcat mail.log.3.gz | spamwatch report --since 1h -`` must not read as an all-clear."""
    log = tmp_path / "mail.log"
    write_log(log, T0, 60)  # ends 00:59
    now = (T0 + timedelta(hours=4)).isoformat()
    result = run("--quiet", "--since", "1h", "--now", now, "-", stdin=log.read_bytes())
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == (
        "spamwatch: warning: standard input has no line from 2026-11-28T03:00:00+00:00 on:"
        " nothing to report\n"
    )


def test_range_before_the_whole_log_says_so(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    write_log(log, T0 + timedelta(hours=5), 60)
    result = run("--since", "2026-11-28 01:00", "--until", "2026-11-28 02:00", str(log))
    assert result.exit_code == 0
    assert "starts at 2026-11-28T05:00:00+00:00, after the range ends" in result.stderr


def test_empty_file(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(b"")
    result = run("--format", "json", "--since", "1h", str(log))
    assert (result.exit_code, result.stdout) == (0, "")


@pytest.mark.usefixtures("test_detector")
def test_stdin(tmp_path: Path) -> None:
    data = "".join(f"{line}\n" for line in message_lines(T0, 1, "alice@example.com")).encode()
    result = run("--format", "json", "--since", "2026-11-27 23:00", "-", stdin=data)
    assert result.exit_code == 1, result.stderr
    assert users_in(result) == ["alice@example.com"]


# ---- output ------------------------------------------------------------------


@pytest.mark.usefixtures("test_detector")
def test_worst_and_biggest_first_one_block_per_incident(tmp_path: Path) -> None:
    log, more = tmp_path / "mail.log", tmp_path / "more.log"
    write_log(log, T0, 5, ["mid@example.com", "info-big@example.com", "crit-x@example.com"])
    write_log(more, T0 + timedelta(minutes=5), 20, ["small@example.com", "info-big@example.com"])
    args = ("--format", "json", "--fail-on", "critical", str(log), str(more))
    result = run(*args)
    assert result.exit_code == 1
    records = json_records(result)
    keys = ["crit-x", "small", "mid", "info-big"]
    assert [r["key"] for r in records] == [f"{key}@example.com" for key in keys]
    assert [r["counts"]["peruser.messages"] for r in records] == [5, 20, 5, 25]
    assert {r["schema"] for r in records} == {2}
    assert run(*args).stdout == result.stdout  # deterministic, byte for byte


def test_compromised_account_comes_first_with_real_detectors(tmp_path: Path) -> None:
    """The incident in a normal server's traffic: its user, addresses and volume lead."""
    start = T0 + timedelta(minutes=30)
    records = synthlog.merge(
        synthlog.background(None, T0, T0 + timedelta(hours=1), 7),
        synthlog.compromised_account(
            start, "victim@example.com", 900, timedelta(minutes=12), bots=6
        ),
    )
    log = tmp_path / "mail.log"
    log.write_text("".join(line + "\n" for line in synthlog.render(records, "rfc3339")))
    result = run("--format", "json", str(log))
    assert result.exit_code == 1, result.stderr
    first = json_records(result)[0]
    assert (first["key"], first["severity"]) == ("victim@example.com", "critical")
    text = run("--format", "text", str(log)).stdout
    lines = text.splitlines()
    assert lines[3].startswith("CRITICAL ") and "victim@example.com" in lines[3]
    assert "top SASL senders: victim@example.com (" in text  # the busiest sender, too


@pytest.mark.usefixtures("test_detector")
def test_hostile_username_shown_literally(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    write_log(log, T0, 2, [HOSTILE_USER.replace("\x1b", "\\x1b").replace("\x07", "\x07")])
    raw = log.read_bytes().replace(b"\\x1b", b"\x1b")  # a raw ESC in the log line itself
    log.write_bytes(raw)
    for fmt in ("text", "table"):
        result = run("--format", fmt, str(log))
        assert result.exit_code == 1, result.stderr
        assert "[bold red]x[/]" in result.stdout
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout
        assert "x1b[31mred" in result.stdout
    result = run("--format", "json", str(log))
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert json_records(result)[0]["key"].startswith("[bold red]x[/]")


@pytest.mark.usefixtures("test_detector")
def test_table_format(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    write_log(log, T0, 3, ["crit-x@example.com"])
    result = run("--format", "table", str(log))
    assert result.exit_code == 1
    assert "1 incident: 1 critical" in result.stdout
    assert "CRITICAL" in result.stdout and "crit-x@example.com" in result.stdout
    assert "top SASL senders" in result.stdout


# ---- exit statuses -------------------------------------------------------------


@pytest.mark.usefixtures("test_detector")
@pytest.mark.parametrize(
    ("user", "fail_on", "status"),
    [
        ("alice", "warning", 1),
        ("alice", "critical", 0),
        ("info-alice", "warning", 0),
        ("info-alice", "info", 1),
        ("crit-alice", "critical", 1),
        ("crit-alice", "never", 0),
    ],
)
def test_fail_on(tmp_path: Path, user: str, fail_on: str, status: int) -> None:
    log = tmp_path / "mail.log"
    write_log(log, T0, 2, [f"{user}@example.com"])
    result = run("--format", "text", "--fail-on", fail_on, str(log))
    assert result.exit_code == status, result.stderr
    assert f"{user}@example.com" in result.stdout


@pytest.mark.usefixtures("test_detector")
def test_quiet_prints_only_trouble(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    write_log(log, T0, 2, ["info-alice@example.com"])
    quiet = run("--quiet", str(log))
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    loud = run("--quiet", "--fail-on", "info", str(log))
    assert loud.exit_code == 1
    assert "info-alice@example.com" in loud.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--since", "tomorrowish"],
        ["--since", "1h", "--until", "2h"],
        ["--format", "yaml"],
        ["--fail-on", "sometimes"],
        ["--now", "later"],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    log = tmp_path / "mail.log"
    write_log(log, T0, 1)
    result = run(*args, str(log))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip()


def test_bad_config_exits_3(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    write_log(log, T0, 1)
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml\n")
    result = run("--config", str(bad), str(log))
    assert result.exit_code == 3
    assert "invalid TOML" in result.stderr
    missing = run("--config", str(tmp_path / "none.toml"), str(log))
    assert missing.exit_code == 3


def test_unreadable_input_exits_4(tmp_path: Path) -> None:
    missing = run(str(tmp_path / "nope.log"))
    assert missing.exit_code == 4
    assert "no such file" in missing.stderr
    assert run(str(tmp_path)).exit_code == 4
    corrupt = tmp_path / "mail.log.gz"
    corrupt.write_bytes(gzip.compress(os.urandom(50_000))[:20_000])
    result = run("--since", "2026-11-28", str(corrupt))
    assert result.exit_code == 4
    assert result.stderr.startswith("spamwatch: error:")


def test_warnings_give_times_to_the_second(tmp_path: Path) -> None:
    """Relative times count back from the clock: no microseconds in what the admin reads."""
    log = tmp_path / "mail.log"
    write_log(log, T0, 60)
    now = (T0 + timedelta(hours=4, microseconds=607083)).isoformat()
    result = run("--since", "1h", "--now", now, str(log))
    assert "before the range starts (2026-11-28T03:00:00+00:00)" in result.stderr
    result = run("--since", "1h", "--until", "2h", "--now", now, str(log))
    assert result.exit_code == 2
    assert result.stderr == (
        "spamwatch: error: --since 2026-11-28T03:00:00+00:00 is not before"
        " --until 2026-11-28T02:00:00+00:00: empty range\n"
    )
