"""exec against real executables: stdin and environment, failure, and a hang."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sinkutil import FAST, build_one, down, make_incident, wait_until

from spamwatch.errors import SinkError
from spamwatch.model import Incident, IncidentState
from spamwatch.sinks import Fanout
from spamwatch.sinks.spool import Spool

RECORDER = """#!/bin/sh
out="{out}/$$"
cat > "$out.stdin"
env > "$out.env"
mv "$out.stdin" "$out.json"
"""


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body)
    path.chmod(0o755)
    return path


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.partition("=") for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, _, value in pairs}


def test_command_gets_json_on_stdin_and_variables(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    command = script(tmp_path, "record.sh", RECORDER.format(out=out))
    sink = build_one(f"exec:{command}", tmp_path / "spool", [], exec=FAST)
    finding = make_incident()
    sink.send(finding)
    (done,) = wait_until(lambda: list(out.glob("*.json")), what="the command's output")
    sink.close()
    assert Incident.from_json(json.loads(done.read_text())) == finding
    env = read_env(done.with_suffix(".env"))
    assert env["SPAMWATCH_DETECTORS"] == "burst"
    assert env["SPAMWATCH_SEVERITY"] == "critical"
    assert env["SPAMWATCH_STATE"] == "opened"
    assert env["SPAMWATCH_REASON"] == "mass mail with: many_networks"
    assert env["SPAMWATCH_KEY"] == "alice@example.com"
    assert env["SPAMWATCH_KEY_KIND"] == "sasl_username"
    assert env["SPAMWATCH_ID"] == finding.id
    assert env["SPAMWATCH_HOST"] == "mx1"
    assert env["PATH"] == os.environ["PATH"]


def test_a_hanging_command_is_killed_and_the_finding_spooled(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    # The script starts a grandchild that would also hang: both must die.
    command = script(tmp_path, "hang.sh", f"#!/bin/sh\nsleep 300 &\necho $! > {pidfile}\nwait\n")
    warnings: list[str] = []
    spool_dir = tmp_path / "spool"
    options = {**FAST, "retries": 0, "timeout": "0.5s"}
    sink = build_one(f"exec:{command}", spool_dir, warnings, exec=options)
    started = time.monotonic()
    sink.send(make_incident())
    wait_until(lambda: down(sink), what="the outage")
    assert time.monotonic() - started < 10
    sink.close()
    assert "killed after 0.5s timeout" in warnings[0]
    grandchild = int(wait_until(lambda: pidfile.read_text().strip()))
    wait_until(lambda: not _alive(grandchild), what="the grandchild killed")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[1][0] != "Z"


def test_non_zero_exit_is_a_failure_with_its_stderr(tmp_path: Path) -> None:
    command = script(tmp_path, "fail.sh", "#!/bin/sh\necho 'no route to pager' >&2\nexit 3\n")
    warnings: list[str] = []
    sink = build_one(f"exec:{command}", tmp_path, warnings, exec={**FAST, "retries": 1})
    sink.send(make_incident())
    wait_until(lambda: down(sink), what="the outage")
    sink.close()
    assert "exit status 3 no route to pager" in warnings[0]


@pytest.mark.parametrize("target", ["", "/nonexistent/notify", "not-a-command-anywhere"])
def test_missing_command_is_a_sink_error(target: str, tmp_path: Path) -> None:
    with pytest.raises(SinkError):
        build_one(f"exec:{target}", tmp_path, [])


def test_non_executable_file_is_a_sink_error(tmp_path: Path) -> None:
    plain = tmp_path / "notify"
    plain.write_text("#!/bin/sh\n")
    with pytest.raises(SinkError, match="not an executable"):
        build_one(f"exec:{plain}", tmp_path, [])


def test_a_name_is_looked_up_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script(bindir, "notify-admins", RECORDER.format(out=out))
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    warnings: list[str] = []
    sink = build_one("exec:notify-admins", tmp_path / "spool", warnings, exec=FAST)
    sink.send(make_incident())
    wait_until(lambda: list(out.glob("*.json")), what="the command's output")
    sink.close()
    assert warnings == [] and Spool(tmp_path / "spool").pending() == []


def test_the_command_does_not_inherit_spamwatchs_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A password named by password_env, or any *_PASSWORD/*_TOKEN, stays with spamwatch."""
    from spamwatch.config.schema import Options

    monkeypatch.setenv("MAILPASS", "hunter2")
    monkeypatch.setenv("SPAMWATCH_WEBHOOK_TOKEN", "t0ken")
    monkeypatch.setenv("HARMLESS", "kept")
    assert Options({"password_env": "MAILPASS"}, "sinks.mailto").secret("password") == "hunter2"
    out = tmp_path / "out"
    out.mkdir()
    command = script(tmp_path, "record.sh", RECORDER.format(out=out))
    mailto = {"password_env": "MAILPASS"}
    sink = build_one(f"exec:{command}", tmp_path / "spool", [], exec=FAST, mailto=mailto)
    sink.send(make_incident())
    (done,) = wait_until(lambda: list(out.glob("*.json")), what="the command's output")
    sink.close()
    env = read_env(done.with_suffix(".env"))
    assert env["HARMLESS"] == "kept"
    assert "MAILPASS" not in env
    assert "SPAMWATCH_WEBHOOK_TOKEN" not in env
    assert "hunter2" not in done.with_suffix(".env").read_text()


FLOOD = """import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from sinkutil import make_incident
from spamwatch.sinks.exec import ExecFailed, ExecSink
sink = ExecSink({command!r}, {{"timeout": "60s"}})
try:
    sink.deliver([make_incident()])
except ExecFailed as exc:
    print("FAILED", exc)
status = Path("/proc/self/status").read_text().splitlines()
print("MAXRSS_KB", next(line.split()[1] for line in status if line.startswith("VmHWM:")))
"""


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_command_flooding_its_output_costs_bounded_memory(tmp_path: Path, stream: str) -> None:
    """Issue 14 §5: 400 MB on stderr grew follow by as much; only a tail is kept."""
    redirect = ">&2" if stream == "stderr" else ""
    command = script(
        tmp_path,
        "flood.sh",
        f"#!/bin/sh\ncat >/dev/null\nhead -c 400000000 /dev/zero {redirect}\n"
        f"echo 'the pager is down' {redirect}\nexit 4\n",
    )
    code = FLOOD.format(tests=str(Path(__file__).parent), command=str(command))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert "exit status 4" in lines["FAILED"] and "the pager is down" in lines["FAILED"]
    # VmHWM: this process's peak (ru_maxrss would carry pytest's across exec)
    assert int(lines["MAXRSS_KB"]) < 150_000, done.stdout


def test_a_command_that_does_not_read_stdin_still_counts_by_its_exit(tmp_path: Path) -> None:
    command = script(tmp_path, "deaf.sh", "#!/bin/sh\nexit 0\n")
    sink = build_one(f"exec:{command}", tmp_path / "spool", [], exec=FAST)
    sink.deliver([make_incident(summary="x" * 300_000)])  # more than a pipe holds
    sink.close()


def test_by_default_the_command_is_run_for_opened_escalated_and_resolved_not_updated(
    tmp_path: Path,
) -> None:
    """Issue 9: exec pages a person like mail and webhook, so a growing incident's
    ``updated`` records (at most one per 5 minutes, all day) do not run it."""
    out = tmp_path / "out"
    out.mkdir()
    command = script(tmp_path, "record.sh", RECORDER.format(out=out))
    fanout = Fanout([build_one(f"exec:{command}", tmp_path / "spool", [], exec=FAST)])
    for state in IncidentState:
        fanout.send(make_incident(id=f"i-{state}", state=state))
    fanout.close()
    states = {json.loads(p.read_text())["state"] for p in out.glob("*.json")}
    assert states == {"opened", "escalated", "resolved"}
