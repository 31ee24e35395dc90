"""Metrics (issue 13): a real ``follow --metrics`` scraped over loopback, ``report`` gauges.

Every exposition is parsed with prometheus_client's own parser.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from followutil import ROOT, FollowProcess, attack_lines, until
from prometheus_client.parser import text_string_to_metric_families
from sinkutil import free_port

from spamwatch import __version__
from spamwatch.follow.health import lag_bytes
from spamwatch.metrics import DEFAULT_PORT, FollowHealth, Metrics
from spamwatch.parse import Parser
from spamwatch.sources.base import FilePosition

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[Samples, dict[str, str]]:
    """(samples by name and labels, metric types by family name)."""
    samples: Samples = {}
    kinds: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        kinds[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, kinds


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return reply.read().decode()


def test_follow_serves_its_health_on_loopback(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    noise = ["Nov 28 02:00:00 mx1 sshd[1]: Accepted publickey for root", "\x00\xff garbage"]
    log.write_text("\n".join([*noise, *attack_lines()]) + "\n")
    outcomes = Parser()
    for raw in log.read_bytes().splitlines():
        outcomes.parse(raw)
    alerts = tmp_path / "alerts.jsonl"
    port = free_port()
    follow = FollowProcess(
        [
            "--from-start",
            "--state",
            str(tmp_path / "s"),
            "--alert",
            f"jsonl:{alerts}",
            "--format",
            "plain",
            "--metrics",
            f"127.0.0.1:{port}",
            str(log),
        ]
    )
    try:
        follow.wait_err(f"metrics on http://127.0.0.1:{port}/metrics")

        def caught_up() -> Samples | None:
            samples, _ = parse(scrape(port))
            read = sum(v for (n, _), v in samples.items() if n == "spamwatch_lines_read_total")
            sized = ("spamwatch_profile_db_bytes", frozenset()) in samples  # set just after
            return samples if read == outcomes.stats.lines and sized else None

        samples = until(caught_up, what="every line counted")
        text = scrape(port)
    finally:
        follow.stop()
    _, kinds = parse(text)
    stats = outcomes.stats
    expected = {"event": stats.events, "non_postfix": stats.non_postfix,
                "unrecognised": stats.unrecognised, "malformed": stats.malformed}  # fmt: skip
    for outcome, count in expected.items():
        assert samples[("spamwatch_lines_read_total", frozenset({("outcome", outcome)}))] == count
    assert stats.non_postfix >= 1
    source = frozenset({("source", str(log))})
    assert samples[("spamwatch_log_lag_bytes", source)] == 0
    assert samples[("spamwatch_log_lag_seconds", source)] == 0
    sink = frozenset({("sink", f"jsonl:{alerts}")})
    sent = len(alerts.read_text().splitlines())
    assert sent > 0 and samples[("spamwatch_alerts_sent_total", sink)] == sent
    assert samples[("spamwatch_alerts_lost_total", sink)] == 0
    assert samples[("spamwatch_alerts_spooled", sink)] == 0
    assert {("severity", s) for s in ("info", "warning", "critical")} == {
        next(iter(labels)) for name, labels in samples if name == "spamwatch_incidents_open"
    }
    # incidents (not findings) open now: those whose last record sent is not "resolved"
    last: dict[str, dict] = {}
    for record in map(json.loads, alerts.read_text().splitlines()):
        last[record["id"]] = record
    still_open = Counter(r["severity"] for r in last.values() if r["state"] != "resolved")
    assert still_open["critical"] >= 1
    for severity in ("info", "warning", "critical"):
        labels = frozenset({("severity", severity)})
        assert samples[("spamwatch_incidents_open", labels)] == still_open[severity], severity
    # the messages follow saw queued are those a report of the same file counts
    messages = samples[("spamwatch_messages_total", frozenset())]
    reported, _ = report_gauges(log, tmp_path / "report.prom", "--no-db")
    assert messages > 0 and messages == reported[("spamwatch_report_messages", frozenset())]
    # conventions: _total only on counters; low cardinality: no login, address or host
    for name, kind in kinds.items():
        assert (kind == "counter") == any(n == f"{name}_total" for n, _ in samples), name
    assert "monika" not in text and "example.com" not in text
    # what is served is what README's table and the man page list, and no more
    served = {name for name, _ in samples if name.startswith("spamwatch_")}
    assert served == documented_follow_metrics()
    man = (ROOT / "man" / "spamwatch.1").read_text().replace("\\-", "-")
    assert [name for name in sorted(served) if name not in man] == []


def documented_follow_metrics() -> set[str]:
    """The ``spamwatch_*`` names of README's "What ``follow`` says about itself" table."""
    text = (ROOT / "README.md").read_text()
    table = text.split("What `follow` says about itself:", 1)[1].split("\n\n", 2)[1]
    names = re.findall(r"`(spamwatch_\w+)", table)
    return set(names)


def test_follow_s_textfile_holds_the_same_health_for_node_exporter(tmp_path: Path) -> None:
    """``--alert prometheus:FILE``: what /metrics serves, rewritten while follow runs and at
    its exit (README: the textfile stays for node_exporter users)."""
    log = tmp_path / "mail.log"
    log.write_text("\n".join(attack_lines()) + "\n")
    prom = tmp_path / "spamwatch.prom"
    follow = FollowProcess(["--from-start", "--state", str(tmp_path / "s"), "--format", "plain",
                            "--alert", f"prometheus:{prom}", str(log)])  # fmt: skip

    def read() -> Samples:
        return parse(prom.read_text())[0] if prom.exists() else {}

    def lines_read(samples: Samples) -> float:
        return sum(v for (n, _), v in samples.items() if n == "spamwatch_lines_read_total")

    try:
        until(lambda: lines_read(read()) == len(attack_lines()), what="every line in the file")
    finally:
        assert follow.stop() == 0
    final = read()
    assert lines_read(final) == len(attack_lines())
    assert {n for n, _ in final if n.startswith("spamwatch_")} == documented_follow_metrics() - {
        "spamwatch_alerts_sent_total",
        "spamwatch_alerts_failed_total",
        "spamwatch_alerts_lost_total",
        "spamwatch_alerts_repeated_total",
        "spamwatch_alerts_spooled",
    }  # the textfile is the only sink here, and it does not count itself


def test_the_textfile_written_at_exit_counts_every_line(tmp_path: Path) -> None:
    """``follow -`` ends with its input: the file it leaves counts every line read, not the
    last periodic rewrite's (README: rewritten "every few seconds ... and at exit")."""
    log = tmp_path / "mail.log"
    log.write_text("\n".join(attack_lines()) + "\n")
    prom = tmp_path / "spamwatch.prom"
    with log.open("rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-m", "spamwatch", "follow", "--state", str(tmp_path / "s"),
             "--format", "plain", "--alert", f"prometheus:{prom}", "-"],
            stdin=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    samples = parse(prom.read_text())[0]
    read = sum(v for (n, _), v in samples.items() if n == "spamwatch_lines_read_total")
    assert read == len(attack_lines())


def test_a_failing_sink_and_the_profile_database_are_in_the_health(tmp_path: Path) -> None:
    """Alerts failed and spooled per sink, and the profile database's size (issue 13)."""
    log = tmp_path / "mail.log"
    log.write_text("\n".join(attack_lines()) + "\n")
    config = tmp_path / "spamwatch.toml"
    config.write_text(f'[alerts]\nspool_dir = "{tmp_path / "spool"}"\n')
    closed = free_port()  # nothing listens there: every delivery attempt fails
    sink = f"webhook+http://127.0.0.1:{closed}/..."
    port = free_port()
    follow = FollowProcess(
        ["--config", str(config), "--from-start", "--state", str(tmp_path / "s"),
         "--alert", f"webhook+http://127.0.0.1:{closed}/hook", "--format", "plain",
         "--metrics", f"127.0.0.1:{port}", str(log)]
    )  # fmt: skip
    labels = frozenset({("sink", sink)})
    try:
        follow.wait_err(f"metrics on http://127.0.0.1:{port}/metrics")

        def failing() -> Samples | None:
            samples, _ = parse(scrape(port))
            failed = samples.get(("spamwatch_alerts_failed_total", labels), 0)
            spooled = samples.get(("spamwatch_alerts_spooled", labels), 0)
            sized = ("spamwatch_profile_db_bytes", frozenset()) in samples
            return samples if failed >= 1 and spooled >= 1 and sized else None

        samples = until(failing, what="a failed delivery, the spool and the database size")
    finally:
        follow.stop()
    assert samples[("spamwatch_alerts_sent_total", labels)] == 0
    assert samples[("spamwatch_alerts_lost_total", labels)] == 0
    database = Path(os.environ["SPAMWATCH_DB"])  # each test's own (tests/conftest.py)
    assert database.exists()
    assert samples[("spamwatch_profile_db_bytes", frozenset())] >= 4096  # a page at least


def test_a_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "spamwatch", "follow", "--state", str(tmp_path / "s"),
             "--metrics", f"127.0.0.1:{port}", str(tmp_path / "none.log")],
            capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
        )  # fmt: skip
    assert done.returncode == 2
    assert f"--metrics 127.0.0.1:{port}: cannot listen: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_metrics_alone_serves_on_its_own_default_port(tmp_path: Path) -> None:
    """``--metrics`` without a value: 127.0.0.1:19154, not postfix_exporter's 9154."""
    assert DEFAULT_PORT == 19154
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", DEFAULT_PORT))
        except OSError:
            pytest.skip(f"port {DEFAULT_PORT} is in use here")
    log = tmp_path / "mail.log"
    log.touch()
    follow = FollowProcess(["--metrics", "--state", str(tmp_path / "s"), "--format", "plain",
                            str(log)])  # fmt: skip
    try:
        follow.wait_err(f"metrics on http://127.0.0.1:{DEFAULT_PORT}/metrics")
        samples, _ = parse(scrape(DEFAULT_PORT))
    finally:
        follow.stop()
    assert samples[("spamwatch_build_info", frozenset({("version", __version__)}))] == 1


def report_gauges(log: Path, prom: Path, *args: str) -> tuple[Samples, int]:
    done = subprocess.run(
        [sys.executable, "-m", "spamwatch", "report", "--format", "json", *args,
         "--alert", f"prometheus:{prom}", str(log)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return parse(prom.read_text())[0], done.returncode


def test_report_writes_gauges_of_its_run_replaced_by_the_next(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_text("\n".join(attack_lines()) + "\n")
    prom = tmp_path / "spamwatch.prom"
    before = time.time()
    first, status = report_gauges(log, prom)
    after = time.time()
    assert status == 1 and first[("spamwatch_report_exit_status", frozenset())] == 1
    ran = first[("spamwatch_report_duration_seconds", frozenset())]
    assert 0 < ran < after - before
    assert before < first[("spamwatch_report_last_run_timestamp_seconds", frozenset())] < after
    assert first[("spamwatch_report_events", frozenset())] > 0
    assert first[("spamwatch_report_incidents", frozenset({("severity", "critical")}))] >= 1
    assert first[("spamwatch_report_lines", frozenset())] == len(attack_lines())
    assert first[("spamwatch_report_messages", frozenset())] > 0
    start = first[("spamwatch_report_range_start_timestamp_seconds", frozenset())]
    end = first[("spamwatch_report_range_end_timestamp_seconds", frozenset())]
    assert 0 < start < end
    assert first[("spamwatch_profile_db_bytes", frozenset())] >= 4096  # $SPAMWATCH_DB, learned
    quiet, status = report_gauges(log, prom, "--since", "2020-01-01", "--until", "2020-01-02")
    assert status == 0
    # gauges of the run, not counters since start: the second run replaced the first
    assert quiet[("spamwatch_report_exit_status", frozenset())] == 0
    assert quiet[("spamwatch_report_incidents", frozenset({("severity", "critical")}))] == 0
    assert not any(name.startswith("spamwatch_report") and name.endswith("_total")
                   for name, _ in quiet)  # fmt: skip
    assert json.dumps(sorted(n for n, _ in quiet)).count("spamwatch_lines_read") == 0


class _Followed:
    """A followed file as the loop sees it: its name, path and saved position."""

    def __init__(self, path: Path, position: FilePosition) -> None:
        self.name = self.key = str(path)
        self._position = position

    def position(self) -> FilePosition:
        return self._position


def test_lag_is_the_unread_bytes_of_the_file_followed(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(b"x" * 1000)
    info = log.stat()
    here = FilePosition(info.st_dev, info.st_ino, "", 0, 600)
    elsewhere = FilePosition(info.st_dev, info.st_ino + 1, "", 0, 600)  # rotated away
    assert lag_bytes([_Followed(log, here)]) == {str(log): 400}
    assert lag_bytes([_Followed(log, elsewhere)]) == {str(log): 1000}


def test_lag_seconds_is_how_far_the_newest_line_read_is_behind_while_lines_wait() -> None:
    now = 1_800_000_000.0
    newest = datetime.fromtimestamp(now - 42, UTC)
    behind = Metrics()
    behind.follow_health(FollowHealth(lag_bytes={"a.log": 900, "b.log": 0}, newest_line=newest,
                                      at=now))  # fmt: skip
    samples, _ = parse(behind.exposition().decode())
    assert samples[("spamwatch_log_lag_bytes", frozenset({("source", "a.log")}))] == 900
    assert samples[("spamwatch_log_lag_seconds", frozenset({("source", "a.log")}))] == 42
    assert samples[("spamwatch_log_lag_seconds", frozenset({("source", "b.log")}))] == 0
    assert samples[("spamwatch_newest_line_timestamp_seconds", frozenset())] == now - 42


def test_metrics_alone_before_a_file_says_how_to_write_it(tmp_path: Path) -> None:
    """``--metrics`` takes an optional value, so ``--metrics mail.log`` reads the file name as
    the address: the one error line says so instead of only refusing it."""
    log = tmp_path / "mail.log"
    log.touch()
    done = subprocess.run(
        [sys.executable, "-m", "spamwatch", "follow", "--no-db", "--state", str(tmp_path / "s"),
         "--metrics", str(log)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"spamwatch: error: --metrics: expected [ADDRESS:]PORT, got '{log}'")
    assert f"the file goes after it: --metrics {DEFAULT_PORT} FILE" in line
