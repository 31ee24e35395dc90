"""IncidentEngine: one incident per login or host, graded by the severity table."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import synthlog
from builders import Stream, at, run_incidents

from spamwatch.config import Config
from spamwatch.correlate import Correlator
from spamwatch.detectors import build_detectors
from spamwatch.errors import ConfigError
from spamwatch.incidents.engine import IncidentEngine, route
from spamwatch.incidents.severity import RULES, grade
from spamwatch.model import Finding, FindingState, Incident, IncidentState, Severity, Signal
from spamwatch.parse import Parser
from spamwatch.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
ALICE = "alice@example.com"


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def sig(
    seconds: float,
    detector: str = "burst",
    facts: tuple[str, ...] = ("volume", "no_history"),
    key: str = ALICE,
    key_kind: str = "sasl_username",
    severity: Severity = Severity.WARNING,
    host: str = "mx1",
    count: int = 40,
    evidence: dict[str, object] | None = None,
) -> Signal:
    return Signal(
        detector=detector,
        key=key,
        key_kind=key_kind,
        severity=severity,
        time=t(seconds),
        first_seen=t(0),
        summary=f"{key} {detector} {count}",
        host=host,
        counts={"messages": count},
        evidence=evidence or {},
        facts=frozenset(facts),
    )


def feed(engine: IncidentEngine, *signals: Signal) -> list[Incident]:
    out: list[Incident] = []
    for signal in signals:
        out += engine.tick(signal.time)
        out += engine.observe(signal)
    return out


def finding(facts: tuple[str, ...], severity: Severity = Severity.WARNING) -> Finding:
    return Finding(
        id="x",
        state=FindingState.RAISED,
        detector="d",
        severity=severity,
        key="k",
        key_kind="sasl_username",
        summary="s",
        first_seen=T0,
        last_seen=T0,
        raised_at=T0,
        time=T0,
        facts=frozenset(facts),
    )


# ---- the severity table -----------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (("volume", "no_history"), Severity.INFO),  # a list expansion, no profile
        (("volume",), Severity.INFO),  # usual network, usual senders
        (("new_network",), Severity.INFO),  # a traveller
        (("deferrals",), Severity.INFO),  # a destination's outage
        (("outage", "queue_growth"), Severity.INFO),  # the queue waits for a dead relay
        (("outage", "deferrals"), Severity.INFO),
        (("spray", "outage"), Severity.WARNING),  # an outage hides nothing else on the host
        (("blocklisted", "outage"), Severity.WARNING),
        (("volume", "above_usual"), Severity.WARNING),
        (("foreign_sender",), Severity.WARNING),
        (("brute_force",), Severity.WARNING),
        (("spray",), Severity.WARNING),
        (("volume", "new_network"), Severity.CRITICAL),
        (("volume", "new_sender_domain"), Severity.CRITICAL),
        (("volume", "bounces"), Severity.CRITICAL),
        (("brute_force", "success_after_failures"), Severity.CRITICAL),
        (("many_networks", "foreign_sender"), Severity.CRITICAL),
    ],
)
def test_the_table_grades_the_combination(facts: tuple[str, ...], expected: Severity) -> None:
    severity, reason, _ = grade([finding(facts[:1])] + ([finding(facts[1:])] if facts[1:] else []))
    assert severity is expected, reason


def test_a_finding_without_facts_counts_at_its_own_severity() -> None:
    """A third-party detector that names no fact is not silenced by the table."""
    severity, reason, _ = grade([finding(("volume",)), finding((), Severity.CRITICAL)])
    assert severity is Severity.CRITICAL and reason.startswith("d: ")


def table_rows(text: str) -> set[tuple[str, str, str]]:
    """(severity, all of, any of) rows of the documented table, normalised."""
    rows = set()
    for match in re.finditer(r"^\| `(\w+)` \| ([^|]*) \| ([^|]*) \|", text, re.M):
        severity, all_of, any_of = match.groups()
        rows.add((severity, " ".join(sorted(re.findall(r"\w+", all_of))),
                  " ".join(sorted(re.findall(r"\w+", any_of)))))  # fmt: skip
    return rows


def test_readme_prints_the_table_the_code_uses() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Incident severity") :]
    section = re.split(r"^#{2,3} ", section[4:], flags=re.M)[0]  # to the next heading only
    code = {
        (str(r.severity), " ".join(sorted(r.all_of)), " ".join(sorted(r.any_of))) for r in RULES
    }
    assert table_rows(section) == code


def test_the_man_page_names_every_rule() -> None:
    man = (ROOT / "man/spamwatch.1").read_text()
    section = man[man.index(".SS incident severity") :]
    for rule in RULES:
        assert rule.label in section


def test_readme_and_man_page_give_every_field_of_the_json_record() -> None:
    """Issue 9: "README and man page give the fields" of schema 2, as to_json writes them."""
    from sinkutil import make_incident

    record = make_incident(merged_into="sasl_username:bob@example.com:1").to_json()
    fields = set(record) | set(record["findings"][0])
    readme = (ROOT / "README.md").read_text()
    readme = readme[readme.index("**INCIDENT JSON") : readme.index("*Changed from schema 1*")]
    man = (ROOT / "man/spamwatch.1").read_text()
    man = man[man.index(".SH INCIDENT JSON") : man.index(".SH EXIT STATUS")]
    lines = re.findall(r"^\.BR? (.*)$", man, re.M)  # .B id, .BR key ", " key_kind
    named = {word for line in lines for word in re.findall(r'(?:^|" )(\w+)', line)}
    assert record["schema"] == 2
    assert [f for f in sorted(fields) if f"`{f}`" not in readme] == []
    assert sorted(fields - named) == []


# ---- lifecycle --------------------------------------------------------------


def test_signals_about_one_login_from_every_detector_and_host_are_one_incident() -> None:
    engine = IncidentEngine()
    records = feed(
        engine,
        sig(10),
        sig(20, "addresses", ("many_networks",), host="mx2"),
        sig(30, "sender", ("foreign_sender",), host="mx3"),
        sig(40, "bounces", ("bounces",)),
    )
    assert [r.state for r in records] == ["opened", "escalated"]
    opened, escalated = records
    assert opened.severity is Severity.INFO and opened.key == ALICE
    assert escalated.severity is Severity.CRITICAL and escalated.id == opened.id
    assert "many_networks" in escalated.reason
    snapshot = engine.open_incidents()
    assert len(snapshot) == 1
    assert set(snapshot[0].detectors) == {"burst", "addresses", "sender", "bounces"}
    assert snapshot[0].hosts == ("mx1", "mx2", "mx3")
    assert "bounces" in snapshot[0].reason  # the row names every fact it saw
    assert engine.is_open("Alice@Example.com") and not engine.is_open("bob@example.com")


def test_growth_is_updated_at_most_once_per_five_minutes_and_never_lost() -> None:
    engine = IncidentEngine()
    records = feed(engine, *(sig(s, count=40 * 2**n) for n, s in enumerate(range(0, 200, 20))))
    assert [r.state for r in records] == ["opened"]  # grew ten-fold within 200 s
    later = engine.tick(t(301))
    assert [r.state for r in later] == ["updated"]
    assert later[0].time == t(300)  # when the limit ran out, not whenever the tick came
    assert later[0].findings[0].counts["messages"] == 40 * 2**9
    assert engine.tick(t(700)) == []  # nothing new since


def test_resolved_with_its_last_finding_then_a_new_incident_is_new() -> None:
    engine = IncidentEngine()
    first = feed(engine, sig(0), sig(60, "sender", ("foreign_sender",)))
    over = engine.tick(t(60 + 20 * 60))
    assert [r.state for r in over] == ["resolved"]
    assert over[0].id == first[0].id and over[0].time == t(60 + 20 * 60)
    again = feed(engine, sig(5000))
    assert [r.state for r in again] == ["opened"] and again[0].id != first[0].id


def test_a_client_address_joins_the_one_login_it_attacks_else_its_host() -> None:
    one = sig(0, "auth", ("brute_force",), key="192.0.2.7", key_kind="client_ip",
              evidence={"logins": [ALICE]})  # fmt: skip
    many = sig(0, "auth", ("brute_force",), key="192.0.2.8", key_kind="client_ip")
    queue = sig(0, "queue", ("queue_growth",), key="mx1", key_kind="host")
    assert route(one) == ("sasl_username", ALICE)
    assert route(many) == ("host", "mx1")
    assert route(queue) == ("host", "mx1")


def test_a_four_address_brute_force_is_one_incident_for_the_login() -> None:
    """Issue 9: it gave 4 auth criticals plus one for the login."""
    stream = Stream()
    for n in range(40):
        for ip in ("203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"):
            stream.sasl_failure(at(n * 5 + int(ip[-1])), ip, "info@example.com")
    stream.sasl_failure(at(1800), "198.51.100.1")  # log time goes on: it resolves
    records = run_incidents(stream)
    assert [r.state for r in records] == ["opened", "resolved"], records
    assert len({r.id for r in records}) == 1
    final = records[-1]
    assert final.key == "info@example.com" and final.severity is Severity.WARNING
    assert len([f for f in final.findings if f.key_kind == "client_ip"]) == 4


def test_a_success_after_the_brute_force_escalates_the_same_incident() -> None:
    stream = Stream()
    for n in range(12):
        stream.sasl_failure(at(n), "203.0.113.9", "info@example.com")
    stream.login(at(30), "info@example.com", "203.0.113.9")
    records = run_incidents(stream)
    assert [r.state for r in records] == ["opened", "escalated"]
    assert records[-1].severity is Severity.CRITICAL
    assert records[-1].reason == "a login succeeded after failed attempts"


def test_incidents_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="update_every"):
        IncidentEngine.from_config(Config(data={"incidents": {"update_every": "soon"}}))
    with pytest.raises(ConfigError):
        IncidentEngine.from_config(Config(data={"incidents": {"update": "5m"}}))
    # 0 was quietly taken as 1: one finding kept, and the compromised account's facts with
    # the others, so the sample's critical incident read as a blocklisting warning
    with pytest.raises(ConfigError, match=r"^incidents\.max_findings: must be at least 1, got 0$"):
        IncidentEngine.from_config(Config(data={"incidents": {"max_findings": 0}}))


def test_the_json_form_reads_back() -> None:
    engine = IncidentEngine()
    (record,) = feed(engine, sig(0, evidence={"client_addresses": {"192.0.2.1": 3}}))
    data = record.to_json()
    assert data["schema"] == 2 and data["state"] == "opened"
    assert data["findings"][0]["facts"] == ["no_history", "volume"]
    assert Incident.from_json(data) == record
    assert record.state is IncidentState.OPENED


@pytest.mark.slow
def test_three_hosts_one_login_one_incident_and_no_later_one_from_retries() -> None:
    """Issue 9: with 3 hosts, deferred retries of the login's spam on other hosts 45 minutes
    after its sending stopped raised its addresses and bounces findings again."""
    start = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    streams = [
        synthlog.compromised_account(start, messages=700, duration=timedelta(minutes=30),
                                     host=host, lane=2, seed=5 + n)
        for n, host in enumerate(("mx1.example.com", "mx2.example.com", "mx3.example.com"))
    ]  # fmt: skip
    mix = synthlog.TrafficMix(rate=0.3, exclude=("monika.keller@example.com",))
    streams.append(synthlog.background(mix, start - timedelta(hours=1), start + timedelta(hours=3)))
    records: list[Incident] = []
    pipeline = Pipeline(Parser(), Correlator(), build_detectors(Config()), IncidentEngine(),
                        records.append)  # fmt: skip
    for line in synthlog.render(synthlog.merge(*streams), style="rfc3339"):
        pipeline.feed(line.encode())
    victim = [r for r in records if r.key == "monika.keller@example.com"]
    assert len({r.id for r in victim}) == 1, [(r.state, r.time, r.hosts) for r in victim]
    assert set(victim[-1].hosts) == {"mx1.example.com", "mx2.example.com", "mx3.example.com"}
    assert [r.state for r in victim].count("opened") == 1
    assert sum(r.state in ("opened", "escalated", "resolved") for r in victim) <= 5


# ---- a spray that succeeds becomes the login's incident ---------------------


def spray(seconds: float, count: int = 20) -> Signal:
    evidence = {"client_addresses": {"192.0.2.7": 2}, "usernames": {ALICE: 3}}
    return sig(seconds, "auth", ("spray",), key="mx1", key_kind="host", count=count,
               evidence=evidence)  # fmt: skip


def breach(seconds: float, continues: object = (("auth", "host", "mx1"),)) -> Signal:
    return sig(seconds, "auth", ("success_after_failures",), severity=Severity.CRITICAL,
               evidence={"logins_after_failures": {"192.0.2.7": 3},
                         "continues": [list(ref) for ref in continues]})  # type: ignore[union-attr]  # fmt: skip


def test_a_login_guessed_by_an_open_spray_absorbs_the_sprays_host_incident() -> None:
    """Issue 9 ("the incident samples raise one incident each"): the spray's early warning
    stays, then the breached login's incident carries the spray as evidence and the host
    incident ends, saying where it went."""
    engine = IncidentEngine()
    out = feed(engine, spray(0), spray(60, 30), breach(120))
    host, login = out[0], out[1]
    assert (host.state, host.key_kind, host.severity) == ("opened", "host", Severity.WARNING)
    assert (login.state, login.key, login.severity) == ("opened", ALICE, Severity.CRITICAL)
    assert {(f.detector, f.key_kind) for f in login.findings} == {
        ("auth", "host"), ("auth", "sasl_username")}  # fmt: skip
    assert login.first_seen == host.first_seen and "spray" in login.facts
    assert [(r.state, r.id, r.merged_into) for r in out[2:]] == [
        ("resolved", host.id, login.id)]  # fmt: skip
    assert out[2].findings and out[2].to_json()["merged_into"] == login.id
    assert Incident.from_json(out[2].to_json()) == out[2]
    assert "merged_into" not in login.to_json()  # only on the record that says it
    later = feed(engine, spray(500, 60))  # the spray goes on: the login's incident grows
    assert [(r.state, r.id) for r in later] == [("updated", login.id)]
    assert engine.open_keys() == [("sasl_username", ALICE)]
    done = engine.tick(t(4000))
    assert [(r.state, r.id) for r in done] == [("resolved", login.id)]


def test_a_spray_over_before_the_login_is_left_alone() -> None:
    engine = IncidentEngine()
    out = feed(engine, spray(0), breach(3000))
    assert [(r.state, r.key_kind) for r in out] == [
        ("opened", "host"), ("resolved", "host"), ("opened", "sasl_username")]  # fmt: skip
    assert all(r.merged_into is None for r in out)


def test_a_host_incident_with_other_findings_stays_open_without_the_spray() -> None:
    """Only the attack moves: the host's queue is not the login's business."""
    engine = IncidentEngine()
    queue = sig(30, "queue", ("queue_growth",), key="mx1", key_kind="host")
    out = feed(engine, spray(0), queue, breach(120))
    assert [r.state for r in out if r.key_kind == "host"] == ["opened"]
    (host,) = [i for i in engine.open_incidents() if i.key_kind == "host"]
    assert [f.detector for f in host.findings] == ["queue"]


def test_a_password_spray_then_a_guessed_login_is_one_incident_in_the_pipeline() -> None:
    """Through the real auth detector: 20 addresses spray, one of them logs in."""
    stream = Stream()
    attackers = [f"203.0.113.{n}" for n in range(1, 21)]
    names = [f"{n}@example.com" for n in ("info", "sales", "admin", "office", "test")]
    for n in range(60):
        stream.sasl_failure(at(n * 10), attackers[n % 20], names[n % 5])
    stream.login(at(700), "sales@example.com", attackers[3])
    stream.sasl_failure(at(4000), "198.51.100.1")  # log time goes on: it resolves
    records = run_incidents(stream)
    ids = {r.id for r in records if r.key_kind == "host"}
    (login_id,) = {r.id for r in records if r.key == "sales@example.com"}
    assert [(r.state, r.merged_into) for r in records if r.id in ids][-1] == (
        "resolved", login_id)  # fmt: skip
    final = [r for r in records if r.id == login_id][-1]
    spray_finding = next(f for f in final.findings if f.key_kind == "host")
    assert set(spray_finding.evidence["usernames"]) == set(names)
    assert attackers[3] in json.dumps(final.to_json())
    from spamwatch.report.summary import IncidentLog

    log = IncidentLog(keep_records=True)
    for record in records:
        log.add(record)
    assert [i.id for i in log.final()] == [login_id]  # report: one incident
    assert {r.id for r in log.records_of(log.final())} == ids | {login_id}  # --all-records


def test_a_spray_whose_addresses_also_brute_force_is_one_incident_with_the_login() -> None:
    """bench_incidents' distributed attack: 12 addresses spray and each of them fails more
    than ``per_address`` times (a brute-force finding per address, in the host incident), one
    logs in; then more addresses join the spray. The login's incident takes the spray and
    every address's finding; the host incident ends merged into it, and no new one opens
    for the addresses that brute-force after the guess."""
    stream = Stream()
    attackers = [f"203.0.113.{n}" for n in range(1, 19)]
    names = [f"{n}@example.com" for n in ("info", "sales", "admin", "office", "test", "hr")]
    for n in range(144):  # 12 addresses x 12 failures in 8 minutes
        stream.sasl_failure(at(n * 3.3), attackers[n % 12], names[n // 12 % 6])
    stream.login(at(500), "sales@example.com", attackers[3])
    for n in range(72):  # 6 more addresses x 12 failures after the guess
        stream.sasl_failure(at(520 + n * 4), attackers[12 + n % 6], names[n // 6 % 6])
    stream.sasl_failure(at(6000), "198.51.100.1")  # log time goes on: it resolves
    records = run_incidents(stream)
    assert {r.key for r in records} == {"sales@example.com", "mail.example.com"}
    (login_id,) = {r.id for r in records if r.key == "sales@example.com"}
    hosts = [r for r in records if r.key_kind == "host"]
    assert len({r.id for r in hosts}) == 1, [(r.state, r.time, r.summary) for r in hosts]
    assert (hosts[-1].state, hosts[-1].merged_into) == ("resolved", login_id)
    final = [r for r in records if r.id == login_id][-1]
    brute = {f.key for f in final.findings if f.key_kind == "client_ip"}
    assert brute == set(attackers), sorted(set(attackers) - brute)
    from spamwatch.report.summary import IncidentLog

    log = IncidentLog(keep_records=False)
    for record in records:
        log.add(record)
    assert [i.id for i in log.final()] == [login_id]
