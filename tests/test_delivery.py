"""Queued delivery, the spool, alert URIs, build_sinks and the fan-out."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sinkutil import build_one, make_incident, wait_until

from spamwatch.config import Config
from spamwatch.errors import ConfigError, SinkError
from spamwatch.model import Incident, IncidentState, Severity
from spamwatch.plugins import SINKS, Plugin
from spamwatch.sinks import (
    Fanout,
    build_sinks,
    default_alert_uris,
    default_spool_dir,
    parse_alert_uri,
    redact,
    redact_uri,
)
from spamwatch.sinks.base import Sink
from spamwatch.sinks.delivery import Delivery, QueuedSink, RetryPolicy
from spamwatch.sinks.meter import SinkMeter, meter_for
from spamwatch.sinks.record import alert_id
from spamwatch.sinks.spool import Spool

QUICK = RetryPolicy(retries=1, backoff=0.01, max_backoff=0.05, drain_timeout=5)


class Target:
    """A deliver() stand-in the test steers: fail, block, or record."""

    def __init__(self) -> None:
        self.got: list[str] = []
        self.fail = False
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, findings: list[Incident]) -> None:
        self.gate.wait(30)
        if self.fail:
            raise ConnectionRefusedError("[Errno 111] Connection refused")
        self.got.extend(f.id for f in findings)


def delivery(tmp_path: Path, target: Target, warnings: list[str], **policy: Any) -> Delivery:
    settings = {**QUICK.__dict__, **policy}
    return Delivery("test:x", "test:x", target, RetryPolicy(**settings), Spool(tmp_path),
                    warnings.append)  # fmt: skip


def spooled_ids(tmp_path: Path) -> list[str]:
    return [f.id for _, f in Spool(tmp_path).pending()]


def test_close_drains_the_queue(tmp_path: Path) -> None:
    target, warnings = Target(), []
    worker = delivery(tmp_path, target, warnings)
    worker.start()
    for i in range(50):
        worker.put(make_incident(id=f"f{i}"))
    worker.close()
    assert target.got == [f"f{i}" for i in range(50)]
    assert spooled_ids(tmp_path) == [] and warnings == []


def test_close_is_bounded_and_spools_the_rest_once(tmp_path: Path) -> None:
    target, warnings = Target(), []
    target.gate.clear()  # the sink hangs
    worker = delivery(tmp_path, target, warnings, drain_timeout=0.3)
    worker.start()
    for i in range(5):
        worker.put(make_incident(id=f"f{i}"))
    started = time.monotonic()
    worker.close()
    assert time.monotonic() - started < 5
    assert spooled_ids(tmp_path) == [f"f{i}" for i in range(5)]
    target.fail = True
    target.gate.set()  # the hung call now fails: it must not spool f0 a second time
    wait_until(lambda: not worker._thread.is_alive(), what="the worker to end")
    assert spooled_ids(tmp_path) == [f"f{i}" for i in range(5)]


def test_beyond_queue_size_records_wait_on_disk_only(tmp_path: Path) -> None:
    """queue_size bounds memory, not how many wait: the rest is read back from the spool."""
    target, warnings = Target(), []
    target.gate.clear()
    worker = delivery(tmp_path, target, warnings, queue_size=3, drain_timeout=5)
    worker.start()
    started = time.monotonic()
    entries = [worker.put(make_incident(id=f"f{i}")) for i in range(20)]
    assert time.monotonic() - started < 2
    assert spooled_ids(tmp_path) == [f"f{i}" for i in range(20)]
    assert sum(e is not None and e.record is not None for e in entries) == 3
    target.gate.set()
    worker.close()
    assert target.got == [f"f{i}" for i in range(20)]
    assert spooled_ids(tmp_path) == [] and warnings == []


def test_outage_is_reported_once_and_recovery_once(tmp_path: Path) -> None:
    target, warnings = Target(), []
    target.fail = True
    worker = delivery(tmp_path, target, warnings, max_backoff=0.1)
    worker.start()
    for i in range(30):
        worker.put(make_incident(id=f"down{i}"))
    wait_until(lambda: worker.down, what="the outage")
    assert len(spooled_ids(tmp_path)) == 30
    assert len(warnings) == 1 and "ConnectionRefusedError" in warnings[0]
    assert worker.down
    target.fail = False

    def recovered() -> bool:
        worker.put(make_incident(id="probe"))
        return not worker.down

    wait_until(recovered, what="recovery")
    wait_until(lambda: {f"down{i}" for i in range(30)} <= set(target.got), what="replay")
    assert target.got[:30] == [f"down{i}" for i in range(30)]  # in the order they were made
    worker.close()
    assert len(warnings) == 2 and "delivering again" in warnings[1]
    assert spooled_ids(tmp_path) == []


def test_digest_batches_until_the_interval_ends(tmp_path: Path) -> None:
    batches: list[list[str]] = []
    worker = Delivery("t", "t", lambda fs: batches.append([f.id for f in fs]),
                      RetryPolicy(batch_interval=0.3), Spool(tmp_path), print)  # fmt: skip
    worker.start()
    for i in range(4):
        worker.put(make_incident(id=f"f{i}"))
    wait_until(lambda: batches, what="the digest")
    worker.put(make_incident(id="later"))
    worker.close()
    assert batches == [["f0", "f1", "f2", "f3"], ["later"]]


def leave_in_spool(directory: Path, uri: str, *findings: Incident) -> None:
    """Records an earlier run of the sink ``uri`` left undelivered."""
    queue = Spool(directory).for_sink(uri)
    queue.open()
    for finding in findings:
        queue.write(finding, alert_id(finding))
    queue.close()


def test_a_sink_adopts_only_its_own_records_and_skips_torn_files(tmp_path: Path) -> None:
    leave_in_spool(tmp_path, "a:1", make_incident(id="x1"), make_incident(id="x2"))
    leave_in_spool(tmp_path, "b:2", make_incident(id="y"))
    (run,) = Spool(tmp_path).sink_dir("a:1").glob("run-*")
    (run / "99999999999999999999-torn.json").write_text('{"sink": "a:1", "record": {"tr')
    (run / ".tmp-0123456789abcdef").write_text("half")
    queue = Spool(tmp_path).for_sink("a:1")
    adopted = queue.open()
    assert [queue.load(e).id for e in adopted] == ["x1", "x2"]  # type: ignore[union-attr]
    for entry in adopted:
        queue.done(entry)
    queue.close()
    assert [(uri, f.id) for uri, f in Spool(tmp_path).pending()] == [("b:2", "y")]
    assert Spool(tmp_path).for_sink("a:1").open() == []


def test_a_live_runs_records_are_not_adopted_by_another(tmp_path: Path) -> None:
    """Two processes with the same sink never deliver the same record."""
    first = Spool(tmp_path).for_sink("a:1")
    first.open()
    first.write(make_incident(id="mine"), "id-mine")
    second = Spool(tmp_path).for_sink("a:1")
    assert second.open() == []
    second.close()
    first.close()
    third = Spool(tmp_path).for_sink("a:1")
    assert [e.alert_id for e in third.open()] == ["id-mine"]
    third.close()


def test_unsafe_spool_directories_are_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    target, warnings = Target(), []
    worker = Delivery("t", "t", target, QUICK, Spool(shared), warnings.append)
    worker.start()
    worker.put(make_incident(id="still-sent"))
    worker.close()
    assert target.got == ["still-sent"]
    assert "writable by others (mode 0777)" in warnings[0]
    assert "kept in memory only" in warnings[0]
    assert list(shared.iterdir()) == []


def test_a_full_spool_says_what_is_true_and_counts_losses(tmp_path: Path) -> None:
    target, warnings = Target(), []
    target.fail = True
    meter = SinkMeter("t")
    worker = Delivery("t", "t", target, QUICK, Spool(tmp_path, max_bytes=100), warnings.append,
                      meter)  # fmt: skip
    worker.start()
    entry = worker.put(make_incident())
    assert entry is not None and entry.path is None
    wait_until(lambda: worker.down, what="the outage")
    worker.close()
    assert "cannot write the spool" in warnings[0] and "kept in memory only" in warnings[0]
    assert "spooled" not in " ".join(warnings)
    assert "alerts wait in memory only and are lost if spamwatch stops first" in warnings[1]
    assert "alerts are being lost" in warnings[2]
    assert len(warnings) == 3
    assert entry.outcome == "lost" and meter.lost == 1


class Recorder(QueuedSink):
    """A queued plugin sink that records what it delivers (for build_sinks tests)."""

    scheme = "rec"
    delivered: ClassVar[list[str]] = []

    def deliver(self, findings: list[Incident]) -> None:
        Recorder.delivered.extend(f.id for f in findings)


class Exploding(Sink):
    scheme = "boom"

    def send(self, finding: Incident) -> None:
        raise RuntimeError("sink bug")


class Broken(Sink):
    def setup(self) -> None:
        raise RuntimeError("cannot init")


def plugins(**classes: Any) -> dict[str, Plugin]:
    return {name: Plugin(SINKS, name, f"tests:{name}", "tests", obj=cls)
            for name, cls in classes.items()}  # fmt: skip


def test_build_sinks_replays_the_spool_for_its_uri(tmp_path: Path) -> None:
    leave_in_spool(tmp_path, "rec:one", make_incident(id="old"))
    leave_in_spool(tmp_path, "rec:other", make_incident(id="not-mine"))
    Recorder.delivered.clear()
    (sink,) = build_sinks(
        ["rec:one?min=critical"], Config(), tmp_path, plugins=plugins(rec=Recorder)
    )
    assert sink.min_severity is Severity.CRITICAL
    sink.close()
    assert Recorder.delivered == ["old"]
    assert [f.id for _, f in Spool(tmp_path).pending()] == ["not-mine"]


def test_fanout_isolates_failing_sinks(tmp_path: Path) -> None:
    warnings: list[str] = []
    Recorder.delivered.clear()
    found = plugins(boom=Exploding, rec=Recorder)
    uris = ["boom", "rec:x", "rec:y?min=critical"]
    sinks = build_sinks(uris, Config(), tmp_path, warn=warnings.append, plugins=found)
    fanout = Fanout(sinks, warn=warnings.append)
    fanout.send(make_incident(id="c1"))
    fanout.send(make_incident(id="w1", severity=Severity.WARNING))
    fanout.send(make_incident(id="c2"))
    fanout.close()
    assert sorted(Recorder.delivered) == ["c1", "c1", "c2", "c2", "w1"]
    assert warnings == [
        "alert sink boom failed: RuntimeError: sink bug;"
        " what it is sent is being lost until it works again"
    ]


def test_fanout_reraises_broken_pipe_after_the_others(tmp_path: Path) -> None:
    class Pipe(Sink):
        def send(self, finding: Incident) -> None:
            raise BrokenPipeError

    Recorder.delivered.clear()
    sinks = build_sinks(["pipe", "rec:z"], Config(), tmp_path,
                        plugins=plugins(pipe=Pipe, rec=Recorder))  # fmt: skip
    with pytest.raises(BrokenPipeError):
        Fanout(sinks).send(make_incident(id="p"))
    Fanout(sinks).close()
    assert Recorder.delivered == ["p"]


@pytest.mark.parametrize(
    ("uri", "scheme", "target", "minimum", "canonical"),
    [
        ("console", "console", "", None, "console"),
        ("jsonl:-", "jsonl", "-", None, "jsonl:-"),
        ("JSONL:/var/log/x.jsonl?min=Warning", "jsonl", "/var/log/x.jsonl", Severity.WARNING,
         "jsonl:/var/log/x.jsonl"),
        ("syslog:local3", "syslog", "local3", None, "syslog:local3"),
        ("webhook+https://h/p?a=1&min=critical&b=2", "webhook+https", "//h/p?a=1&b=2",
         Severity.CRITICAL, "webhook+https://h/p?a=1&b=2"),
        ("mailto:admin@example.com", "mailto", "admin@example.com", None,
         "mailto:admin@example.com"),
        ("console?min=warning", "console", "", Severity.WARNING, "console"),
        ("syslog?min=critical", "syslog", "", Severity.CRITICAL, "syslog"),
    ],
)  # fmt: skip
def test_parse_alert_uri(
    uri: str, scheme: str, target: str, minimum: Severity | None, canonical: str
) -> None:
    parsed = parse_alert_uri(uri)
    assert (parsed.scheme, parsed.target, parsed.min_severity, parsed.uri) == (
        scheme, target, minimum, canonical,
    )  # fmt: skip


@pytest.mark.parametrize("uri", ["", ":x", "1abc:x", "a b:c", "jsonl:-?min=loud"])
def test_malformed_uris_are_config_errors(uri: str) -> None:
    with pytest.raises(ConfigError):
        parse_alert_uri(uri)


def test_unknown_scheme_broken_plugin_and_failing_setup(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown alert scheme 'pager'"):
        build_sinks(["pager:x"], Config(), tmp_path)
    broken = {"bad": Plugin(SINKS, "bad", "x:Y", "x", error="ImportError: no x")}
    with pytest.raises(SinkError, match="ImportError: no x"):
        build_sinks(["bad"], Config(), tmp_path, plugins=broken)
    with pytest.raises(SinkError, match="cannot init"):
        build_sinks(["b"], Config(), tmp_path, plugins=plugins(b=Broken))


def test_min_severity_from_config_and_bad_options(tmp_path: Path) -> None:
    config = Config(data={"sinks": {"jsonl": {"min_severity": "warning"}}})
    (sink,) = build_sinks(["jsonl:-"], config, tmp_path)
    assert sink.min_severity is Severity.WARNING
    (sink,) = build_sinks(["jsonl:-?min=critical"], config, tmp_path)
    assert sink.min_severity is Severity.CRITICAL
    with pytest.raises(ConfigError, match=r"sinks\.jsonl\.min_severity"):
        build_sinks(["jsonl:-"], Config(data={"sinks": {"jsonl": {"min_severity": "x"}}}), tmp_path)
    with pytest.raises(ConfigError, match=r"sinks\.exec\.timeout: not a duration"):
        build_one("exec:/bin/true", tmp_path, [], exec={"timeout": "soon"})
    with pytest.raises(ConfigError, match=r"sinks\.webhook\.retries"):
        build_one("webhook+http://localhost/x", tmp_path, [], webhook={"retries": -1})


def test_default_uris_and_spool_dir(tmp_path: Path) -> None:
    assert default_alert_uris(Config(), interactive=True) == ["console"]
    assert default_alert_uris(Config(), interactive=False) == ["jsonl:-"]
    config = Config(data={"alerts": {"uris": ["syslog"], "spool_dir": str(tmp_path)}})
    assert default_alert_uris(config, interactive=True) == ["syslog"]
    assert default_spool_dir(config) == tmp_path
    unset = default_spool_dir(Config())
    assert default_spool_dir(Config(data={"alerts": {"spool_dir": ""}})) == unset  # config show
    with pytest.raises(ConfigError, match=r"alerts\.uris"):
        default_alert_uris(Config(data={"alerts": {"uris": "syslog"}}), interactive=True)


def test_redact_hides_secrets_but_not_their_variable_names() -> None:
    config = {
        "sinks": {
            "mailto": {"smarthost": "mail:587", "password": "hunter2", "password_env": "PW"},
            "webhook": {"header": "Authorization: Bearer abc", "token": "t0k"},
        },
        "alerts": {"uris": ["webhook+https://hooks.example.com/T/B/XYZ?min=warning", "console"]},
    }
    shown = redact(config)
    text = repr(shown)
    for secret in ("hunter2", "Bearer abc", "t0k", "XYZ"):
        assert secret not in text
    assert shown["sinks"]["mailto"]["password_env"] == "PW"
    assert shown["sinks"]["mailto"]["smarthost"] == "mail:587"
    assert shown["alerts"]["uris"][1] == "console"
    assert "min=warning" in shown["alerts"]["uris"][0]
    assert config["sinks"]["mailto"]["password"] == "hunter2"  # the input is untouched
    assert redact_uri("syslog+udp://u:pw@h:514") == "syslog+udp://u:********@h:514"


def test_check_alerts_validates_without_building(tmp_path: Path) -> None:
    from spamwatch.sinks import check_alerts

    prom, jsonl = tmp_path / "m.prom", tmp_path / "f.jsonl"
    config = Config(data={"sinks": {"mailto": {"smarthost": "x:25", "digest": "10m"}}})
    check_alerts([f"prometheus:{prom}", f"jsonl:{jsonl}", "mailto:a@example.com"], config)
    assert not prom.exists() and not jsonl.exists()  # nothing was opened or written
    bad = [
        ({"sinks": {"mailto": {"smarthots": "x"}}}, r"sinks\.mailto\.smarthots: unknown option"),
        ({"sinks": {"mail": {}}}, r"sinks\.mail: no installed sink"),
        ({"sinks": {"webhook": {"backoff": "soon"}}}, r"sinks\.webhook\.backoff"),
        ({"sinks": {"syslog": {"min_severity": "loud"}}}, r"min_severity"),
        ({"alerts": {"uri": []}}, r"alerts\.uri: unknown key"),
    ]
    for data, message in bad:
        with pytest.raises(ConfigError, match=message):
            check_alerts([], Config(data=data))
    with pytest.raises(ConfigError, match="unknown alert scheme"):
        check_alerts(["gopher://x"], Config())


def test_new_findings_do_not_cut_the_backoff_short(tmp_path: Path) -> None:
    calls: list[float] = []

    def failing(findings: list[Incident]) -> None:
        calls.append(time.monotonic())
        raise TimeoutError("timed out")

    policy = RetryPolicy(retries=2, backoff=0.2, max_backoff=10, drain_timeout=5)
    worker = Delivery("t", "t", failing, policy, Spool(tmp_path), lambda text: None)
    worker.start()
    worker.put(make_incident(id="first"))
    wait_until(lambda: calls, what="the first attempt")
    for i in range(20):  # each put() notifies the worker while it waits to retry
        worker.put(make_incident(id=f"more{i}"))
        time.sleep(0.01)
    wait_until(lambda: worker.down, what="the outage")
    worker.close()
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.2 * 0.95 and calls[2] - calls[1] >= 0.4 * 0.95
    assert sorted(spooled_ids(tmp_path)) == sorted(["first", *(f"more{i}" for i in range(20))])


def test_fanout_close_drains_hung_sinks_side_by_side(tmp_path: Path) -> None:
    gate = threading.Event()

    class Hung(QueuedSink):
        scheme = "hung"

        def deliver(self, findings: list[Incident]) -> None:
            gate.wait(30)

    uris = [f"hung:{i}" for i in range(4)]
    config = Config(data={"sinks": {"hung": {"drain_timeout": 1}}})
    sinks = build_sinks(uris, config, tmp_path, plugins=plugins(hung=Hung))
    fanout = Fanout(sinks)
    fanout.send(make_incident(id="a"))
    fanout.send(make_incident(id="b"))
    started = time.monotonic()
    fanout.close()
    took = time.monotonic() - started
    pending = Spool(tmp_path).pending()
    gate.set()
    assert took < 3.5, took  # one drain_timeout of 1s, not four
    assert sorted((uri, f.id) for uri, f in pending) == sorted(
        (uri, fid) for uri in uris for fid in ("a", "b")
    )


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A directory on a real filesystem with no space left: a filled 64 KiB tmpfs (root only).

    The jsonl sink accepts only regular files, so /dev/full cannot stand in for a full disk.
    """
    where = tmp_path / "full"
    where.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(where)]
    if subprocess.run(mount, capture_output=True, check=False).returncode != 0:
        pytest.skip("a full filesystem needs a tmpfs mount (root)")
    try:
        with contextlib.suppress(OSError), open(where / "filler", "wb") as handle:
            handle.write(b"\0" * (1 << 20))
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def test_a_jsonl_file_on_a_full_disk_says_once_that_alerts_are_lost_and_counts_them(
    tmp_path: Path, full_disk: Path
) -> None:
    warnings: list[str] = []
    uri = f"jsonl:{full_disk / 'alerts.jsonl'}"
    (sink,) = build_sinks([uri], Config(), tmp_path, warn=warnings.append)
    fanout = Fanout([sink], warn=warnings.append)
    before = meter_for(uri).lost
    for i in range(3):
        fanout.send(make_incident(id=f"f{i}"))
    assert len(warnings) == 1
    assert "No space left on device" in warnings[0]
    assert "what it is sent is being lost until it works again" in warnings[0]
    assert meter_for(uri).lost - before == 3


def test_alert_ids_are_stable_and_unique_per_record() -> None:
    """The same record made again has the same id; any other record has another."""
    first = make_incident()
    again = make_incident()
    records = [
        first,
        make_incident(state=IncidentState.ESCALATED),
        make_incident(time=first.time + timedelta(seconds=1)),
        make_incident(counts={"burst.messages": 481, "burst.ips": 7}),
        make_incident(severity=Severity.WARNING),
        make_incident(id="sasl_username:bob@example.com:1", key="bob@example.com"),
    ]
    assert alert_id(again) == alert_id(first)
    assert len({alert_id(r) for r in records}) == len(records)


def test_alert_ids_of_a_real_log_are_the_same_in_another_process_and_unique() -> None:
    """What bench_reliability's 're-sent, same id' relies on: the records a restarted
    process makes again carry the ids of the first (the receiver can drop them), and no
    two different records of a real incident share one."""
    sample = Path(__file__).resolve().parents[1] / "samples" / "compromised-account.log"
    command = [sys.executable, "-m", "spamwatch", "report", "--all-records", "--no-db",
               "--format", "json", "--fail-on", "never", str(sample)]  # fmt: skip

    def ids() -> list[str]:
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        return [alert_id(Incident.from_json(json.loads(line))) for line in out.splitlines()]

    first, second = ids(), ids()
    assert len(first) >= 4 and first == second
    assert len(set(first)) == len(first)
