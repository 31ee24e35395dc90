"""synthlog writes lines shaped like real Postfix lines, reproducibly, streaming.

The shape patterns below are checked twice: every pattern must match at least
one real line of tests/data/corpus (so the patterns describe real Postfix, not
our own guess), and every Postfix line the generator writes must match one of
them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tracemalloc
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from itertools import islice, pairwise
from pathlib import Path

import pytest
import synthlog
from synthlog.background import STALE

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)

QID = r"[0-9A-Za-z]{7,15}"
PEER = r"[\w.\-]+\[[0-9a-fA-F.:]+\]"
ADDR = r"<[^<>\s]*>"
NUM = r"\d+(?:\.\d+)?"
SHAPES = {
    "connect": rf"connect from {PEER}",
    "disconnect": rf"disconnect from {PEER}( \w+=\d+(/\d+)?)+",
    "tls": rf"Anonymous TLS connection established from {PEER}: TLSv1\.\d with cipher \S+"
    r" \(\d+/\d+ bits\).*",
    "client": rf"{QID}: client={PEER}(, sasl_method=\w+, sasl_username=\S+)?",
    "message_id": rf"{QID}: message-id=<[^<>]+>",
    "queued": rf"{QID}: from={ADDR}, size=\d+, nrcpt=\d+ \(queue active\)",
    "delivery": rf"{QID}: to={ADDR}, (orig_to={ADDR}, )?relay=\S+, delay={NUM},"
    rf" delays={NUM}/{NUM}/{NUM}/{NUM}, dsn=\d\.\d+\.\d+, status=(sent|deferred|bounced) \(.+\)",
    "removed": rf"{QID}: removed",
    "expired": rf"{QID}: from={ADDR}, status=expired, returned to sender",
    "notice": rf"{QID}: sender non-delivery notification: {QID}",
    "noqueue": rf"NOQUEUE: reject: RCPT from {PEER}: \d{{3}} \d\.\d+\.\d+ .+;"
    rf" from={ADDR} to={ADDR} proto=ESMTP helo=<[^<>]+>",
    "sasl_failure": rf"warning: {PEER}: SASL (LOGIN|PLAIN) authentication failed: .*",
    "lost": rf"lost connection after \w+ from {PEER}",
    "pickup": rf"{QID}: uid=\d+ from=<\w+>",
    "anvil_rate": r"statistics: max connection rate \d+/60s for \(smtp:[\d.]+\) at \w+ +\d+"
    r" [\d:]+",
    "anvil_count": r"statistics: max connection count \d+ for \(smtp:[\d.]+\) at \w+ +\d+"
    r" [\d:]+",
    "anvil_cache": r"statistics: max cache size \d+ at \w+ +\d+ [\d:]+",
    "ps_connect": r"CONNECT from \[[\d.]+\]:\d+ to \[[\d.]+\]:25",
    "ps_pass": r"PASS (OLD|NEW) \[[\d.]+\]:\d+",
    "ps_pregreet": r"PREGREET \d+ after [\d.]+ from \[[\d.]+\]:\d+: .+",
    "ps_dnsbl": r"DNSBL rank \d+ for \[[\d.]+\]:\d+",
    "ps_hangup": r"HANGUP after [\d.]+ from \[[\d.]+\]:\d+ in tests after SMTP handshake",
    "ps_disconnect": r"DISCONNECT \[[\d.]+\]:\d+",
    "ps_reject": r"NOQUEUE: reject: RCPT from \[[\d.]+\]:\d+: 550 5\.7\.1 Service unavailable;"
    rf" client \[[\d.]+\] blocked using \S+; from={ADDR}, to={ADDR}, proto=ESMTP, helo=<\S+>",
}
COMPILED = {name: re.compile(rx) for name, rx in SHAPES.items()}
POSTFIX_BODY = re.compile(r"(?:^|\s)(postfix[\w/.-]*)\[(\d+)\]:? (.*)$")
NOISE_PROGRAMS = ("dovecot:", "opendkim[", "amavis[", "CRON[")

RFC3164 = re.compile(r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d ")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d ")


def shape_of(body: str) -> str | None:
    """The name of the first shape a Postfix message body matches, or None."""
    for name, rx in COMPILED.items():
        if rx.fullmatch(body):
            return name
    return None


def corpus_bodies(corpus_dir: Path) -> list[str]:
    bodies = []
    for path in sorted(corpus_dir.glob("*.log")):
        for raw in path.read_bytes().splitlines():
            m = POSTFIX_BODY.search(raw.decode("utf-8", "replace"))
            if m:
                bodies.append(m.group(3))
    return bodies


def body(line: str) -> tuple[str, str] | None:
    m = POSTFIX_BODY.search(line)
    return (m.group(1), m.group(3)) if m else None


def incident_mix() -> list[str]:
    """An hour of background with every scenario merged in, rendered."""
    start = T0.timestamp()
    records = synthlog.merge(
        synthlog.background(synthlog.TrafficMix(rate=1.0), T0, T0 + timedelta(hours=1), seed=5),
        synthlog.compromised_account(start + 600, messages=300, duration=timedelta(minutes=5)),
        synthlog.slow_sender(start + 300, duration=timedelta(minutes=40)),
        synthlog.password_spraying(start, attempts=100, duration=timedelta(minutes=10)),
        synthlog.brute_force(start + 900, attempts=60),
        synthlog.queue_growth(start, outage=timedelta(minutes=20), rate=0.05),
        synthlog.newsletter(start, messages=5, recipients=(10, 20)),
        synthlog.notifications(start, duration=timedelta(hours=1)),
        synthlog.traveller(start, duration=timedelta(hours=1)),
        synthlog.mailing_list(start, posts=2, members=30),
        synthlog.ticketing(start, duration=timedelta(hours=1)),
        synthlog.verp_list(start + 1200, members=60, duration=timedelta(minutes=3)),
        synthlog.sasl_scanners(start, duration=timedelta(hours=1)),
        synthlog.relay_outage(start + 600, outage=timedelta(minutes=20), per_hour=10.0),
        synthlog.foreign_habit(start, duration=timedelta(hours=1)),
    )
    return list(synthlog.render(synthlog.until(records, start + 3600), "rfc3339"))


@pytest.fixture(scope="module")
def mixed() -> list[str]:
    return incident_mix()


# --- the patterns describe real Postfix -------------------------------------


def test_every_shape_matches_a_real_corpus_line(corpus_dir: Path) -> None:
    bodies = corpus_bodies(corpus_dir)
    assert len(bodies) > 1000
    unmatched = [name for name, rx in COMPILED.items() if not any(rx.fullmatch(b) for b in bodies)]
    assert unmatched == []


def test_every_generated_postfix_line_has_a_real_shape(mixed: list[str]) -> None:
    seen: dict[str, int] = defaultdict(int)
    for line in mixed:
        parts = body(line)
        if parts is None:
            assert any(p in line for p in NOISE_PROGRAMS), line
            continue
        shape = shape_of(parts[1])
        assert shape is not None, line
        seen[shape] += 1
    # the mix exercises (nearly) every shape
    assert set(COMPILED) - set(seen) <= {"expired"}, set(COMPILED) - set(seen)


def test_expired_messages_appear_in_a_long_background() -> None:
    mix = synthlog.TrafficMix(rate=2.0, weights={"old_queue": 1.0, "imap": 1.0})
    lines = list(synthlog.generate(T0, lines=20000, seed=3, mix=mix))
    expired = [ln for ln in lines if "status=expired, returned to sender" in ln]
    assert expired
    assert all(shape_of(body(ln)[1]) == "expired" for ln in expired)


def _old_mail(lines: list[str]) -> dict[str, list[str]]:
    """Each queue id of mail deferred for days: its retries ("deferred") and end ("removed")."""
    lives: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        parts = body(line)
        qid = "" if parts is None else parts[1].split(":", 1)[0]
        old = re.search(r"relay=none, delay=(\d+),", line)
        if old and int(old.group(1)) >= 300000:
            lives[qid].append("deferred")
        elif qid in lives and line.endswith(": removed"):
            lives[qid].append("removed")
    return lives


def test_steady_days_are_one_server_whose_old_mail_expires() -> None:
    """``genlog --steady``: days written with their own seeds share the users, and
    mail deferred for days comes back under its queue id until it expires."""
    weights = {"old_queue": 0.5, "submission": 24.0}  # the default mix's share
    mix = synthlog.TrafficMix(rate=0.2, weights=weights, population_seed=1, steady_queue=True)
    day = timedelta(days=1)
    days = [list(synthlog.generate(T0, duration=day, seed=s, mix=mix)) for s in (1, 2)]
    logins = [{m for ln in d for m in re.findall(r"sasl_username=([^ ,]+)", ln)} for d in days]
    assert len(logins[0]) > 50 and logins[0] == logins[1]
    steady = _old_mail(days[0])
    ended = sum(kinds[-1] == "removed" for kinds in steady.values())
    retries = sum(kinds.count("deferred") for kinds in steady.values())
    assert ended >= 5, "old mail expires (five days in the queue) and is removed"
    assert len(steady) <= STALE + ended, "the same few messages, replaced as they expire"
    assert retries > 5 * len(steady), "each retried under its own queue id"
    default = _old_mail(
        list(
            synthlog.generate(
                T0, duration=day, seed=1, mix=synthlog.TrafficMix(rate=0.2, weights=weights)
            )
        )
    )
    assert len(default) > 100
    assert all(kinds == ["deferred"] for kinds in default.values()), "a new id per retry"


def test_headers_rfc3164_and_rfc3339() -> None:
    old = list(synthlog.generate(T0, lines=500, seed=1))
    assert all(RFC3164.match(ln) for ln in old)
    assert all(" mail.example.com " in ln for ln in old)
    zone = timezone(timedelta(hours=1))
    new = list(synthlog.generate(T0, lines=500, seed=1, style="rfc3339", tz=zone))
    assert all(RFC3339.match(ln) for ln in new)
    assert new[0].startswith("2026-11-28T09:00:") and new[0][26:32] == "+01:00"


def test_rfc3164_day_is_space_padded() -> None:
    start = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    line = next(iter(synthlog.generate(start, lines=1, seed=1)))
    assert line.startswith("Dec  3 10:00:")


def test_unknown_style_is_refused() -> None:
    with pytest.raises(ValueError, match="style"):
        list(synthlog.render([(0.0, "h", "x")], style="iso"))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.004, "0"),
        (0.06, "0.06"),
        (0.17, "0.17"),
        (0.3, "0.3"),
        (1.23, "1.2"),
        (5.0, "5"),
        (21.4, "21"),
        (420316.7, "420316"),
    ],
)
def test_delay_formatting_matches_postfix(seconds: float, text: str) -> None:
    # every expected value appears as written in a real corpus line (delay= or delays=)
    assert synthlog.fmt_delay(seconds) == text


def test_command_counts_match_real_form() -> None:
    counts = [("ehlo", 1, 1), ("auth", 0, 1), ("quit", 1, 1)]
    assert synthlog.command_counts(counts) == "ehlo=1 auth=0/1 quit=1 commands=2/3"
    full = [
        ("ehlo", 2, 2),
        ("starttls", 1, 1),
        ("auth", 1, 1),
        ("mail", 1, 1),
        ("rcpt", 1, 1),
        ("data", 1, 1),
        ("quit", 1, 1),
    ]
    assert synthlog.command_counts(full) == (
        "ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8"
    )


# --- determinism --------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    a = list(synthlog.generate(T0, lines=5000, seed=42))
    b = list(synthlog.generate(T0, lines=5000, seed=42))
    c = list(synthlog.generate(T0, lines=5000, seed=43))
    assert a == b
    assert a != c
    assert len(a) == 5000


def test_scenarios_are_deterministic(mixed: list[str]) -> None:
    assert incident_mix() == mixed


def test_genlog_cli_writes_the_same_file_twice(tmp_path: Path) -> None:
    outs = []
    for name in ("a.log", "b.log"):
        out = tmp_path / name
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "genlog.py"),
                "--lines",
                "3000",
                "--seed",
                "9",
                "--out",
                str(out),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert outs[0].count(b"\n") == 3000


def test_genlog_end_pins_the_last_line(tmp_path: Path) -> None:
    out = tmp_path / "end.log"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "genlog.py"),
            "--lines",
            "20000",
            "--out",
            str(out),
            "--end",
            "2026-11-28 12:00",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    lines = out.read_text().splitlines()
    assert lines[-1].startswith("Nov 28 11:")
    assert 15000 < len(lines) <= 20000


# --- the log is internally consistent ----------------------------------------


def test_lines_are_in_time_order(mixed: list[str]) -> None:
    stamps = [ln[:32] for ln in mixed]
    assert stamps == sorted(stamps)


def test_each_queue_id_lives_in_order(mixed: list[str]) -> None:
    """client -> message-id -> queued -> deliveries -> removed, and nothing after removal.

    A deferred message is "queued" (queue active) again at each retry, so the
    order is checked on each kind's first line.
    """
    rank = {
        "client": 0,
        "pickup": 0,
        "message_id": 1,
        "queued": 2,
        "delivery": 3,
        "notice": 3,
        "expired": 3,
        "removed": 4,
    }
    lives: dict[str, list[str]] = defaultdict(list)
    for line in mixed:
        parts = body(line)
        if parts is None:
            continue
        shape = shape_of(parts[1])
        if shape in rank:
            lives[parts[1].split(":", 1)[0]].append(shape)
    started = {q: kinds for q, kinds in lives.items() if kinds[0] in ("client", "pickup")}
    assert len(started) > 500
    for qid, kinds in started.items():
        assert kinds.count("client") + kinds.count("pickup") == 1, (qid, kinds)
        firsts = sorted(set(kinds), key=kinds.index)  # qmgr repeats "queued" on retries
        assert [rank[k] for k in firsts] == sorted(rank[k] for k in firsts), (qid, kinds)
        if "removed" in kinds:
            assert kinds[-1] == "removed" and kinds.count("removed") == 1, (qid, kinds)


def test_queue_ids_are_unique_per_host_and_well_formed(mixed: list[str]) -> None:
    ids = [body(ln)[1].split(":", 1)[0] for ln in mixed if "client=" in ln]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[0-9A-F]{10,12}", q) for q in ids)


def test_bounces_notify_the_sender_under_a_new_queue_id(mixed: list[str]) -> None:
    notices = [ln for ln in mixed if "sender non-delivery notification" in ln]
    assert notices
    text = "\n".join(mixed)
    for line in notices[:20]:
        new = line.rsplit(" ", 1)[1]
        assert f"{new}: from=<>," in text


def test_deferred_messages_are_retried_with_queue_active_again(mixed: list[str]) -> None:
    actives: dict[str, int] = defaultdict(int)
    for line in mixed:
        if "(queue active)" in line:
            actives[body(line)[1].split(":", 1)[0]] += 1
    assert max(actives.values()) >= 3


# --- the scenarios say what they promise -------------------------------------


def fail_ip(line: str) -> str:
    return re.search(r"warning: \S+\[([\d.]+)\]: SASL", line).group(1)


def _lines(records) -> list[str]:  # type: ignore[no-untyped-def]
    return list(synthlog.render(records))


def test_compromised_account_botnet_and_foreign_senders() -> None:
    lines = _lines(
        synthlog.compromised_account(
            T0, user="v@example.com", messages=200, duration=timedelta(minutes=4), bots=5, history=0
        )
    )
    clients = [ln for ln in lines if "sasl_username=v@example.com" in ln]
    assert len(clients) == 200
    ips = {re.search(r"client=\w+\[([\d.]+)\]", ln).group(1) for ln in clients}
    assert len(ips) == 5
    froms = [ln for ln in lines if ": from=<" in ln and "nrcpt=" in ln and "from=<>" not in ln]
    foreign = {ln.split("from=<", 1)[1].split(">")[0] for ln in froms if "@yahoo.ph" in ln}
    assert 60 < len(foreign) <= 200
    assert all("nrcpt=1 " in ln for ln in froms)
    assert any("status=deferred" in ln for ln in lines)
    assert any("status=bounced" in ln for ln in lines)
    assert not any("authentication failed" in ln for ln in lines)


def test_slow_sender_keeps_its_pace() -> None:
    lines = _lines(synthlog.slow_sender(T0, user="s@example.com", duration=timedelta(hours=2)))
    times = [
        datetime.strptime(ln[:15], "%b %d %H:%M:%S") for ln in lines if "sasl_username=s@" in ln
    ]
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    assert 120 <= len(times) <= 360
    assert min(gaps) >= 19 and max(gaps) <= 61


def test_password_spraying_many_addresses_many_users_then_success() -> None:
    lines = _lines(
        synthlog.password_spraying(T0, sources=20, attempts=200, success="sales@example.com")
    )
    fails = [ln for ln in lines if "authentication failed" in ln]
    assert len(fails) == 200
    assert len({fail_ip(ln) for ln in fails}) == 20
    assert len({ln.rsplit("sasl_username=", 1)[1] for ln in fails}) > 15
    ok = [ln for ln in lines if "sasl_username=sales@example.com" in ln and "client=" in ln]
    assert len(ok) == 1 and lines.index(ok[0]) > lines.index(fails[-1])


def test_brute_force_one_address_one_user() -> None:
    lines = _lines(synthlog.brute_force(T0, username="info@example.com", attempts=50))
    fails = [ln for ln in lines if "authentication failed" in ln]
    assert len(fails) == 50
    assert len({fail_ip(ln) for ln in fails}) == 1
    assert all(ln.endswith("sasl_username=info@example.com") for ln in fails)


def test_queue_growth_defers_then_drains() -> None:
    lines = _lines(synthlog.queue_growth(T0, outage=timedelta(minutes=30), rate=0.05))
    during = [ln for ln in lines if "outlook" in ln and "status=" in ln]
    assert any("Connection timed out" in ln and "status=deferred" in ln for ln in during)
    assert any("status=sent" in ln for ln in during)
    # every message that entered the queue leaves it once the destination is back
    entered = {ln.split(": ")[1] for ln in lines if "client=" in ln}
    removed = {ln.split(": ")[1] for ln in lines if ln.endswith(": removed")}
    assert entered <= removed


def test_newsletter_many_recipients_per_message() -> None:
    lines = _lines(synthlog.newsletter(T0, messages=5, recipients=(30, 40)))
    nrcpts = [
        int(re.search(r"nrcpt=(\d+)", ln).group(1))
        for ln in lines
        if "from=<newsletter@example.org>" in ln
    ]
    assert len(nrcpts) >= 5 and all(30 <= n <= 40 for n in nrcpts)


def test_notifications_one_fixed_address_steady() -> None:
    lines = _lines(synthlog.notifications(T0, duration=timedelta(hours=4)))
    clients = [ln for ln in lines if "sasl_username=alerts@example.com" in ln]
    assert 50 < len(clients) < 130
    assert {re.search(r"client=(\S+),", ln).group(1) for ln in clients} == {
        "monitor.example.com[198.51.100.61]"
    }


def test_traveller_three_networks() -> None:
    lines = _lines(synthlog.traveller(T0, per_network=3))
    ips = [re.search(r"client=\S+\[([^\]]+)\]", ln).group(1) for ln in lines if "client=" in ln]
    assert len(ips) == 9
    assert len({ip.rsplit(":", 4)[0] if ":" in ip else ip for ip in ips}) == 3


def test_backup_mx_relays_to_the_primary_after_the_outage() -> None:
    lines = _lines(synthlog.backup_mx(T0, outage=timedelta(hours=1), rate=0.02))
    assert all(" mx2.example.com " in ln for ln in lines)
    relayed = [ln for ln in lines if "relay=mail.example.com[198.51.100.25]:25" in ln]
    deferred = [ln for ln in lines if "status=deferred" in ln and "mail.example.com" in ln]
    assert relayed and deferred
    assert all("status=sent" in ln for ln in relayed)


def test_ticketing_one_address_own_domain_steady_rate() -> None:
    lines = _lines(synthlog.ticketing(T0, duration=timedelta(hours=3), per_hour=(40.0, 50.0)))
    clients = [ln for ln in lines if "sasl_username=helpdesk@example.com" in ln]
    assert 100 < len(clients) < 170
    assert {re.search(r"client=(\S+),", ln).group(1) for ln in clients} == {
        "tickets.example.com[198.51.100.70]"
    }
    queued = [ln for ln in lines if "nrcpt=" in ln and "from=<>" not in ln]  # not bounces
    assert {re.search(r"nrcpt=(\d+)", ln).group(1) for ln in queued} == {"1"}
    assert all("from=<noreply@example.com>" in ln for ln in queued)


def test_verp_list_folds_each_member_into_its_sender() -> None:
    lines = _lines(synthlog.verp_list(T0, members=50, duration=timedelta(minutes=2)))
    queued = re.findall(
        r"from=<members-bounces\+([^=]+)=([^@]+)@lists\.example\.org>", "\n".join(lines)
    )
    assert len(set(queued)) == 50
    delivered = {m.group(1) for ln in lines if (m := re.search(r"to=<([^>]+)>", ln))}
    assert {f"{local}@{domain}" for local, domain in queued} <= delivered
    assert {re.search(r"client=(\S+),", ln).group(1) for ln in lines if "client=" in ln} == {
        "lists.example.org[198.51.100.80]"
    }


def test_sasl_scanners_5_to_20_addresses_per_10_minutes_on_every_host() -> None:
    hosts = ("mail.example.com", "mx2.example.com")
    records = synthlog.sasl_scanners(T0, duration=timedelta(hours=2), hosts=hosts)
    lines = list(synthlog.render(records, "rfc3339"))
    for host in hosts:
        per_window: dict[int, set[str]] = defaultdict(set)
        for ln in lines:
            if f" {host} " in ln and "authentication failed" in ln:
                when = datetime.fromisoformat(ln.split()[0]).timestamp()
                ip = re.search(r"\[([\d.]+)\]", ln).group(1)
                per_window[int((when - T0.timestamp()) // 600)].add(ip)
        assert len(per_window) == 12
        assert all(4 <= len(ips) <= 20 for ips in per_window.values()), per_window


def test_relay_outage_defers_every_remote_delivery_until_it_ends() -> None:
    outage = timedelta(minutes=30)
    lines = list(
        synthlog.render(synthlog.relay_outage(T0, outage=outage, per_hour=20.0), "rfc3339")
    )
    end = (T0 + outage).timestamp()
    remote = [ln for ln in lines if "postfix/smtp[" in ln and " to=<" in ln]
    during = [ln for ln in remote if datetime.fromisoformat(ln.split()[0]).timestamp() < end]
    assert during and all("status=deferred" in ln and "relay.example.net" in ln for ln in during)
    assert any("status=sent" in ln for ln in remote if ln not in during)


def test_foreign_habit_one_foreign_domain_from_the_usual_address() -> None:
    lines = _lines(synthlog.foreign_habit(T0, duration=timedelta(hours=3)))
    senders = {m.group(1) for ln in lines if (m := re.search(r"from=<([^>]*)>", ln))}
    assert senders == {"anna@schmidt-consulting.de"}


def test_every_lookalike_builds_a_day_on_the_host_named() -> None:
    day = T0.replace(hour=0, minute=0, second=0, microsecond=0)
    for lookalike in synthlog.LOOKALIKES:
        records = synthlog.until(
            lookalike.day(day, 1, "mx9.example.com"), (day + timedelta(hours=14)).timestamp()
        )
        lines = list(synthlog.render(records, "rfc3339"))
        assert lines and all(" mx9.example.com " in ln for ln in lines), lookalike.name
        for login in lookalike.logins:
            assert any(f"sasl_username={login}" in ln for ln in lines), (lookalike.name, login)


# --- streaming -----------------------------------------------------------------


def test_a_large_count_streams_in_bounded_memory() -> None:
    """Memory after 20k lines and after 100k more lines stays the same (no storing).

    Keeping the 100k lines would take about 20 MB; the bound is 0.5 MB over
    what the generator held after the first 20k lines.
    """
    mix = synthlog.TrafficMix(rate=0.3)  # low rate: the retry backlog's steady state comes early
    lines = synthlog.generate(T0, lines=120_000, seed=11, mix=mix)
    tracemalloc.start()
    try:
        for _ in islice(lines, 20_000):
            pass
        settled, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        count = sum(1 for _ in lines)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 100_000
    assert peak < settled * 1.5 + 512 * 1024, (settled, peak)


def test_long_queue_ids_encode_their_time_like_postfix() -> None:
    """enable_long_queue_ids: base-52 seconds and microseconds, "z", base-51 inode."""
    mix = synthlog.TrafficMix(long_queue_ids=True)
    lines = list(synthlog.generate(T0, lines=3000, seed=2, mix=mix))
    ids = [body(ln)[1].split(":", 1)[0] for ln in lines if "client=" in ln]
    assert ids and len(ids) == len(set(ids))
    digits = synthlog.LONG_ID_DIGITS
    for qid in ids:
        assert re.fullmatch(rf"[{digits}]{{10}}z[{digits[:-1]}]+", qid), qid
        seconds = 0
        for ch in qid[:6]:
            seconds = seconds * 52 + digits.index(ch)
        assert 0 <= seconds - T0.timestamp() < 3 * 3600
    # the shape of the real one in the corpus (pixelpark: 4PbC4x469Jz3tBr)
    assert synthlog.postfix_digits(1678748913, 52, 6) == "4PbC4x"


def test_relayhost_outage_defers_remote_mail_only() -> None:
    start = T0.timestamp()
    down = synthlog.Outage("*", start, start + 1800, "smtp.relay.example", "203.0.113.25")
    mix = synthlog.TrafficMix(rate=1.0, outages=(down,))
    lines = list(synthlog.render(synthlog.background(mix, T0, T0 + timedelta(minutes=30), seed=4)))
    remote = [ln for ln in lines if "postfix/smtp[" in ln and " to=<" in ln]
    local = [ln for ln in lines if "postfix/lmtp[" in ln]
    assert remote and local
    assert all("smtp.relay.example[203.0.113.25]:25: Connection timed out" in ln for ln in remote)
    assert all("status=sent" in ln or "status=bounced" in ln for ln in local)
