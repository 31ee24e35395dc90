"""reputation: remote servers refusing our mail, citing a blocklist or a provider's reputation.

The replies are real ones (from public bounce reports and the corpus), written
into delivery lines as Postfix logs them and read through the real parser and
correlator (``spamwatch report``), so the reply text is cut where Postfix puts it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builders import Stream, at, raised, run
from click.testing import CliRunner

from spamwatch.cli import cli
from spamwatch.config import Config
from spamwatch.detectors import build_detectors
from spamwatch.detectors.blocklists import table
from spamwatch.detectors.reputation import ReputationDetector, listed_address, reply_text
from spamwatch.errors import ConfigError
from spamwatch.model import Severity

OUR_IP = "198.51.100.77"
REPLIES = {
    "Spamhaus ZEN": "554 5.7.1 Service unavailable; Client host [198.51.100.77] blocked using"
    " zen.spamhaus.org; https://www.spamhaus.org/query/ip/198.51.100.77",
    "Spamhaus SBL": "554 5.7.1 Service unavailable; Client host [198.51.100.77] blocked using"
    " sbl.spamhaus.org; https://www.spamhaus.org/sbl/query/SBL123456",
    "Spamhaus XBL": "550 5.7.1 Service unavailable; client [198.51.100.77] blocked using"
    " xbl.spamhaus.org",
    "Spamhaus CSS": "550 5.7.1 198.51.100.77 listed by Spamhaus CSS, see https://check.spamhaus.org/",
    "Barracuda": "554 Service unavailable; Client host [198.51.100.77] blocked using Barracuda"
    " Reputation; http://www.barracudanetworks.com/reputation/?pr=1&ip=198.51.100.77",
    "SpamCop": "550 5.7.1 Service unavailable; Client host [198.51.100.77] blocked using"
    " bl.spamcop.net; Blocked - see https://www.spamcop.net/bl.shtml?198.51.100.77",
    "UCEPROTECT": "550 5.7.1 Your IP 198.51.100.77 is listed in UCEPROTECT-Level1, see"
    " http://www.uceprotect.net/rblcheck.php?ipr=198.51.100.77",
    "Microsoft (Outlook.com block list, S3140)": "550 5.7.1 Unfortunately, messages from"
    " [198.51.100.77] weren't sent. Please contact your Internet service provider since part of"
    " their network is on our block list (S3140). You can also refer your provider to"
    " http://mail.live.com/mail/troubleshooting.aspx#errors."
    " [DM6NAM12FT056.eop-nam12.prod.protection.outlook.com]",
    "Microsoft 365 (banned sending IP, 5.7.606-649)": "550 5.7.606 Access denied, banned sending"
    " IP [198.51.100.77]. To request removal from this list please visit https://sender.office.com/"
    " and follow the directions. For more information please go to http://go.microsoft.com/"
    "fwlink/?LinkID=526655 AS(1430) [BN1NAM02FT012.eop-nam02.prod.protection.outlook.com]",
    "Gmail (unsolicited mail rate limit, 4.7.28)": "421-4.7.28 [198.51.100.77      15] Our system"
    " has detected an unusual rate of 421-4.7.28 unsolicited mail originating from your IP"
    " address. To protect our 421-4.7.28 users from spam, mail sent from your IP address has been"
    " temporarily 421-4.7.28 rate limited. Please visit 421-4.7.28"
    "  https://support.google.com/mail/?p=UnsolicitedRateLimitError to review our Bulk 421 4.7.28"
    " Email Senders Guidelines. a1si123 - gsmtp",
    "Gmail (likely unsolicited mail, 5.7.1)": "550-5.7.1 [198.51.100.77      12] Our system has"
    " detected that this 550-5.7.1 message is likely unsolicited mail. To reduce the amount of spam"
    " sent 550-5.7.1 to Gmail, this message has been blocked. Please visit 550-5.7.1"
    " http://support.google.com/mail/bin/answer.py?hl=en&answer=188131 for 550 5.7.1 more"
    " information. qc12si8475009pab.211 - gsmtp",
    "Yahoo (TSS04: volume or complaints)": "421 4.7.0 [TSS04] Messages from 198.51.100.77"
    " temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see"
    " https://postmaster.yahooinc.com/error-codes",
    "Yahoo (BL21: listed by Spamhaus)": "553 5.7.1 [BL21] Connections will not be accepted from"
    " 198.51.100.77, because the ip is in Spamhaus's list; see https://postmaster.yahooinc.com/"
    "error-codes",
    "GMX / web.de (United Internet block list)": "554-gmx.net (mxgmx104) Nemesis ESMTP Service"
    " not available 554-No SMTP service 554-IP address is block listed. 554 For explanation visit"
    " https://postmaster.gmx.net/en/case?c=r0201&i=ip&v=198.51.100.77&r=1MNcgj-1ue23t3pyV",
}
RELAY = "mx.provider.example[203.0.113.25]:25"


def delivery_log(replies: list[str], status: str = "bounced", login: str = "dave") -> str:
    """One message per reply, submitted by ``login``, refused with that reply."""
    lines = []
    for n, reply in enumerate(replies):
        qid = f"4A1B2C{n:04X}"
        t = f"2026-11-28T03:{n // 60:02d}:{n % 60:02d}+00:00"
        lines += [
            f"{t} mail postfix/submission/smtpd[10]: {qid}: client=unknown[203.0.113.{n % 200}],"
            f" sasl_method=PLAIN, sasl_username={login}",
            f"{t} mail postfix/qmgr[12]: {qid}: from=<x{n}@cheap.test>, size=900, nrcpt=1"
            " (queue active)",
            f"{t} mail postfix/smtp[13]: {qid}: to=<r{n}@dest{n % 4}.test>, relay={RELAY}, delay=1,"
            f" delays=0.1/0/0.5/0.4, dsn=5.7.1, status={status} (host mx.provider.example"
            f"[203.0.113.25] said: {reply} (in reply to RCPT TO command))",
            f"{t} mail postfix/qmgr[12]: {qid}: removed",
        ]
    return "\n".join(lines) + "\n"


def report(tmp_path: Path, text: str, config: str = "") -> list[dict]:
    """The findings inside the incidents ``report`` prints for ``text``."""
    log = tmp_path / "mail.log"
    log.write_text(text)
    conf = tmp_path / "c.toml"
    conf.write_text(config)
    result = CliRunner().invoke(
        cli,
        ["report", "--config", str(conf), "--format", "json", "--fail-on", "never", str(log)],
    )
    assert result.exit_code == 0, result.output
    incidents = [json.loads(line) for line in result.stdout.splitlines()]
    return [finding for incident in incidents for finding in incident["findings"]]


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_each_list_is_named_with_its_pages_and_our_address(tmp_path: Path, name: str) -> None:
    records = [
        r for r in report(tmp_path, delivery_log([REPLIES[name]])) if r["detector"] == "reputation"
    ]
    assert records, f"{name} not recognised"
    evidence = records[-1]["evidence"]
    assert list(evidence["lists"]) == [name]
    assert evidence["listed_addresses"] == {OUR_IP: 1}
    assert evidence["logins"] == {"dave": 1} and evidence["destinations"] == {"dest0.test": 1}
    assert name in evidence["pages"] and evidence["pages"][name]["lookup"].startswith("https://")
    assert records[-1]["key"] == "mail" and records[-1]["key_kind"] == "host"
    assert OUR_IP in records[-1]["summary"] and name.split(" (")[0] in records[-1]["summary"]


YAHOO = REPLIES["Yahoo (TSS04: volume or complaints)"]


def test_a_blocklist_is_critical_a_rate_limit_a_warning_until_it_piles_up() -> None:
    stream = Stream()
    for n in range(25):
        stream.submission(
            at(n * 10), "erin", "203.0.113.9", rcpts=[f"x{n}@yahoo.com"], status="deferred",
            reason=f"host mta5.am0.yahoodns.net[98.136.96.74] said: {YAHOO}",
        )  # fmt: skip
    records = [r for r in run(stream, only=("reputation",)) if r.detector == "reputation"]
    assert records[0].severity is Severity.WARNING
    assert max(r.severity for r in records) is Severity.CRITICAL  # 20 refusals
    assert records[0].evidence["logins"] == {"erin": 1}


def test_our_own_refusals_and_other_failures_are_not_reputation(tmp_path: Path) -> None:
    ours = (
        "2026-11-28T03:03:02+00:00 mail postfix/postscreen[22055]: NOQUEUE: reject: RCPT from"
        " [157.122.148.242]:47407: 550 5.7.1 Service unavailable; client [157.122.148.242]"
        " blocked using zen.spamhaus.org; from=<kos@mafia.network>, to=<z@example.com>,"
        " proto=ESMTP, helo=<XL>\n"
    )
    unknown_user = delivery_log(
        ["550 5.1.1 <r0@dest0.test>: Recipient address rejected: User unknown"]
    )
    records = report(tmp_path, ours + unknown_user)
    assert [r for r in records if r["detector"] == "reputation"] == []


def test_delivered_mail_and_a_content_filter_hop_are_ignored() -> None:
    stream = Stream()
    for n in range(5):
        stream.submission(
            at(n), "dave", "203.0.113.9", status="sent", reason=REPLIES["Spamhaus ZEN"]
        )
        stream.submission(
            at(n), "dave", "203.0.113.9", status="deferred", reason=REPLIES["Spamhaus ZEN"],
            relay="127.0.0.1[127.0.0.1]:10024",
        )  # fmt: skip
    assert raised(run(stream, only=("reputation",))) == []


def test_no_address_in_the_reply_names_the_host_and_several_logins_stand_alone(
    tmp_path: Path,
) -> None:
    text = delivery_log(["554 5.7.1 Rejected: listed at b.barracudacentral.org"], login="dave")
    text += delivery_log(
        ["554 5.7.1 Rejected: listed at b.barracudacentral.org"], login="erin"
    ).replace("4A1B2C0000", "4A1B2C0100")
    records = [r for r in report(tmp_path, text) if r["detector"] == "reputation"]
    last = records[-1]
    assert last["evidence"]["listed_addresses"] == {"mail": 2}
    assert set(last["evidence"]["logins"]) == {"dave", "erin"}
    assert last["summary"].startswith("mail cited by Barracuda: 2 refusals")


def test_an_unknown_dnsbl_is_named_by_its_zone(tmp_path: Path) -> None:
    reply = (
        "554 5.7.1 Service unavailable; Client host [198.51.100.77] blocked using bl.mailspike.net"
    )
    records = [r for r in report(tmp_path, delivery_log([reply])) if r["detector"] == "reputation"]
    assert list(records[-1]["evidence"]["lists"]) == ["bl.mailspike.net"]
    assert records[-1]["severity"] == "warning"


def test_the_table_is_extended_and_changed_in_the_config(tmp_path: Path) -> None:
    config = """
[detectors.reputation.lists.mailspike]
name = "Mailspike"
pattern = 'mailspike\\.net'
severity = "critical"
lookup = "https://mailspike.io/ip_verify?ip={ip}"
[detectors.reputation.lists.spamcop]
enabled = false
"""
    reply = "554 5.7.1 Client host [198.51.100.77] blocked using bl.mailspike.net"
    text = delivery_log([reply, REPLIES["SpamCop"]])
    records = [r for r in report(tmp_path, text, config) if r["detector"] == "reputation"]
    evidence = records[-1]["evidence"]
    assert list(evidence["lists"]) == ["Mailspike", "bl.spamcop.net"]  # spamcop: the catch-all
    assert evidence["pages"]["Mailspike"]["lookup"] == f"https://mailspike.io/ip_verify?ip={OUR_IP}"
    assert records[0]["severity"] == "critical"


@pytest.mark.parametrize(
    ("lists", "message"),
    [
        ({"x": {"pattern": "("}}, "lists.x.pattern: not a regular expression"),
        ({"x": {"name": "X"}}, "lists.x.pattern: a new list needs a pattern"),
        ({"x": {"pattern": "x", "severity": "dire"}}, "lists.x.severity: unknown severity"),
        ({"x": {"pattern": "x", "colour": "red"}}, "lists.x.colour: unknown key"),
        ({"x": {"pattern": 5}}, "lists.x.pattern: expected a string"),
        ({"x": "spamhaus"}, "lists.x: expected a table"),
    ],
)
def test_a_bad_list_entry_names_itself(lists: dict, message: str) -> None:
    with pytest.raises(ConfigError, match="detectors.reputation: " + message):
        build_detectors(Config({"detectors": {"reputation": {"lists": lists}}}))


def test_reply_text_and_listed_address() -> None:
    gmail = REPLIES["Gmail (likely unsolicited mail, 5.7.1)"]
    reason = f"host mx[203.0.113.25] said: {gmail} (in reply to end of DATA command)"
    text = reply_text(reason)
    assert "550-5.7.1" not in text and "203.0.113.25" not in text
    assert "message is likely unsolicited mail" in text
    assert listed_address(text) == OUR_IP
    assert listed_address("[10.0.0.5] blocked, see 192.168.1.1 and 127.0.0.1") is None
    assert listed_address("blocked 2001:db8::25 at 03:12:05") == "2001:db8::25"


def test_the_built_in_table_order_keeps_providers_before_lists() -> None:
    entries = table({})
    keys = [e.key for e in entries]
    assert keys.index("yahoo_bl") < keys.index("spamhaus_zen") and keys[-1] == "dnsbl"
    detector = ReputationDetector()
    for name, reply in REPLIES.items():
        found = detector.match(reply_text(f"host x[203.0.113.1] said: {reply}"))
        assert found is not None and found.name == name, (name, found)


def incidents_of(tmp_path: Path, text: str) -> list[dict]:
    """The incidents ``report`` prints for ``text`` (JSON Lines, one per incident)."""
    log = tmp_path / "mail.log"
    log.write_text(text)
    result = CliRunner().invoke(
        cli, ["report", "--no-db", "--format", "json", "--fail-on", "never", str(log)]
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_it_joins_the_incident_of_the_login_refused_else_stands_on_its_own(
    tmp_path: Path,
) -> None:
    """Issue 10 §2: the account whose mail triggered it owns it; no account to blame (mail
    submitted without a SASL login), the host's own incident."""
    zen = REPLIES["Spamhaus ZEN"]
    owned = incidents_of(tmp_path, delivery_log([zen] * 3, login="dave"))
    (owner,) = [i for i in owned if any(f["detector"] == "reputation" for f in i["findings"])]
    assert (owner["key_kind"], owner["key"]) == ("sasl_username", "dave")
    local = delivery_log([zen] * 3, login="x").replace(", sasl_method=PLAIN, sasl_username=x", "")
    (alone,) = incidents_of(tmp_path, local)
    assert (alone["key_kind"], alone["key"]) == ("host", "mail")
    assert [f["detector"] for f in alone["findings"]] == ["reputation"]
    assert alone["severity"] == "warning"  # README severity table: blocklisted alone
