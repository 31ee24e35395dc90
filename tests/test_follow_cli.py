"""``spamwatch follow`` as a real process on real files: alerts, signals, restarts.

Each test runs ``python -m spamwatch follow`` and appends to / rotates real
files under it; waits are polls with generous timeouts, never bare sleeps.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import synthlog
from click.testing import CliRunner

from spamwatch.cli import cli
from tests.followutil import (
    ATTACK_START,
    VICTIM,
    FollowProcess,
    attack_lines,
    open_dir,
    piped,
    ready,
    until,
)

LINES = attack_lines()


def write(path: Path, lines: list[str], mode: str = "a") -> None:
    with open(path, mode) as handle:
        handle.write("".join(line + "\n" for line in lines))


def before_attack() -> int:
    """Index of the first line of the attack proper (the history comes before)."""
    start = ATTACK_START.isoformat().replace("+00:00", "")
    return next(i for i, line in enumerate(LINES) if line >= start)


def victim_records(process: FollowProcess, state: str | None = None) -> list[dict]:
    return [
        f
        for f in process.records()
        if f["key"] == VICTIM and (state is None or f["state"] == state)
    ]


def saved_offset(state: Path, log: Path) -> int:
    """The offset the state file holds for ``log`` (-1 while it holds none)."""
    if not state.exists():
        return -1
    entry = json.loads(state.read_text())["files"].get(str(log))
    return -1 if entry is None else entry["offset"]


def run(args: list[str], **kwargs: object) -> FollowProcess:
    process = FollowProcess(["--format", "json", *args], **kwargs)  # type: ignore[arg-type]
    process.wait_err("following")
    return process


def test_alerts_on_appended_attack_and_sigterm_saves_state(tmp_path: Path) -> None:
    log, state = tmp_path / "mail.log", tmp_path / "follow.state"
    cut = before_attack()
    write(log, LINES[:cut])
    process = run(["--state", str(state), str(log)])
    try:
        assert process.records() == []  # the history alone is no attack
        for start in range(cut, len(LINES), 500):
            write(log, LINES[start : start + 500])
        until(lambda: victim_records(process, "opened"), what="the victim's incident")
        until(lambda: saved_offset(state, log) == log.stat().st_size, what="caught up")
        assert process.stop(signal.SIGTERM) == 0  # (at once: it would not wait to catch up)
    finally:
        process.kill()
    assert saved_offset(state, log) == log.stat().st_size
    assert process.lines_read() == len(LINES) - cut
    assert any("state saved to" in line for line in process.err)


def test_restart_reads_no_line_twice_and_misses_none_across_rotation(tmp_path: Path) -> None:
    log, state = tmp_path / "mail.log", tmp_path / "follow.state"
    write(log, LINES[:1000])
    first = run(["--from-start", "--state", str(state), str(log)])
    try:
        until(lambda: saved_offset(state, log) == log.stat().st_size, what="caught up")
        assert first.stop(signal.SIGINT) == 0
    finally:
        first.kill()
    assert first.lines_read() == 1000
    # While stopped: more lines, then logrotate (rename + create + compress an older one).
    write(log, LINES[1000:1500])
    os.rename(log, tmp_path / "mail.log.1")
    write(log, LINES[1500:2000], "w")
    second = run(["--state", str(state), str(log)])
    try:
        until(lambda: saved_offset(state, log) == log.stat().st_size, what="caught up")
        assert second.stop(signal.SIGTERM) == 0
    finally:
        second.kill()
    assert second.lines_read() == 1000  # 500 finished in mail.log.1 + 500 new


@pytest.mark.parametrize("again_args", [[], ["--from-start"]], ids=["plain", "from-start"])
def test_restart_mid_attack_neither_misses_nor_repeats(
    tmp_path: Path, again_args: list[str]
) -> None:
    """Also with ``--from-start`` left in the unit file: it only changes a first start."""
    log, state = tmp_path / "mail.log", tmp_path / "follow.state"
    middle = before_attack() + (len(LINES) - before_attack()) // 2
    write(log, LINES[:middle])
    first = run(["--from-start", "--state", str(state), str(log)])
    try:
        until(lambda: victim_records(first, "opened"), what="the first run's alert")
        assert first.stop(signal.SIGTERM) == 0
    finally:
        first.kill()
    alerted = {f["key"]: f for f in first.records() if f["state"] != "resolved"}
    write(log, LINES[middle:])
    second = run([*again_args, "--state", str(state), str(log)])  # warm-up refills the windows
    try:
        until(lambda: saved_offset(state, log) == log.stat().st_size, what="caught up")
        assert second.stop(signal.SIGTERM) == 0
    finally:
        second.kill()
    again = [f for f in second.records() if f["key"] in alerted]
    assert not [f for f in again if f["state"] == "opened"], again
    for record in again:  # the same incident, under the id the sinks know
        assert record["id"] == alerted[record["key"]]["id"]
        if record["state"] == "escalated":
            assert record["severity"] != alerted[record["key"]]["severity"]
    assert "warm-up read" in second.wait_err("following")


def test_the_same_login_abused_again_a_day_after_a_restart_is_alerted(tmp_path: Path) -> None:
    """Issue 14 §1: a state remembering the first incident hid the second for a week."""
    log, state = tmp_path / "mail.log", tmp_path / "follow.state"
    write(log, LINES[: before_attack() + (len(LINES) - before_attack()) // 2])
    first = run(["--from-start", "--state", str(state), str(log)])
    try:
        until(lambda: victim_records(first, "opened"), what="the first incident")
        until(lambda: saved_offset(state, log) == log.stat().st_size, what="caught up")
        assert first.stop(signal.SIGTERM) == 0  # stopped while the incident is open
    finally:
        first.kill()
    assert json.loads(state.read_text())["incidents"]
    later = synthlog.compromised_account(ATTACK_START + timedelta(hours=26), messages=400,
                                         duration=timedelta(minutes=12), seed=8)  # fmt: skip
    write(log, list(synthlog.render(later, "rfc3339")), "w")  # a new day's log
    second = run(["--state", str(state), str(log)])
    try:
        opened = until(lambda: victim_records(second, "opened"), what="the second incident")
        assert second.stop(signal.SIGTERM) == 0
    finally:
        second.kill()
    assert opened[0]["id"] != victim_records(first, "opened")[0]["id"]


def test_start_in_the_middle_of_an_attack_alerts_it_from_the_warmup(tmp_path: Path) -> None:
    log, state = tmp_path / "mail.log", tmp_path / "follow.state"
    middle = before_attack() + (len(LINES) - before_attack()) // 2
    write(log, LINES[:middle])
    process = run(["--state", str(state), str(log)])  # no state yet: starts at the end
    try:
        until(lambda: victim_records(process), what="the attack found by the warm-up")
        assert process.stop(signal.SIGTERM) == 0
    finally:
        process.kill()
    assert process.lines_read() == 0  # nothing new was appended: all came from the warm-up
    assert json.loads(state.read_text())["incidents"]


def test_warmup_reads_back_into_the_rotated_file(tmp_path: Path) -> None:
    """Rotated a moment ago: the warm-up's hour is mostly in mail.log.1."""
    log, state = tmp_path / "mail.log", tmp_path / "follow.state"
    middle = before_attack() + (len(LINES) - before_attack()) // 2
    write(tmp_path / "mail.log.1", LINES[:middle])
    write(log, LINES[middle : middle + 20])
    process = run(["--state", str(state), str(log)])
    try:
        until(lambda: victim_records(process), what="the attack found in mail.log.1")
        assert process.stop(signal.SIGTERM) == 0
    finally:
        process.kill()
    assert process.lines_read() == 0


def test_sighup_reloads_the_config_and_reopens_the_files(tmp_path: Path) -> None:
    log, state, config = tmp_path / "mail.log", tmp_path / "follow.state", tmp_path / "sw.toml"
    config.write_text('[follow]\nwarmup = "30m"\n')
    write(log, LINES[:10])
    process = run(["--config", str(config), "--state", str(state), str(log)])
    try:
        config.write_text("[follow]\nno_such_option = 1\n")
        process.send(signal.SIGHUP)
        process.wait_err("config not reloaded, keeping the old one")
        assert process.proc.poll() is None
        config.write_text('[follow]\nwarmup = "2h"\n')
        os.rename(log, tmp_path / "mail.log.1")
        write(log, LINES[10:20], "w")
        process.send(signal.SIGHUP)
        assert "of the last 2h of log" in process.wait_err("config reloaded, files reopened")
        write(log, LINES[20:30])
        until(lambda: saved_offset(state, log) == log.stat().st_size, what="the new file read")
        assert process.stop(signal.SIGTERM) == 0
    finally:
        process.kill()
    assert process.lines_read() == 20


def not_reloaded(process: FollowProcess) -> list[str]:
    """The stderr lines saying a SIGHUP kept the old config (empty once the process died)."""
    if process.proc.poll() is not None:
        raise AssertionError(f"follow died: {process.err}")
    return [line for line in list(process.err) if "config not reloaded" in line]


def test_sighup_keeps_the_old_config_for_any_mistake_in_the_new_one(tmp_path: Path) -> None:
    """A bad value (not just an unknown key) or a sink that cannot be opened is said once and
    the old config kept: the service must not die of a typo on reload."""
    log, state, config = tmp_path / "mail.log", tmp_path / "follow.state", tmp_path / "sw.toml"
    config.write_text('[follow]\nwarmup = "30m"\n')
    write(log, LINES[:10])
    # plain: the config's [alerts] uris are used (--format json would send to stdout only)
    args = ["--format", "plain", "--config", str(config), "--state", str(state), str(log)]
    process = FollowProcess(args)
    mistakes = {
        "findings.cooldown": '[findings]\ncooldown = "-5m"\n',
        "correlate.max_age": '[correlate]\nmax_age = "soon"\n',
        "nodir": f'[alerts]\nuris = ["jsonl:{tmp_path / "nodir" / "x.jsonl"}"]\n',
    }
    try:
        ready(process)
        for n, (words, text) in enumerate(mistakes.items(), 1):
            config.write_text(text)
            process.send(signal.SIGHUP)
            said = until(
                lambda n=n: (lines := not_reloaded(process)) and len(lines) == n and lines,
                what=f"the reload refused for {words}",
            )
            assert words in said[-1]
            assert process.proc.poll() is None, (words, process.err)
        write(log, LINES[10:20])
        until(lambda: saved_offset(state, log) == log.stat().st_size, what="the lines read")
        assert process.stop(signal.SIGTERM) == 0
    finally:
        process.kill()
    assert process.lines_read() == 10


def test_several_files_keep_hosts_apart(tmp_path: Path) -> None:
    """Two servers whose logs use the very same queue ids: findings stay per host."""
    victims = {"a@example.com": "mx1.example.com", "b@example.net": "mx2.example.net"}
    paths = []
    for user, host in victims.items():
        records = synthlog.compromised_account(
            ATTACK_START, user=user, host=host, messages=300, duration=timedelta(minutes=10)
        )
        path = tmp_path / f"{host}.log"
        write(path, list(synthlog.render(records, "rfc3339")), "w")
        paths.append(str(path))
    state = tmp_path / "follow.state"
    process = run(["--from-start", "--state", str(state), *paths])
    try:
        until(
            lambda: {f["key"] for f in process.records()} >= set(victims),
            what="an incident for each server's victim",
        )
        assert process.stop(signal.SIGTERM) == 0
    finally:
        process.kill()
    for found in process.records():
        if found["key"] in victims:
            assert found["host"] == victims[found["key"]], found
    assert set(json.loads(state.read_text())["files"]) == set(paths)


def test_stdin_is_read_to_its_end(tmp_path: Path) -> None:
    state = tmp_path / "follow.state"
    feed = tmp_path / "feed.log"
    write(feed, LINES)
    with open(feed, "rb") as stdin:
        process = FollowProcess(["--format", "json", "--state", str(state), "-"], stdin=stdin)
        status = process.stop(timeout=120) if process.proc.wait(120) is not None else -1
    assert status == 0
    assert victim_records(process, "opened")
    assert process.lines_read() == len(LINES)


def test_missing_file_is_waited_for_and_said_once(tmp_path: Path) -> None:
    log, state = tmp_path / "mail.log", tmp_path / "follow.state"
    process = run(["--poll", "0.2", "--state", str(state), str(log)])
    try:
        process.wait_err("no such file yet, waiting for it")
        write(log, LINES[:50], "w")
        process.wait_err("appeared, reading it from the start")
        until(lambda: saved_offset(state, log) == log.stat().st_size, what="caught up")
        assert process.stop(signal.SIGTERM) == 0
    finally:
        process.kill()
    assert sum("waiting for it" in line for line in process.err) == 1
    assert process.lines_read() == 50


def invoke(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["follow", "--format", "json", *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_directory_is_exit_4(tmp_path: Path) -> None:
    code, out, err = invoke(["--state", str(tmp_path / "s"), str(tmp_path)])
    assert (code, out) == (4, "")
    assert err == f"spamwatch: error: {tmp_path}: is a directory, not a log file\n"


def test_a_gzip_file_is_exit_4(tmp_path: Path) -> None:
    archive = tmp_path / "mail.log.1.gz"
    archive.write_bytes(gzip.compress(b"x\n"))
    code, _, err = invoke(["--state", str(tmp_path / "s"), str(archive)])
    assert code == 4 and "is gzip-compressed" in err


def test_permission_denied_is_exit_4() -> None:
    """As root every file is readable: the command runs in a child dropped to nobody."""
    with open_dir() as base:
        secret = base / "mail.log"
        secret.write_text("x\n")
        secret.chmod(0o600)
        private = base / "state"  # nobody's own: a state in a shared directory is refused
        private.mkdir(mode=0o700)
        os.chown(private, 65534, 65534)
        code, err = _as_nobody(["--state", str(private / "s"), "--no-db", str(secret)])
    assert code == 4, err
    assert err == f"spamwatch: error: {secret}: permission denied\n"


def _as_nobody(args: list[str]) -> tuple[int, str]:
    """``invoke(args)`` in a forked child running as nobody; its status and stderr."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_fd)
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            code, _, err = invoke(args)
            os.write(write_fd, json.dumps([code, err]).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        code, err = json.loads(pipe.read())
    os.waitpid(pid, 0)
    return code, err


def test_bad_poll_and_warmup_are_usage_errors(tmp_path: Path) -> None:
    assert invoke(["--poll", "0", str(tmp_path / "x")])[0] == 2
    code, _, err = invoke(["--warmup", "soon", "--state", str(tmp_path / "s"), "x"])
    assert code == 2 and "--warmup" in err


def test_help_mentions_signals() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spamwatch", "follow", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "SIGHUP" in result.stdout


def test_a_vanished_stdout_reader_stops_follow_cleanly(tmp_path: Path) -> None:
    """``follow --format json | head -1``: follow ends as on SIGTERM (state saved, exit 0)."""
    log, state = tmp_path / "mail.log", tmp_path / "follow.state"
    write(log, LINES)
    args = ["follow", "--format", "json", "--from-start", "--state", str(state), str(log)]
    out, err, status = piped(args, "head -1")
    assert json.loads(out)["key"] == VICTIM
    assert status == 0, err
    assert "internal error on" not in err and "Traceback" not in err
    assert "Exception ignored" not in err and "state saved to" in err, err
    assert 0 < saved_offset(state, log) <= log.stat().st_size


def test_a_malformed_journal_match_is_refused_before_journalctl_runs(tmp_path: Path) -> None:
    """journalctl would say "Failed to add match" and be restarted forever."""
    state = str(tmp_path / "follow.state")
    status, out, err = invoke(["--journal", "--journal-match", "bogus", "--state", state])
    assert (status, out) == (2, "")
    assert err == (
        "spamwatch: error: --journal-match: 'bogus' is not FIELD=VALUE"
        " (e.g. _SYSTEMD_UNIT=postfix.service)\n"
    )
    config = tmp_path / "spamwatch.toml"
    config.write_text('[follow]\njournal_matches = ["unit postfix"]\n')
    status, out, err = invoke(["--journal", "--config", str(config), "--state", state])
    assert (status, out) == (3, "")
    assert err.startswith("spamwatch: error: follow.journal_matches: 'unit postfix' is not")
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(config)])
    assert (result.exit_code, result.stderr) == (3, err)


def test_from_start_with_a_saved_position_says_it_resumes(tmp_path: Path) -> None:
    """``--from-start`` in a unit file reads all once, then resumes: say so, not 0 lines unsaid."""
    log, state = tmp_path / "mail.log", tmp_path / "follow.state"
    write(log, LINES[:50])
    first = run(["--from-start", "--state", str(state), str(log)])
    try:
        until(lambda: saved_offset(state, log) == log.stat().st_size, what="the saved offset")
        assert first.stop() == 0
    finally:
        first.kill()
    again = run(["--from-start", "--state", str(state), str(log)])
    try:
        line = again.wait_err("resumes at its saved position")
        assert line == (
            f"spamwatch: {log}: resumes at its saved position"
            " (--from-start applies to files the state does not know)"
        )
        assert again.stop() == 0
    finally:
        again.kill()
    assert again.lines_read() == 0


def test_help_says_what_the_state_keeps_and_where() -> None:
    """Issue 14 turned "alerted keys" into the incidents still open whose records went out;
    --help said the old thing and not where the state goes without --state."""
    text = " ".join(CliRunner().invoke(cli, ["follow", "--help"]).stdout.split())
    assert "alerted keys" not in text
    assert "--state FILE Positions, journal cursor, open incidents already sent" in text
    assert "(default /var/lib/spamwatch/follow.state when writable, else" in text
