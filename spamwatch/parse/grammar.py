"""The message grammar of Postfix log lines: text after ``prog[pid]: `` -> kind + fields.

``classify(daemon, text, want)`` returns ``(kind, queue_id, fields)`` for a
recognised line, or a string saying why a line that looked like a known form
did not parse (the parser counts it as unrecognised). Text that matches no
known form is a ``generic`` event: Postfix writes many informational lines
nobody needs to understand, and they must not be counted as failures.

Speed matters (a mail log has millions of lines): dispatch is on the daemon,
then on fixed message prefixes; regexes run only once the prefix says which
one applies, and when ``want`` (the kinds the caller uses) excludes the kind,
the fields are never extracted (``fields`` is then None).

The kinds and their fields are documented in ``spamwatch.parse.kinds``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

Fields = dict[str, Any]
Classified = tuple[str, str | None, Fields | None]
Result = Classified | str
Handler = Callable[[str, "str | None", "Collection[str] | None"], Result]

QUEUE_ID_FORM = r"[0-9A-F]{5,32}(?:X+)?|(?=[A-Za-z]*+\d)[0-9A-Za-z]{5,32}"
"""A Postfix queue id: short (hex, ``X`` appended by some tools) or long
(``enable_long_queue_ids``). Long ids always hold a digit; requiring one keeps
words such as "warning:" or "statistics:" from being taken for a queue id.
The one definition: ``header.QID`` and the parser's scan are built from it.
"Holds a digit" is written as "its letters are followed by a digit", the
same condition, with the letters taken possessively (``*+``): a word of the
log's text that is no queue id fails at once instead of the regex engine
trying each shorter run of it; the scan runs this at each of the two ``": "``
a line holds on average (12% off the scan)."""

QUEUE_ID = re.compile(f"({QUEUE_ID_FORM}): ")
"""A queue id at the start of a message text, then ``": "``."""

CLIENT = r"(?P<name>[^\s\[\]]*)\[(?P<ip>[^\[\]\s]*)\](?::(?P<port>\d+))?"
CLIENT_RE = re.compile(CLIENT)
PEER = re.compile(r"(?<![^\s\[\]])([^\s\[\]]*)\[((?:IPv6:)?[0-9A-Fa-f.:]+)\](?::(\d+))?")
"""Any ``host[ip]`` inside free text (warnings, generic lines): the peer.

The look-behind starts a try only where a name can start (after a space or a
bracket): a try from inside a name finds what the try from its start found,
and scanning a 64 KB word again from each of its letters cost 44 s. Whatever
a search finds, it finds the same match as without the look-behind."""
UNRESOLVED = re.compile(r"hostname (\S+) does not resolve to address ([0-9A-Fa-f.:]*[0-9A-Fa-f])")
SERVER_FACING = frozenset({"smtp", "lmtp"})
TEXT_KINDS = frozenset({"generic", "warning", "error", "fatal", "panic"})

CONNECT = re.compile(CLIENT + r"\s*$")
DISCONNECT = re.compile(CLIENT + r"(?: (?P<commands>.*))?$")
CLIENT_KV = re.compile(r", (\w+)=([^,]*)")
SESSION_END = re.compile(r"(?P<after>.+?) from " + CLIENT)
SASL_FAIL = re.compile(
    CLIENT + r": SASL (?P<method>\S+) authentication failed:?(?P<reason>.*?)"
    r"(?:, sasl_username=(?P<user>.*))?$"
)
REJECT = re.compile(r"(?P<stage>[A-Za-z-]+)(?: from " + CLIENT + r")?: (?P<rest>.*)")
SMTP_CODE = re.compile(r"(?:(\d{3})[ -])?(?:(\d\.\d{1,3}\.\d{1,3})\s)?")
ENVELOPE_KEY = re.compile(r"(from|to|proto|helo)=")
BARE_VALUE = re.compile(r"[^\s,;]*")
CONTENT = re.compile(
    r"(?P<part>header|body) (?P<text>.*) from (?:"
    + CLIENT
    + r"|(?P<local>local)); (?P<env>from=.*?)(?:: (?P<reason>.*))?$"
)
DELIVERY = re.compile(
    r"(?:(?=(?s:.*)\)\s*$)(?P<closed>))?"
    r"to=(?:<(?P<to>[^>]*)>|(?P<to2>[^\s,<>]*)), (?P<kv>(?:\w+=[^,]*, )*?)"
    r"status=(?P<status>[\w-]+)(?(closed) \((?P<reason>.*)\)|(?!))?\s*$"
)
"""``to=<r>, key=value, ..., status=S (reason)``.

A ``(reason)`` can only close where the line ends in ``)``; ``closed`` says so,
looked at once. Without it, each ``status=`` word among the keys made ``.*``
run to the end of the line and back (``status=x (`` 4,000 times: quadratic).
It matches what the pattern without ``closed`` matches."""
KV = re.compile(r"(\w+)=([^,]*), ")
USUAL_DELIVERY = re.compile(
    r"to=<([^>]*)>, (?:orig_to=([^,]*), )?relay=([^,]*), (?:conn_use=(\d+), )?"
    r"delay=(\d+(?:\.\d+)?), delays=([^,]*), dsn=([^,]*), status=([\w-]+) \((.*)\)$"
)
"""The delivery line as Postfix writes it (keys in this order, a reason in
parentheses): one regex instead of ``DELIVERY`` and a loop over ``KV``. Whatever
it matches, the general path reads the same way (``[^,]*`` values end at the
same commas); any other form takes the general path."""
QUEUED = re.compile(
    r"from=(?:<(?P<from>.*?)>|(?P<from2>[^\s,]*)), size=(?P<size>\d+), "
    r"nrcpt=(?P<nrcpt>\d+) \(queue active\)"
)
EXPIRED = re.compile(
    r"from=(?:<(?P<from>.*?)>|(?P<from2>[^\s,]*)), status=(?P<status>(?:force-)?expired), "
    r"returned to sender"
)
PICKUP = re.compile(r"uid=(?P<uid>\d+) from=(?:<(?P<from>.*?)>|(?P<from2>\S*))\s*$")
NOTIFICATION = re.compile(
    r"(?P<who>sender|postmaster) (?P<notice>.+?) notification\w*: (?P<new>[0-9A-Za-z]+)\s*$"
)
POSTSUPER_TOTAL = re.compile(
    r"(?P<action>Deleted|Placed on hold|Released from hold|Requeued|Expired): "
    r"(?P<count>\d+) messages?"
)
ANVIL = re.compile(
    r"statistics: max (?P<stat>[a-z]+(?: [a-z]+)*) (?P<value>\d+)(?:/(?P<period>\w+))?"
    r"(?: for \((?P<ident>[^()]*)\))? at (?P<at>.*)$"
)
VERDICT = re.compile(r"([A-Z][A-Z-]*(?: [A-Z][A-Z-]*)*)\b")
POSTSCREEN_CLIENT = re.compile(r"(?<![^\]\s])[^\]\s\[]*\[(?P<ip>[^\]\s]*)\]:(?P<port>\d+)")
"""``[ip]:port``; the ip may hold ``[``, so a search for ``[`` alone rescanned
the rest of the word from each of them (``[[[[...``: quadratic). This tries
once per word, from its first ``[``: the same groups and end."""
QUEUED_AS = re.compile(r"\bqueued as ([0-9A-Za-z]+)")

LEVELS = ("warning", "error", "fatal", "panic")
REJECT_ACTIONS = frozenset(
    ("reject", "reject_warning", "milter-reject", "milter-discard", "milter-hold",
     "milter-redirect", "discard", "hold", "redirect", "filter", "warn", "proxy-reject")
)  # fmt: skip
"""Actions on a whole transaction (the ``reject`` kind)."""
CONTENT_ACTIONS = ("warning", "info", "prepend", "replace", "ignore", "bcc", "strip",
                   "milter-header-redirect")  # fmt: skip
"""Actions that only appear with ``header``/``body`` (the ``content`` kind);
a reject action on a header or body is a ``content`` event too."""
ACTION = re.compile(
    "(" + "|".join(sorted(REJECT_ACTIONS.union(CONTENT_ACTIONS), key=len, reverse=True)) + "): "
)
POSTSUPER_ACTIONS = {
    "removed": "removed",
    "placed on hold": "held",
    "released from hold": "released",
    "requeued": "requeued",
    "expired": "expired",
    "Deleted": "deleted",
    "Placed on hold": "held",
    "Released from hold": "released",
    "Requeued": "requeued",
    "Expired": "expired",
}
VERDICT_WITH_TEXT = ("DATA without valid RCPT", "BDAT without valid RCPT")


def classify(daemon: str, text: str, want: Collection[str] | None = None) -> Result:
    """Recognise one message body of a Postfix ``daemon``; see module doc."""
    qid: str | None = None
    m = QUEUE_ID.match(text)
    if m is not None:
        qid = m.group(1)
        text = text[m.end() :]
    return classify_body(daemon, text, qid, want)


def classify_body(
    daemon: str, text: str, qid: str | None, want: Collection[str] | None = None
) -> Result:
    """``classify`` once the queue id is cut off (the parser's header regex
    reads it together with the header, which saves a regex per line)."""
    if qid is None and text.startswith("NOQUEUE: "):
        text = text[9:]
    result = HANDLERS.get(daemon, common)(text, qid, want)
    if result.__class__ is tuple and result[0] in TEXT_KINDS and result[2] is not None:
        add_peer(daemon, result[2])  # type: ignore[arg-type]
    return result


SURE_PREFIXES: dict[str, tuple[tuple[bytes, str], ...]] = {
    "smtpd": (
        (b"connect from ", "connect"), (b"disconnect from ", "disconnect"),
        (b"lost connection after ", "lost_connection"), (b"timeout after ", "timeout"),
        (b"Anonymous TLS connection established from ", "generic"),
        (b"setting up TLS connection from ", "generic"),
        (b"improper command pipelining after ", "generic"),
        (b"too many errors after ", "generic"),
    ),
    "postscreen": tuple(
        (verdict, "postscreen")
        for verdict in (b"CONNECT from ", b"PASS NEW ", b"PASS OLD ", b"DNSBL rank ",
                        b"HANGUP after ", b"DISCONNECT ", b"PREGREET ", b"WHITELISTED ",
                        b"COMMAND ", b"BARE NEWLINE ", b"NON-SMTP COMMAND ")
    ),
    "anvil": ((b"statistics: max ", "anvil"),),
    "tlsproxy": ((b"CONNECT from ", "generic"), (b"DISCONNECT ", "generic")),
    "dnsblog": ((b"addr ", "generic"),),
    "scache": ((b"statistics: ", "generic"),),
}  # fmt: skip
"""Message starts (no queue id) that can only be one kind (or unrecognised):
with ``kinds``, the parser skips such lines without decoding them."""


MARKERS: dict[str, bytes] = {
    "sasl_failure": rb"warning:[^\n]*?authentication failed",
    "reject": b"(?:"
    + b"|".join(sorted((a.encode() for a in REJECT_ACTIONS), key=len, reverse=True))
    + b"): ",
    "client": b"client=",
}
"""Per kind, a bytes regex that every line of it matches right after a ``": "``
(the end of the header, of ``NOQUEUE:`` or of a queue id), queue id or not:
``leveled`` reads a SASL failure only from a warning that says so, a
rejection starts with its action, ``smtpd`` reads ``client=``. With them, a
reader that scans for queue ids (``Parser(queue_ids_only=True, markers=...)``)
still finds every event of these kinds, even odd or hostile ones without a
queue id."""


def markers_for(kinds: Collection[str]) -> tuple[bytes, ...] | None:
    """The ``MARKERS`` of ``kinds``; None when one of them has none (read every line)."""
    found = [MARKERS.get(kind) for kind in sorted(kinds)]
    return None if None in found else tuple(found)  # type: ignore[arg-type]


def skip_prefixes(want: Collection[str]) -> dict[str, tuple[bytes, ...]]:
    """Per daemon, the ``SURE_PREFIXES`` of kinds not in ``want``."""
    out = {}
    for daemon, pairs in SURE_PREFIXES.items():
        prefixes = tuple(prefix for prefix, kind in pairs if kind not in want)
        if prefixes:
            out[daemon] = prefixes
    return out


def skip(kind: str, want: Collection[str] | None) -> bool:
    """True when the caller does not use ``kind`` (extract nothing)."""
    return want is not None and kind not in want


def unbracket(angled: str | None, bare: str | None) -> str:
    """The address from ``<addr>`` or a bare ``addr`` group pair; <> is ""."""
    return angled if angled is not None else (bare or "")


def ip_of(raw: str) -> str:
    """An IP as logged, without the ``IPv6:`` prefix some forms carry."""
    return raw[5:] if raw.startswith("IPv6:") else raw


def client_fields(m: re.Match[str], fields: Fields) -> Fields:
    """Add client_name/client_ip(/client_port) from a CLIENT match."""
    fields["client_name"] = m.group("name")
    fields["client_ip"] = ip_of(m.group("ip"))
    port = m.group("port")
    if port is not None:
        fields["client_port"] = int(port)
    return fields


# --- daemon handlers -------------------------------------------------------


def smtpd(text: str, qid: str | None, want: Collection[str] | None) -> Result:
    """smtpd sessions: connect, client=, disconnect, lost connection, SASL failures."""
    if text.startswith("connect from "):
        if skip("connect", want):
            return "connect", qid, None
        m = CONNECT.match(text, 13)
        if m is None:
            return "connect line without host[ip]"
        return "connect", qid, client_fields(m, {})
    if text.startswith("disconnect from "):
        return disconnect(text, qid, want)
    if text.startswith("client="):
        return client(text, qid, want)
    if text.startswith("lost connection after "):
        return session_end("lost_connection", text[22:], qid, want)
    if text.startswith("timeout after "):
        return session_end("timeout", text[14:], qid, want)
    return common(text, qid, want)


def disconnect(text: str, qid: str | None, want: Collection[str] | None) -> Result:
    """``disconnect from host[ip] ehlo=1 auth=0/1 quit=1 commands=2/3``: the counts
    stay one string; ``auth`` is pulled out because failed logins show there."""
    if skip("disconnect", want):
        return "disconnect", qid, None
    m = DISCONNECT.match(text, 16)
    if m is None:
        return "disconnect line without host[ip]"
    fields = client_fields(m, {})
    commands = (m.group("commands") or "").strip()
    fields["commands"] = commands
    at = commands.find("auth=")
    if at >= 0:
        fields["auth"] = commands[at + 5 :].split(" ", 1)[0]
    return "disconnect", qid, fields


def client(text: str, qid: str | None, want: Collection[str] | None) -> Result:
    """``QID: client=name[ip], sasl_method=.., sasl_username=.., orig_client=..``."""
    if skip("client", want):
        return "client", qid, None
    m = CLIENT_RE.match(text, 7)
    if m is None:
        return "client= without host[ip]"
    fields = client_fields(m, {})
    for key, value in CLIENT_KV.findall(text, m.end()):
        if key == "orig_client":
            orig = CLIENT_RE.match(value)
            if orig is not None:
                fields["orig_client_name"] = orig.group("name")
                fields["orig_client_ip"] = ip_of(orig.group("ip"))
                continue
        fields[key] = value
    return "client", qid, fields


def session_end(kind: str, rest: str, qid: str | None, want: Collection[str] | None) -> Result:
    """``lost connection after X from host[ip]`` / ``timeout after X from host[ip]``."""
    if skip(kind, want):
        return kind, qid, None
    m = SESSION_END.match(rest)
    if m is None:
        return f"{kind} line without 'from host[ip]'"
    return kind, qid, client_fields(m, {"after": m.group("after")})


def postscreen(text: str, qid: str | None, want: Collection[str] | None) -> Result:
    """postscreen verdicts: CONNECT, PASS NEW/OLD, DNSBL, PREGREET, HANGUP, ..."""
    m = VERDICT.match(text)
    if m is None or text.startswith(("NOQUEUE", "reject")):
        return common(text, qid, want)
    verdict = m.group(1)
    for long in VERDICT_WITH_TEXT:
        if text.startswith(long):
            verdict = long
    if skip("postscreen", want):
        return "postscreen", qid, None
    fields: Fields = {"verdict": verdict, "text": text}
    where = POSTSCREEN_CLIENT.search(text)
    if where is None:
        return "postscreen", qid, fields
    fields["client_ip"] = ip_of(where.group("ip"))
    fields["client_port"] = int(where.group("port"))
    rest = text[where.end() :]
    if rest.startswith(" after "):
        fields["after"] = rest[7:].split(":", 1)[0].strip()
    if verdict == "DNSBL":
        rank = text[11:].split(" ", 1)[0]
        if rank.isdigit():
            fields["rank"] = int(rank)
    return "postscreen", qid, fields


def cleanup(text: str, qid: str | None, want: Collection[str] | None) -> Result:
    """cleanup: message-id, header/body checks (``common`` reads those)."""
    if text.startswith("message-id="):
        if skip("message_id", want):
            return "message_id", qid, None
        return "message_id", qid, {"message_id": strip_angles(text[11:])}
    if text.startswith("resent-message-id="):
        if skip("generic", want):
            return "generic", qid, None
        return "generic", qid, {"text": text, "resent_message_id": strip_angles(text[18:])}
    return common(text, qid, want)


def strip_angles(value: str) -> str:
    """``<addr>`` -> ``addr``, tolerating a missing bracket (lines cut short)."""
    value = value.strip()
    if value.startswith("<"):
        value = value[1:]
    if value.endswith(">"):
        value = value[:-1]
    return value


def qmgr(text: str, qid: str | None, want: Collection[str] | None) -> Result:
    """qmgr: ``from=.., size=.., nrcpt=.. (queue active)``, removed, expired."""
    if text.startswith("from="):
        if text.endswith("(queue active)"):
            if skip("queued", want):
                return "queued", qid, None
            m = QUEUED.match(text)
            if m is None:
                return "qmgr from= line without size/nrcpt"
            return (
                "queued",
                qid,
                {
                    "from": unbracket(m.group("from"), m.group("from2")),
                    "size": int(m.group("size")),
                    "nrcpt": int(m.group("nrcpt")),
                },
            )
        if "expired, returned to sender" in text:
            if skip("expired", want):
                return "expired", qid, None
            m = EXPIRED.match(text)
            if m is None:
                return "qmgr expired line without from="
            sender = unbracket(m.group("from"), m.group("from2"))
            return "expired", qid, {"from": sender, "status": m.group("status")}
    if text == "removed" and qid is not None:
        return "removed", qid, ({} if not skip("removed", want) else None)
    return common(text, qid, want)


def pickup(text: str, qid: str | None, want: Collection[str] | None) -> Result:
    """pickup: ``uid=N from=<sender>`` (local submission via sendmail)."""
    if text.startswith("uid="):
        if skip("pickup", want):
            return "pickup", qid, None
        m = PICKUP.match(text)
        if m is None:
            return "pickup line without uid/from"
        return (
            "pickup",
            qid,
            {
                "uid": int(m.group("uid")),
                "from": unbracket(m.group("from"), m.group("from2")),
            },
        )
    return common(text, qid, want)


def bounce(text: str, qid: str | None, want: Collection[str] | None) -> Result:
    """bounce/defer/trace: ``sender non-delivery notification: NEWID``."""
    if "notification" in text:
        m = NOTIFICATION.match(text)
        if m is not None:
            if skip("notification", want):
                return "notification", qid, None
            return (
                "notification",
                qid,
                {
                    "notice": m.group("notice"),
                    "notify": m.group("who"),
                    "new_queue_id": m.group("new"),
                },
            )
    return common(text, qid, want)


def postsuper(text: str, qid: str | None, want: Collection[str] | None) -> Result:
    """postsuper: ``QID: removed`` / ``placed on hold`` / totals ``Deleted: N messages``."""
    action = POSTSUPER_ACTIONS.get(text.strip()) if qid is not None else None
    if action is not None:
        return "postsuper", qid, ({"action": action} if not skip("postsuper", want) else None)
    m = POSTSUPER_TOTAL.match(text)
    if m is not None:
        if skip("postsuper", want):
            return "postsuper", qid, None
        return (
            "postsuper",
            qid,
            {
                "action": POSTSUPER_ACTIONS[m.group("action")],
                "count": int(m.group("count")),
            },
        )
    return common(text, qid, want)


def anvil(text: str, qid: str | None, want: Collection[str] | None) -> Result:
    """anvil: ``statistics: max connection rate 1/60s for (smtpd:1.2.3.4) at ...``."""
    if text.startswith("statistics: max "):
        if skip("anvil", want):
            return "anvil", qid, None
        m = ANVIL.match(text)
        if m is None:
            return "anvil statistics line in an unknown form"
        fields: Fields = {"stat": "max " + m.group("stat"), "value": int(m.group("value"))}
        if m.group("period"):
            fields["period"] = m.group("period")
        if m.group("ident") is not None:
            fields["service"], fields["client_ip"] = anvil_ident(m.group("ident"))
        fields["at"] = m.group("at")
        return "anvil", qid, fields
    return common(text, qid, want)


def anvil_ident(ident: str) -> tuple[str, str]:
    """``service:client`` where either may hold colons (``127.0.0.1:2525:1.2.3.4``,
    ``smtpd:2001:db8::1``): an IPv4 client is after the last colon, else the first."""
    head, _, tail = ident.rpartition(":")
    if head and "." in tail:
        return head, tail
    head, _, tail = ident.partition(":")
    return head, ip_of(tail)


# --- forms any daemon may write ---------------------------------------------


def common(text: str, qid: str | None, want: Collection[str] | None) -> Result:
    """Deliveries, actions (reject/content), warnings; anything else is generic."""
    if text.startswith("to="):
        return delivery(text, qid, want)
    m = ACTION.match(text)
    if m is not None:
        action = m.group(1)
        rest = text[m.end() :]
        if rest.startswith(("header ", "body ")):
            return content(action, rest, qid, want)
        if action in REJECT_ACTIONS:
            return reject(action, rest, qid, want)
    colon = text.find(":", 0, 8)
    level = text[:colon] if colon > 0 else ""
    if level in LEVELS:
        return leveled(level, text[len(level) + 1 :].lstrip(), qid, want)
    if skip("generic", want):
        return "generic", qid, None
    return "generic", qid, {"text": text}


def delivery(text: str, qid: str | None, want: Collection[str] | None) -> Result:
    """``to=<r>, [orig_to=<o>,] relay=.., delay=.., delays=.., dsn=.., status=X (reason)``."""
    if skip("delivery", want):
        return "delivery", qid, None
    m = USUAL_DELIVERY.match(text)
    fields = usual_delivery(m) if m is not None else any_delivery(text)
    if fields.__class__ is str:
        return fields  # type: ignore[return-value]
    return "delivery", qid, handed_on(fields)  # type: ignore[arg-type]


def handed_on(fields: Fields) -> Fields:
    """Add ``queued_as``/``forwarded_as`` when the delivery's reason names the
    queue id the mail went on under (a content filter's or a forward's)."""
    reason = fields["reason"]
    if "queued as " in reason:
        queued = QUEUED_AS.findall(reason)
        if queued:
            fields["queued_as"] = queued[-1]
    elif reason.startswith("forwarded as "):
        fields["forwarded_as"] = reason[13:].strip()
    return fields


def usual_delivery(m: re.Match[str]) -> Fields:
    """The fields of a ``USUAL_DELIVERY`` match, as ``any_delivery`` reads them."""
    return usual_delivery_fields(*m.groups())


def usual_delivery_fields(
    to: str,
    orig_to: str | None,
    relay: str,
    conn_use: str | None,
    delay: str,
    delays: str,
    dsn: str,
    status: str,
    reason: str,
) -> Fields:
    """``usual_delivery`` from the nine groups (``forms`` reads them in a regex of its own)."""
    fields: Fields = {"to": to}
    if orig_to is not None:
        fields["orig_to"] = strip_angles(orig_to)
    fields["relay"] = relay
    if conn_use is not None:
        fields["conn_use"] = int(conn_use)
    fields["delay"] = float(delay)
    fields["delays"] = delays
    fields["dsn"] = dsn
    fields["status"] = status
    fields["reason"] = reason
    return fields


def any_delivery(text: str) -> Fields | str:
    """Any ``to=`` line: the keys between ``to=`` and ``status=`` as logged."""
    m = DELIVERY.match(text)
    if m is None:
        return "delivery line (to=) without status=, or cut short"
    fields: Fields = {"to": unbracket(m.group("to"), m.group("to2"))}
    try:
        for key, value in KV.findall(m.group("kv")):
            if key == "delay":
                fields["delay"] = float(value)
            elif key == "conn_use":
                fields["conn_use"] = int(value)
            elif key == "orig_to":
                fields["orig_to"] = strip_angles(value)
            else:
                fields[key] = value
    except ValueError:
        return "delivery line with a non-numeric delay/conn_use"
    fields["status"] = m.group("status")
    fields["reason"] = m.group("reason") or ""
    return fields


def reject(action: str, rest: str, qid: str | None, want: Collection[str] | None) -> Result:
    """``reject: RCPT from host[ip]: 554 5.7.1 <to>: reason; from=<> to=<> proto= helo=<>``."""
    if skip("reject", want):
        return "reject", qid, None
    m = REJECT.match(rest)
    if m is None:
        return f"{action}: line without 'STAGE from host[ip]:'"
    fields: Fields = {"action": action, "stage": m.group("stage")}
    if m.group("ip") is not None:
        client_fields(m, fields)
    reply_fields(m.group("rest"), fields)
    return "reject", qid, fields


def reply_fields(reply: str, fields: Fields) -> None:
    """Split ``554 5.7.1 reason; from=<> to=<> proto=ESMTP helo=<h>`` into fields."""
    code = SMTP_CODE.match(reply)
    if code is not None and code.end():
        if code.group(1):
            fields["code"] = int(code.group(1))
        if code.group(2):
            fields["dsn"] = code.group(2)
        reply = reply[code.end() :]
    env_at = reply.rfind("; from=")
    if env_at < 0:
        env_at = reply.rfind("; to=")
    if env_at >= 0:
        envelope(reply[env_at + 2 :], fields)
        reply = reply[:env_at]
    fields["reason"] = reply


def envelope(text: str, fields: Fields) -> None:
    """``from=<s> to=<r> proto=ESMTP helo=<h>`` (spaces or ", " between)."""
    for key, value in envelope_pairs(text):
        if value.startswith("<"):
            value = value[1:-1] if value.endswith(">") else value[1:]
        fields[key] = value


def envelope_pairs(text: str) -> list[tuple[str, str]]:
    """``findall`` of ``(from|to|proto|helo)=(<[^>]*>|[^\\s,;]*)``, in linear time.

    A value is ``<...>`` up to the next ``>``, else the bare word. The regex
    looked for that ``>`` to the end of the text again after each ``to=<``
    when there was none (``to=< `` repeated: quadratic); here the last ``>``
    is found once, and a ``<`` after it is a bare word straight away.
    """
    last = text.rfind(">")
    pairs = []
    pos = 0
    while (key := ENVELOPE_KEY.search(text, pos)) is not None:
        start = key.end()
        if start < last and text.startswith("<", start):
            pos = text.index(">", start) + 1
        else:
            pos = BARE_VALUE.match(text, start).end()  # type: ignore[union-attr]
        pairs.append((key.group(1), text[start:pos]))
    return pairs


def content(action: str, rest: str, qid: str | None, want: Collection[str] | None) -> Result:
    """cleanup header/body checks: ``warning: header Subject: x from h[ip]; from=<> to=<>``."""
    if skip("content", want):
        return "content", qid, None
    m = CONTENT.match(rest)
    if m is None:
        return f"{action}: header/body line without 'from host[ip]; from=<..>'"
    fields: Fields = {"action": action, "part": m.group("part"), "text": m.group("text")}
    if m.group("local") is not None:
        fields["client_name"] = "local"
        fields["client_ip"] = ""
    else:
        client_fields(m, fields)
    envelope(m.group("env"), fields)
    if m.group("reason") is not None:
        fields["reason"] = m.group("reason")
    return "content", qid, fields


def leveled(level: str, text: str, qid: str | None, want: Collection[str] | None) -> Result:
    """warning/error/fatal/panic; a smtpd SASL failure is its own kind."""
    if level == "warning" and "authentication failed" in text:
        m = SASL_FAIL.match(text)
        if m is not None:
            if skip("sasl_failure", want):
                return "sasl_failure", qid, None
            fields = client_fields(m, {"method": m.group("method")})
            fields["reason"] = m.group("reason").strip()
            if m.group("user") is not None:
                fields["sasl_username"] = m.group("user")
            return "sasl_failure", qid, fields
    if skip(level, want):
        return level, qid, None
    if qid is None:
        inner = QUEUE_ID.match(text)
        if inner is not None:
            qid = inner.group(1)
    return level, qid, {"text": text}


def add_peer(daemon: str, fields: Fields) -> None:
    """Name the other end of a free-text line (generic and leveled kinds).

    Delivery agents talk to servers: their ``host[ip]:port`` is a ``relay``.
    Everything else faces clients: ``client_name``/``client_ip``.
    """
    text = fields["text"]
    if daemon == "dnsblog" and text.startswith("addr "):
        fields["client_ip"] = text[5:].split(" ", 1)[0]
        return
    m = UNRESOLVED.search(text)
    if m is not None:
        fields["client_name"], fields["client_ip"] = m.group(1), m.group(2)
        return
    m = PEER.search(text)
    if m is None:
        return
    name, ip, port = m.group(1), ip_of(m.group(2)), m.group(3)
    if daemon in SERVER_FACING:
        fields["relay"] = f"{name}[{ip}]" + (f":{port}" if port else "")
        return
    fields["client_name"] = name
    fields["client_ip"] = ip
    if port:
        fields["client_port"] = int(port)


HANDLERS: dict[str, Handler] = {
    "smtpd": smtpd,
    "postscreen": postscreen,
    "cleanup": cleanup,
    "qmgr": qmgr,
    "pickup": pickup,
    "bounce": bounce,
    "defer": bounce,
    "trace": bounce,
    "postsuper": postsuper,
    "anvil": anvil,
}
"""Daemons with forms of their own; every other daemon goes to ``common``."""
