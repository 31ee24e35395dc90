"""webhook sinks against a real HTTP server on loopback: ok, failing, hanging, recovering."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sinkutil import (
    FAST,
    WebhookServer,
    build_one,
    down,
    make_certificate,
    make_incident,
    server_context,
    wait_until,
)

from spamwatch.errors import ConfigError
from spamwatch.model import Incident
from spamwatch.sinks.spool import Spool


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    srv = WebhookServer().start()
    yield srv
    srv.stop()


def hook_uri(server: WebhookServer, path: str = "/hooks/T000/B000/secretpart") -> str:
    return "webhook+" + server.url + path


def test_posts_finding_json_with_text_and_auth_header(
    server: WebhookServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cret-token")
    warnings: list[str] = []
    sink = build_one(hook_uri(server), tmp_path, warnings, webhook={"token_env": "HOOK_TOKEN"})
    finding = make_incident()
    sink.send(finding)
    wait_until(lambda: server.requests, what="the POST")
    sink.close()
    (request,) = server.requests
    assert request.path == "/hooks/T000/B000/secretpart"
    assert request.headers["Authorization"] == "Bearer s3cret-token"
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert request.headers["Idempotency-Key"] == body["alert_id"]
    assert "CRITICAL opened: login alice@example.com" in body.pop("text")
    assert Incident.from_json(body) == finding
    assert warnings == []
    assert Spool(tmp_path).pending() == []


def test_header_option_and_label_hides_path(server: WebhookServer, tmp_path: Path) -> None:
    sink = build_one(hook_uri(server), tmp_path, [], webhook={"header": "X-Api-Key: k123"})
    assert "secretpart" not in sink.label
    sink.send(make_incident())
    wait_until(lambda: server.requests)
    sink.close()
    assert server.requests[0].headers["X-Api-Key"] == "k123"


def test_failing_endpoint_retries_with_backoff_then_spools_and_warns_once(
    server: WebhookServer, tmp_path: Path
) -> None:
    server.mode = "fail"
    warnings: list[str] = []
    options = {**FAST, "retries": 3, "backoff": 0.1, "max_backoff": 60}
    sink = build_one(hook_uri(server), tmp_path, warnings, webhook=options)
    spool = Spool(tmp_path)
    first = make_incident(id="f1")
    sink.send(first)
    wait_until(lambda: down(sink), what="the outage")
    # 1 attempt + 3 retries, each wait at least backoff * 2**n
    assert len(server.requests) == 4
    gaps = [b.at - a.at for a, b in zip(server.requests, server.requests[1:], strict=False)]
    for n, gap in enumerate(gaps):
        assert gap >= 0.1 * 2**n * 0.9, gaps
    # Down now: more findings go straight to the spool without hammering the server.
    for i in range(2, 12):
        sink.send(make_incident(id=f"f{i}"))
    wait_until(lambda: len(spool.pending()) == 11, what="all findings spooled")
    time.sleep(0.3)  # no request may follow while it is down
    assert len(server.requests) == 4
    sink.close()
    assert len(warnings) == 1, warnings
    assert "HTTP 500" in warnings[0] and "secretpart" not in warnings[0]
    assert [f.id for _, f in spool.pending()] == [f"f{i}" for i in range(1, 12)]
    assert {uri for uri, _ in spool.pending()} == {hook_uri(server)}
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in spool.path.rglob("*.json"))
    assert (spool.path.stat().st_mode & 0o777) == 0o700


def test_hanging_endpoint_times_out_and_spools(server: WebhookServer, tmp_path: Path) -> None:
    server.mode = "hang"
    warnings: list[str] = []
    options = {**FAST, "retries": 1, "timeout": 0.3}
    sink = build_one(hook_uri(server), tmp_path, warnings, webhook=options)
    sink.send(make_incident())
    wait_until(lambda: down(sink), what="the outage")
    sink.close()
    assert len(server.requests) == 2
    assert len(warnings) == 1 and "no answer within 0.3s" in warnings[0]


def test_recovery_replays_the_spool(server: WebhookServer, tmp_path: Path) -> None:
    server.mode = "fail"
    warnings: list[str] = []
    options = {**FAST, "retries": 0, "max_backoff": 0.2}
    sink = build_one(hook_uri(server), tmp_path, warnings, webhook=options)
    spool = Spool(tmp_path)
    sink.send(make_incident(id="during-outage"))
    wait_until(lambda: down(sink), what="the outage")
    server.mode = "ok"

    def recovered() -> bool:
        # Probes happen at most every max_backoff: keep findings coming until one passes.
        sink.send(make_incident(id="probe"))
        return "during-outage" in server.delivered()

    wait_until(recovered, what="the spooled finding replayed after recovery")
    sink.close()
    assert not any(f.id == "during-outage" for _, f in spool.pending())
    assert len(warnings) == 2 and "delivering again" in warnings[1]


def test_spool_is_replayed_at_next_start(server: WebhookServer, tmp_path: Path) -> None:
    server.mode = "fail"
    uri = hook_uri(server)
    sink = build_one(uri, tmp_path, [], webhook={**FAST, "retries": 0})
    sink.send(make_incident(id="old"))
    wait_until(lambda: down(sink), what="the outage")
    sink.close()
    server.mode = "ok"
    again = build_one(uri + "?min=warning", tmp_path, [], webhook=FAST)
    wait_until(lambda: server.delivered() == ["old"])
    again.close()
    assert Spool(tmp_path).pending() == []


def test_bad_webhook_uri_and_header_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        build_one("webhook+https:nohost", tmp_path, [])
    with pytest.raises(ConfigError, match="no user:password@") as caught:
        build_one("webhook+https://bot:hunter2@example.com/x", tmp_path, [])
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"sinks\.webhook\.header"):
        build_one("webhook+https://example.com/x", tmp_path, [], webhook={"header": "nocolon"})
    with pytest.raises(ConfigError, match=r"sinks\.webhook\.header"):
        build_one("webhook+https://example.com/x", tmp_path, [], webhook={"header": "A: b\r\nC: d"})


def test_https_verifies_the_server_certificate(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    server = WebhookServer().start(tls=server_context(cert, key))
    try:
        assert server.url.startswith("https://")
        trusted = build_one(hook_uri(server), tmp_path / "a", [], webhook={"cafile": str(cert)})
        trusted.send(make_incident(id="trusted"))
        wait_until(lambda: server.delivered() == ["trusted"], what="the POST over TLS")
        trusted.close()
        warnings: list[str] = []
        options = {**FAST, "retries": 0}
        untrusted = build_one(hook_uri(server), tmp_path / "b", warnings, webhook=options)
        untrusted.send(make_incident(id="untrusted"))
        wait_until(lambda: down(untrusted), what="the outage")
        untrusted.close()
    finally:
        server.stop()
    assert server.delivered() == ["trusted"]
    assert "CERTIFICATE_VERIFY_FAILED" in warnings[0]


def test_a_redirect_is_a_failure_not_followed_and_no_credentials_leave(
    server: WebhookServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14 §2: a 302 to another host turned the POST into a bodiless GET counted as sent."""
    elsewhere = WebhookServer().start()
    try:
        server.mode = "redirect"
        server.redirect_to = elsewhere.url + "/collect"
        monkeypatch.setenv("HOOK_TOKEN", "s3cret-token")
        warnings: list[str] = []
        options = {**FAST, "retries": 1, "token_env": "HOOK_TOKEN"}
        sink = build_one(hook_uri(server), tmp_path, warnings, webhook=options)
        sink.send(make_incident(id="r1"))
        spool = Spool(tmp_path)
        wait_until(lambda: down(sink), what="the outage")
        sink.close()
    finally:
        elsewhere.stop()
    assert elsewhere.requests == []  # nothing, and no token, reached the other host
    assert [r.mode for r in server.requests] == ["redirect", "redirect"]
    assert [f.id for _, f in spool.pending()] == ["r1"]
    assert len(warnings) == 1
    assert f"HTTP 302 redirect to {elsewhere.url}/collect (not followed)" in warnings[0]


def test_a_drip_feeding_server_is_cut_off_at_the_total_deadline(
    server: WebhookServer, tmp_path: Path
) -> None:
    """One byte every 0.3 s never trips a per-read timeout of 1 s; the total deadline does."""
    server.mode = "drip"
    server.drip_every = 0.3
    warnings: list[str] = []
    sink = build_one(
        hook_uri(server), tmp_path, warnings, webhook={**FAST, "retries": 0, "timeout": 1}
    )
    started = time.monotonic()
    sink.send(make_incident(id="d1"))
    wait_until(lambda: down(sink), timeout=10, what="the outage")
    elapsed = time.monotonic() - started
    sink.close()
    assert elapsed < 3, elapsed  # the answer would take 40 bytes x 0.3 s = 12 s
    assert len(warnings) == 1 and "no answer within 1s" in warnings[0]


def test_text_escapes_slack_markup_from_the_log(server: WebhookServer, tmp_path: Path) -> None:
    """A hostile username must not become @channel or a disguised link in chat."""
    hostile = "<!channel> <http://evil.example/|click here> & co"
    sink = build_one(hook_uri(server), tmp_path, [], webhook=FAST)
    sink.send(make_incident(key=hostile, summary=f"{hostile} sent 480 messages"))
    wait_until(lambda: server.requests)
    sink.close()
    body = server.requests[0].json()
    text = body["text"]
    assert "<" not in text and ">" not in text
    assert "&lt;!channel&gt; &lt;http://evil.example/|click here&gt; &amp; co" in text
    assert body["key"] == hostile  # the JSON fields stay as they were
