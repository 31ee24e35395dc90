"""The server's reputation: remote servers refusing our mail because of a blocklist.

After a botnet has used one login for an hour, the damage outlives the lock:
the server's address lands on Spamhaus, Microsoft, Gmail and Yahoo stop
taking its mail, and everybody's mail bounces for weeks. The first sign is in
our own log: a delivery deferred or bounced with a reply that cites a list or
a provider's reputation system. This detector reads those replies (only
deliveries of our mail to remote servers, never what our own smtpd refused)
and says, per host: which of our sending addresses is listed (from the reply
text, else the host), by which lists (spamwatch.detectors.blocklists: the
table, with lookup and removal pages), as cited by which destinations, since
when, and whose mail was being refused (``evidence.logins``, so the incident
of the one login to blame takes it in; with several logins or none it stands
alone as the host's).
"""

from __future__ import annotations

import ipaddress
import re
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from spamwatch.detectors.allow import domain_of, parse_ip
from spamwatch.detectors.blocklists import Blocklist, Matcher, table, zone
from spamwatch.detectors.bounces import internal_hop
from spamwatch.detectors.outage import without_reply_tail
from spamwatch.detectors.site import SiteDetector, plural, top, user_of
from spamwatch.detectors.windows import KeyedWindows, Recent, TimeWindow
from spamwatch.model import MessageUpdate, Severity, Signal, Stage
from spamwatch.textsafe import clean
from spamwatch.timeutil import format_duration

REFUSED = frozenset({"deferred", "bounced", "expired", "undeliverable"})
SAMPLE_REPLIES = 3
"""Reply texts kept per host as evidence (the newest)."""

_REMOTE = re.compile(r"^.*?\b(?:said|refused to talk to me):\s*", re.S)
_MARKERS = re.compile(r"\s\d{3}[- ](?:\d\.\d{1,3}\.\d{1,3}\s)?")
_URL = re.compile(r"https?://[^\s;,()<>\"']+")
_IP = re.compile(
    r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7})(?![\w.:])", re.I
)

# One refusal in a host's window: (list key, listed address, destination, login).
Refusal = tuple[str, str, str, str]


def reply_text(reason: str) -> str:
    """The remote server's words: after ``host X[ip] said:``, one line, markers out."""
    text = _REMOTE.sub("", reason, count=1)
    text = without_reply_tail(text)
    return " ".join(_MARKERS.sub(" ", f" {text}").split())


_NOT_OURS = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


def listed_address(reply: str) -> str | None:
    """The first routable address the reply names (ours, as the remote server saw it)."""
    for match in _IP.finditer(reply):
        ip = parse_ip(match.group())
        if ip is None or ip.is_loopback or ip.is_link_local or ip.is_multicast:
            continue
        if ip.is_unspecified or any(ip in net for net in _NOT_OURS if net.version == ip.version):
            continue
        return str(ip)
    return None


class ReputationDetector(SiteDetector):
    """Replies citing a blocklist or a provider's reputation system, per host.

    Options (``[detectors.reputation]``):

    ``window`` ("2h"): how long a refusal counts; the finding stays open while
    refusals are in the window (a listing is a state), then resolves.
    ``threshold`` (1): refusals citing a list before a finding.
    ``critical_count`` (20): refusals that make it critical even when only
    rate limits (Gmail, Yahoo TSS04) are cited; a real blocklist (Spamhaus,
    Microsoft's block list...) is critical at once.
    ``max_hosts`` (1000): hosts tracked at once.
    ``lists`` ({}): more lists, or changes to built-in ones, by name
    (spamwatch.detectors.blocklists).
    """

    name: ClassVar[str] = "reputation"
    description: ClassVar[str] = "remote servers refusing our mail, citing a blocklist"
    update_stages: ClassVar[frozenset[Stage]] = frozenset({Stage.DELIVERY})
    key_kind: ClassVar[str] = "host"
    defaults: ClassVar[Mapping[str, Any]] = {
        "window": "2h",
        "threshold": 1,
        "critical_count": 20,
        "max_hosts": 1000,
        "lists": {},
    }

    def setup(self) -> None:
        self.lists = table(self.options["lists"])
        self._matcher = Matcher(self.lists)
        self._by_key = {entry.key: entry for entry in self.lists}
        cap = int(self.options["max_hosts"])
        self._refusals: KeyedWindows[str, Refusal] = KeyedWindows(self.span("window"), cap)
        self._replies: Recent[str, deque[str]] = Recent(cap)
        self._cited: Recent[str, dict[str, str]] = Recent(cap)  # list -> a page the reply cited
        self._names: dict[str, str] = {}  # zone -> name, for lists not in the table

    def on_update(self, update: MessageUpdate) -> Iterable[Signal]:
        rcpt = update.recipient
        if update.stage is not Stage.DELIVERY or rcpt is None or rcpt.status not in REFUSED:
            return ()
        if not rcpt.reason or internal_hop(rcpt.relay):
            return ()
        reply = reply_text(rcpt.reason)
        entry = self.match(reply)
        if entry is None:
            return ()
        message = update.message
        host, now = message.host, update.event.time
        key = entry.key
        if key == "dnsbl":
            found = zone(reply) or "dnsbl"
            key = f"dnsbl:{found}"
            if len(self._names) < 1000:
                self._names.setdefault(key, found)
        address = listed_address(reply) or host
        refusal = (key, address, domain_of(rcpt.address), user_of(message) or "")
        window = self._refusals.add(host, now, refusal)
        self._remember(host, now, entry.key, reply)
        if len(window) < self.number("threshold"):
            return ()
        return (self._signal(host, now, window),)

    def match(self, reply: str) -> Blocklist | None:
        """The first table entry whose pattern the reply matches."""
        return self._matcher.first(reply)

    def sweep(self, now: datetime) -> None:
        self._refusals.expire(now)
        cutoff = now - self.span("window")
        self._replies.expire(cutoff)
        self._cited.expire(cutoff)

    def tick(self, now: datetime) -> Iterable[Signal]:
        """A listing is a state, not an event: while refusals are in the window, say so.

        Once a minute of log time (with the sweep) every host whose window still
        holds enough refusals is signalled again, so a listing with quiet spells
        (retries come minutes apart) stays one finding until ``window`` passes
        without a refusal, instead of a new finding per late retry.
        """
        due = self._next_sweep
        super().tick(now)
        if self._next_sweep == due:
            return ()
        threshold = self.number("threshold")
        return [
            self._signal(host, now, window)
            for host, window in self._refusals.items()
            if len(window) >= threshold
        ]

    def _remember(self, host: str, now: datetime, key: str, reply: str) -> None:
        replies = self._replies.get(host, now, lambda: deque(maxlen=SAMPLE_REPLIES))
        replies.append(clean(reply, limit=500))
        cited = self._cited.get(host, now, dict)
        url = _URL.search(reply)
        if url and key not in cited and len(cited) < 50:
            cited[key] = clean(url.group().rstrip("."), limit=300)

    def _entry_of(self, key: str) -> tuple[str, Severity, Blocklist | None]:
        entry = self._by_key.get(key)
        if entry is not None:
            return entry.name, entry.severity, entry
        general = self._by_key.get("dnsbl")
        name = self._names.get(key, key.split(":", 1)[-1])
        return name, general.severity if general else Severity.WARNING, general

    def _signal(self, host: str, now: datetime, window: TimeWindow[Refusal]) -> Signal:
        refusals = len(window)
        by_list = window.ranked(0)
        addresses = window.ranked(1)
        destinations = window.ranked(2)
        logins = window.ranked(3)
        severity = max(self._entry_of(k)[1] for k, _ in by_list.top(len(by_list)))
        if refusals >= self.number("critical_count"):
            severity = Severity.CRITICAL
        lists = {self._entry_of(k)[0]: n for k, n in by_list.top(len(by_list))}
        named = [a for a, _ in addresses.top(2) if a != host]  # an address beats the host name
        first_address = named[0] if named else host
        cited = self._cited.peek(host) or {}
        pages = {}
        for k, _ in by_list.top(len(by_list)):
            name, _, entry = self._entry_of(k)
            page = entry.pages(first_address if first_address != host else None) if entry else {}
            if k in cited:
                page["cited"] = cited[k]
            if page:
                pages[name] = page
        worst = sorted(by_list.top(len(by_list)), key=lambda kn: -self._entry_of(kn[0])[1])
        shown = [self._entry_of(k)[0] for k, _ in worst[:3]]  # blocklists before rate limits
        names = ", ".join(shown) + (" ..." if len(lists) > 3 else "")
        whose = top(logins, 3)
        who = host if first_address == host else f"{host}: {first_address}"
        summary = (
            f"{who} cited by {names}: {plural(refusals, 'refusal')} from"
            f" {plural(len(destinations), 'destination')}"
            + (f", mail of {', '.join(whose)}" if whose else "")
            + f" in {format_duration(self.span('window'))}"
        )
        counts = {
            "refusals": refusals,
            "lists": len(by_list),
            "destinations": len(destinations),
            "logins": len(logins),
        }
        evidence = {
            "listed_addresses": top(addresses),
            "lists": lists,
            "destinations": top(destinations),
            "logins": top(logins),
            "since": window.first_time.isoformat() if window.first_time else None,
            "pages": pages,
            "sample_replies": list(self._replies.peek(host) or ()),
            "window": format_duration(self.span("window")),
        }
        return self.signal(
            key=host,
            severity=severity,
            time=now,
            first_seen=window.first_time,
            summary=summary,
            host=host,
            counts=counts,
            evidence=evidence,
            facts=("blocklisted",),
        )
