"""The real-world corpus (tests/data/corpus, a copy of the team's ../shared/corpus):
every line counted, and agreement with what other parsers' test suites expect
of the same lines.

Each ``*.expected.jsonl`` uses its source's own field names; a mapper per
source turns a record into ``{our key: their value}`` (our key is an Event
attribute, a field, or one of the derived views in ``ours``). Keys a source
has that spamwatch does not extract are counted as "not compared" and shown.
Run with ``-s`` to see the agreement table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from spamwatch.model import Event
from spamwatch.parse import ParseOptions, Parser

Facts = dict[str, Any]
LEVELS = ("warning", "error", "fatal", "panic")

KNOWN_WRONG: dict[tuple[str, str, str], str] = {
    # (source, start of the line's message, our key): why the source's value is wrong.
    ("crowdsec-hub", "NOQUEUE: reject: RCPT from unknown[192.168.1.1]: 454", "helo"): (
        "crowdsec's grok takes the '<address>:' before the reason for the HELO name; "
        "the line says helo=<WIN-CLJ1B0GQ6JP>"
    ),
    ("crowdsec-hub", "NOQUEUE: reject: RCPT from static.1.1.168.192", "helo"): (
        "same crowdsec grok slip: '<spameri@tiscali.it>' is the recipient, helo=<WIN-CLJ1B0GQ6JP>"
    ),
    ("msimerson-postfix-parser", "3mLQKH6hqhz7sWK: to=<logspam", "status_full"): (
        "msimerson reports status 'forwarded'; Postfix logged status=sent (forwarded as ...)"
    ),
    ("msimerson-postfix-parser", "to=<logspam@system.alerts>", "status_full"): (
        "msimerson reports status 'forwarded'; Postfix logged status=sent (forwarded as ...)"
    ),
}
"""Source values judged wrong after reading the line; everything else must agree."""

NOT_EXTRACTED: dict[tuple[str, str, str], str] = {
    ("msimerson-postfix-parser", "fatal: append file defer", "queue_id"): (
        "a queue id inside the text of a fatal error is not read as the line's queue id"
    ),
}
"""Values a source reads that spamwatch deliberately does not extract."""


def options() -> ParseOptions:
    return ParseOptions(anchor=datetime(2026, 11, 28, tzinfo=UTC), timezone=UTC)


# --- our side: attributes, fields and derived views ------------------------------------


def ours(event: Event, key: str) -> Any:
    """Our value for ``key``, or None when spamwatch has none for this line."""
    f = event.fields
    if key in ("queue_id", "host", "program", "daemon", "pid", "kind"):
        return getattr(event, key)
    if key == "md_time":
        return event.time.strftime("%m-%dT%H:%M:%S")
    if key == "mdhms":
        return event.time.strftime("%m%d%H%M%S")
    if key == "client":
        return f"{f['client_name']}[{f['client_ip']}]" if "client_ip" in f else None
    if key == "queue_id_or_noqueue":
        return event.queue_id or "NOQUEUE"
    if key == "status_full":
        if event.kind == "expired":
            return f"{f['status']}, returned to sender"
        if "status" not in f:
            return None
        return f"{f['status']} ({f['reason']})" if f.get("reason") else f["status"]
    if key == "reason_text":  # the reason without a leading "<address>: "
        reason = f.get("reason")
        if reason and reason.startswith("<") and ">: " in reason:
            return reason.split(">: ", 1)[1]
        return reason
    if key in ("relay_host", "relay_ip", "relay_port"):
        return relay_part(f.get("relay"), key)
    if key == "level":
        if event.kind in LEVELS:
            return event.kind
        return {"sasl_failure": "warning", "content": f.get("action")}.get(event.kind)
    if key == "decoder":
        return "postfix-reject" if event.kind == "reject" else "postfix"
    return f.get(key)


def relay_part(relay: str | None, key: str) -> str | None:
    """``host[ip]:port`` -> one of its parts."""
    if not relay or "[" not in relay:
        return None
    host, _, rest = relay.partition("[")
    ip, _, port = rest.partition("]")
    return {"relay_host": host, "relay_ip": ip, "relay_port": port.lstrip(":") or None}[key]


def same(mine: Any, theirs: Any) -> bool:
    if isinstance(mine, int | float) and not isinstance(mine, bool):
        try:
            return float(theirs) == float(mine)
        except (TypeError, ValueError):
            return False
    return str(mine) == str(theirs)


# --- their side: one mapper per source ------------------------------------------------


def flat(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        if isinstance(value, dict):
            yield from flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def rename(record: dict[str, Any], names: dict[str, str | None]) -> tuple[Facts, list[str]]:
    """Their keys -> ours by ``names`` (None = known not comparable); others are unmapped."""
    facts: Facts = {}
    unmapped = []
    for key, value in flat(record):
        if key not in names:
            unmapped.append(key)
        elif names[key] is not None and value is not None:
            facts[names[key]] = value  # type: ignore[index]
    return facts, unmapped


CROWDSEC = {
    "Parsed.remote_addr": "client_ip", "Parsed.remote_host": "client_name",
    "Parsed.program": "program", "Parsed.pid": "pid", "Meta.machine": "host",
    "Parsed.smtp_basic_status_code": "code", "Parsed.smtp_enhanced_status_code": "dsn",
    "Parsed.helo": "helo", "Parsed.action": "action", "Parsed.reason": "reason_text",
    "Parsed.port": "client_port", "Parsed.pregreet": "verdict",
    "Meta.source_ip": "client_ip", "Meta.source_hostname": "client_name",
    "Meta.action": "action",
}  # fmt: skip


def crowdsec(record: dict[str, Any], event: Event) -> tuple[Facts, list[str]]:
    fields = record["fields"]
    facts, unmapped = rename({k: v for k, v in fields.items() if k != "Success"}, CROWDSEC)
    parsed = fields["Parsed"]
    if "message_failure" in parsed:
        facts["reason"] = parsed["message_failure"].strip()
        unmapped.remove("Parsed.message_failure")
    if "command" in parsed and event.kind == "reject":
        facts["stage"] = parsed["command"]
        unmapped.remove("Parsed.command")
    return facts, unmapped


DATADOG = {
    "custom.postfix.client_id": "queue_id", "custom.system.process": "program",
    "custom.system.user": "host", "custom.pid": "pid", "custom.properties.from": "from",
    "custom.properties.nrcpt": "nrcpt", "custom.network.bytes_written": "size",
    "custom.properties.to": "to", "custom.properties.dsn": "dsn",
    "custom.properties.status": "status", "custom.properties.delay": "delay",
    "custom.network.client.ip": "client_ip", "custom.postfix.hostname": "client_name",
    "custom.message-id": "message_id",
}  # fmt: skip


def datadog(record: dict[str, Any], event: Event) -> tuple[Facts, list[str]]:
    return rename(record["fields"], DATADOG)


def fail2ban(record: dict[str, Any], event: Event) -> tuple[Facts, list[str]]:
    fields = record["fields"]
    if not fields.get("match"):
        return {}, []  # "no ban" claims nothing about the line's fields
    facts: Facts = {}
    if "host" in fields:
        facts["client_ip"] = fields["host"]
    if "user" in fields:
        facts["sasl_username"] = fields["user"]
    if "time" in fields:  # fail2ban writes "2005-03-7T02:09:33"
        when = datetime.strptime(fields["time"], "%Y-%m-%dT%H:%M:%S")
        facts["md_time"] = when.strftime("%m-%dT%H:%M:%S")
    return facts, []


def homoluctus(record: dict[str, Any], event: Event) -> tuple[Facts, list[str]]:
    names = {
        "mail_id": "queue_id", "to_address": "to", "relay": "relay", "delay": "delay",
        "delays": "delays", "dsn": "dsn", "status": "status", "description": "reason",
    }  # fmt: skip
    facts, unmapped = rename(record["fields"], {**names, "datetime": None})
    facts["mdhms"] = record["fields"]["datetime"][4:]
    return facts, unmapped


MSIMERSON = {
    "qid": "queue_id", "to": "to", "relay": "relay", "delay": "delay", "delays": "delays",
    "dsn": "dsn", "status": "status_full", "conn_use": "conn_use", "from": "from",
    "size": "size", "nrcpt": "nrcpt", "message-id": "message_id",
    "resent-message-id": "resent_message_id", "uid": "uid", "orig_to": "orig_to",
    "dsnQid": "new_queue_id", "sasl_method": "sasl_method", "sasl_username": "sasl_username",
    "client": "client", "prog": "program", "pid": "pid", "forwardedAs": "forwarded_as",
    "host": "host", "date": None, "msg": None, "action": None, "mx": None, "err": None,
    "statistics": None, "postscreen": None,
}  # fmt: skip


def msimerson(record: dict[str, Any], event: Event) -> tuple[Facts, list[str]]:
    names = dict(MSIMERSON)
    if record.get("type") not in (None, "syslog"):
        names["host"] = None  # in a bare body "host" is the remote server of a "said:" line
    return rename(record["fields"], names)


def decoder(record: dict[str, Any], event: Event) -> tuple[Facts, list[str]]:
    """ossec/wazuh rules: only the decoder name says something about the line."""
    return {"decoder": record["fields"]["decoder"]}, []


GROK = {
    "postfix_queueid": "queue_id", "postfix_client_ip": "client_ip",
    "postfix_client_hostname": "client_name", "postfix_client_port": "client_port",
    "postfix_status": "status", "postfix_action": "action", "postfix_status_code": "code",
    "postfix_status_code_enhanced": "dsn", "postfix_from": "from",
    "postfix_message-id": "message_id", "postfix_bounce_queueid": "new_queue_id",
    "postfix_anvil_conn_rate": "value", "postfix_anvil_conn_count": "value",
    "postfix_anvil_cache_size": "value", "postfix_anvil_conn_period": "period",
    "postfix_service": "service", "postfix_anvil_timestamp": "at",
    "postfix_postscreen_dnsbl_rank": "rank", "postfix_postsuper_summary_count": "count",
    "postfix_relay_hostname": "relay_host", "postfix_relay_ip": "relay_ip",
    "postfix_relay_port": "relay_port", "postfix_message_level": "level",
}  # fmt: skip
POSTSUPER_WORDS = {
    "removed": "removed", "requeued": "requeued", "placed on hold": "held",
    "released from hold": "released", "Deleted": "deleted", "Requeued": "requeued",
    "Placed on hold": "held", "Released from hold": "released",
}  # fmt: skip
GROK_FRAGMENTS = ("COMMAND_COUNTER_DATA", "DELAYS", "RELAY", "TLS_FEATURES")
"""Patterns for parts of a line, not whole message bodies: nothing to compare."""


def grok(record: dict[str, Any], event: Event) -> tuple[Facts, list[str]]:
    fields = dict(record["fields"] or {})
    facts: Facts = {}
    stage = fields.pop("postfix_smtp_stage", None)
    if stage is not None and event.kind == "reject":
        facts["stage"] = stage
    elif stage is not None and event.kind in ("lost_connection", "timeout", "postscreen"):
        facts["after"] = stage
    elif stage is not None:  # "(in reply to end of DATA command)" of a server reply
        fields["postfix_smtp_stage (of a server reply)"] = stage
    if fields.get("postfix_queueid") == "NOQUEUE":
        facts["queue_id_or_noqueue"] = fields.pop("postfix_queueid")
    for key in ("postfix_postsuper_action", "postfix_postsuper_summary_action"):
        if key in fields:
            facts["action"] = POSTSUPER_WORDS[fields.pop(key)]
    mapped, unmapped = rename(fields, GROK)
    return {**mapped, **facts}, unmapped


def grok_program(record: dict[str, Any]) -> str | None:
    name = record["pattern"].split("POSTFIX_", 1)[1].split("}", 1)[0]
    if name in GROK_FRAGMENTS:
        return None
    daemon = "postfix-script" if name == "SCRIPT" else name.lower().replace("_", "-")
    return f"postfix/{daemon}"


Mapper = Callable[[dict[str, Any], Event], tuple[Facts, list[str]]]
MAPPERS: dict[str, Mapper] = {
    "crowdsec-hub": crowdsec,
    "datadog-integrations-core": datadog,
    "fail2ban": fail2ban,
    "homoluctus-maillogger": homoluctus,
    "msimerson-postfix-parser": msimerson,
    "ossec-hids": decoder,
    "wazuh-ruleset": decoder,
    "postfix-grok-patterns": grok,
}


def full_line(source: str, record: dict[str, Any]) -> str | None:
    """The line to parse: bare message bodies get the header their source implies."""
    if source == "postfix-grok-patterns":
        program = grok_program(record)
        return None if program is None else f"Jan  1 00:00:00 corpus {program}[1]: {record['line']}"
    kind = record.get("type")
    if source == "msimerson-postfix-parser" and kind not in (None, "syslog"):
        return f"Jan  1 00:00:00 corpus {kind}[1]: {record['line']}"
    return record["line"]


# --- the comparison ---------------------------------------------------------------------


@dataclass
class Tally:
    records: int = 0
    compared: int = 0
    agreed: int = 0
    known_wrong: int = 0
    not_compared: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def row(self, source: str) -> str:
        skipped = ", ".join(f"{k}x{n}" for k, n in sorted(self.not_compared.items()))
        return (
            f"{source:28} records={self.records:4} values={self.compared:4} "
            f"agree={self.agreed:4} known-wrong={self.known_wrong} "
            f"disagree={len(self.failures)}" + (f"  [not extracted: {skipped}]" if skipped else "")
        )


def listed(table: dict[tuple[str, str, str], str], source: str, line: str, key: str) -> bool:
    """Is (source, line, key) in an exception table (keyed by the message's start)?"""
    body = line.split("]: ", 1)[-1]
    return any(
        s == source and k == key and (body.startswith(start) or line.startswith(start))
        for (s, start, k) in table
    )


def compare_source(source: str, path: Path) -> Tally:
    tally = Tally()
    mapper = MAPPERS[source]
    for raw in path.read_text().splitlines():
        record = json.loads(raw)
        tally.records += 1
        line = full_line(source, record)
        if line is None or record["fields"] is None:
            continue
        event = Parser(options()).parse(line.encode())
        if event is None:
            tally.failures.append(f"not an event: {line[:120]}")
            continue
        facts, unmapped = mapper(record, event)
        for key in unmapped:
            tally.not_compared[key] = tally.not_compared.get(key, 0) + 1
        for key, theirs in facts.items():
            mine = ours(event, key)
            tally.compared += 1
            ok = mine is not None and (
                same(mine, theirs)
                or (source == "postfix-grok-patterns" and str(theirs) in str(mine))
            )  # grok's own tests check "contained in the capture"
            if ok:
                tally.agreed += 1
            elif listed(KNOWN_WRONG, source, line, key):
                tally.known_wrong += 1
            elif mine is None and listed(NOT_EXTRACTED, source, line, key):
                tally.not_compared[key] = tally.not_compared.get(key, 0) + 1
            else:
                tally.failures.append(f"{key}: ours {mine!r}, theirs {theirs!r} in {line[:140]}")
    return tally


def test_every_corpus_line_is_an_event_or_counted(corpus_dir: Path) -> None:
    logs = sorted(corpus_dir.glob("*.log"))
    assert logs, f"no *.log in {corpus_dir}"
    total = Parser(options())
    for path in logs:
        parser = Parser(options())
        total.begin_source(None)
        for line in path.read_bytes().split(b"\n"):
            if not line:
                continue
            for p in (parser, total):
                p.parse(line)
            why = parser.explain(line).reason
            assert "internal parser error" not in why, f"{path.name}: {line[:120]!r}"
        s = parser.stats
        assert s.lines == s.events + s.non_postfix + s.unrecognised + s.malformed + s.skipped
        print(
            f"{path.name:48} lines={s.lines:5} events={s.events:5} non_postfix={s.non_postfix:3} "
            f"unrecognised={s.unrecognised:2} malformed={s.malformed:3}"
        )
    s = total.stats
    assert s.lines == s.events + s.non_postfix + s.unrecognised + s.malformed
    assert s.lines >= 3000
    assert s.unrecognised <= 10, "only cut or deliberately broken lines may be unrecognised"


def test_expected_fields_agree_with_each_source(corpus_dir: Path) -> None:
    rows, failures = [], []
    for path in sorted(corpus_dir.glob("*.expected.jsonl")):
        source = path.name.removesuffix(".expected.jsonl")
        tally = compare_source(source, path)
        rows.append(tally.row(source))
        failures += [f"{source}: {f}" for f in tally.failures]
        assert tally.records > 0
    table = "\n".join(rows)
    print("\n" + table)
    assert not failures, table + "\n" + "\n".join(failures)


ZENTYAL_LINE_FACTS = {
    "client_host_ip": ("client", ("client_ip",)),
    "client_host_name": ("client", ("client_name",)),
    "from_address": ("queued", ("from",)),
    "message_id": ("message_id", ("message_id",)),
    "message_size": ("queued", ("size",)),
    "to_address": ("delivery", ("to", "orig_to")),  # zentyal names an alias's address
    "relay": ("delivery", ("relay",)),
}
"""Message-level facts that one line states (the correlator test checks the rest)."""


def test_zentyal_cases_per_line_facts(corpus_dir: Path) -> None:
    checked = 0
    problems = []
    for raw in (corpus_dir / "zentyal.cases.jsonl").read_text().splitlines():
        case = json.loads(raw)
        parser = Parser(options())
        events = [e for e in (parser.parse(line.encode()) for line in case["lines"]) if e]
        s = parser.stats
        assert s.lines == s.events + s.non_postfix + s.unrecognised + s.malformed
        for key, (kind, names) in ZENTYAL_LINE_FACTS.items():
            want = case["fields"].get(key)
            if want is None:
                continue
            values = [e.fields.get(name) for e in events if e.kind == kind for name in names]
            if not values:
                continue  # e.g. a NOQUEUE reject has no client= line
            checked += 1
            if not any(same(v, want) for v in values if v is not None):
                problems.append(f"{case['name']}: {key}={want!r}, {kind}.{names} in {values!r}")
    print(f"\nzentyal: {checked} per-line facts checked")
    assert checked >= 80
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("source", sorted(MAPPERS))
def test_every_source_with_expectations_has_a_mapper(corpus_dir: Path, source: str) -> None:
    assert (corpus_dir / f"{source}.expected.jsonl").is_file()


def test_the_bundled_corpus_is_in_step_with_the_shared_one() -> None:
    """tests/data/corpus is a copy of ../shared/corpus: same files, same bytes.

    The copy makes the suite whole on a fresh clone; when the master copy is
    beside the checkout (the team's machines, CI) a line added there and not
    here, or the other way round, fails. Refresh: ``cp ../shared/corpus/*
    tests/data/corpus/``.
    """
    from tests.conftest import ROOT, SHARED_CORPUS

    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"no shared corpus at {SHARED_CORPUS} to compare with")
    bundled = ROOT / "tests" / "data" / "corpus"
    theirs = {p.name: p.read_bytes() for p in SHARED_CORPUS.iterdir() if p.is_file()}
    ours = {p.name: p.read_bytes() for p in bundled.iterdir() if p.is_file()}
    assert sorted(ours) == sorted(theirs)
    changed = sorted(name for name in theirs if ours[name] != theirs[name])
    assert not changed, f"differ from {SHARED_CORPUS}: {changed}"
    assert "SOURCES.md" in ours  # the origins and licences travel with the lines
