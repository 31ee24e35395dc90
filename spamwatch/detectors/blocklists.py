"""The blocklists and provider reputation systems that remote servers cite, as data.

Each entry says how to recognise a reply that refuses our mail because of a
list or a provider's reputation system (a regular expression on the reply
text, case-insensitive, matched after the multi-line markers such as
``550-5.7.1`` are taken out), what to call it, how serious it is, and where an
admin looks the address up or asks for removal (``{ip}`` is replaced by the
listed address). The first entry that matches names the reply, so specific
entries come before general ones: the providers (whose replies may cite
Spamhaus themselves), then the lists, then any mention of Spamhaus (ZEN), and
last any ``blocked using ZONE`` of a DNS blocklist not listed here.

The table is extended or changed in the config, by name (a built-in name
replaces that entry; ``enabled = false`` drops it)::

    [detectors.reputation.lists.mailspike]
    name = "Mailspike"
    pattern = "mailspike\\\\.net"
    severity = "critical"
    lookup = "https://mailspike.io/ip_verify?ip={ip}"

README "Detectors" and man/spamwatch.1 (DETECTORS, reputation) list the
built-in entries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spamwatch.model import Severity


@dataclass(frozen=True)
class Blocklist:
    """One list or reputation system: how its replies read, and its pages."""

    key: str
    name: str
    pattern: re.Pattern[str]
    severity: Severity
    lookup: str = ""
    removal: str = ""

    def pages(self, ip: str | None) -> dict[str, str]:
        """The lookup and removal pages, with the listed address filled in when known."""
        out = {}
        for kind, url in (("lookup", self.lookup), ("removal", self.removal)):
            if url:
                out[kind] = url.replace("{ip}", ip or "")
        return out


C, W = Severity.CRITICAL, Severity.WARNING
SPAMHAUS = "https://check.spamhaus.org/"
MICROSOFT_SNDS = "https://sendersupport.olc.protection.outlook.com/snds/"

BUILTIN: tuple[tuple[str, str, str, Severity, str, str], ...] = (
    # key, name, pattern, severity, lookup, removal
    ("microsoft_s3140", "Microsoft (Outlook.com block list, S3140)",
     r"\bS31[45]0\b|part of their network is on our block list", C, MICROSOFT_SNDS,
     "https://olcsupport.office.com/"),
    ("microsoft_banned_ip", "Microsoft 365 (banned sending IP, 5.7.606-649)",
     r"\b5\.7\.6(?:0[6-9]|[1-4]\d)\b|banned sending IP", C, MICROSOFT_SNDS,
     "https://sender.office.com/"),
    ("gmail_rate_limit", "Gmail (unsolicited mail rate limit, 4.7.28)",
     r"\b4\.7\.28\b|unusual rate of unsolicited mail|UnsolicitedRateLimitError", W,
     "https://postmaster.google.com/", "https://support.google.com/mail/contact/bulk_send_new"),
    ("gmail_unsolicited", "Gmail (likely unsolicited mail, 5.7.1)",
     r"likely unsolicited mail|UnsolicitedMessageError", W, "https://postmaster.google.com/",
     "https://support.google.com/mail/contact/bulk_send_new"),
    ("yahoo_bl", "Yahoo (BL21: listed by Spamhaus)", r"\[BL2[1-3]\]", C,
     "https://senders.yahooinc.com/smtp-error-codes/", "https://senders.yahooinc.com/contact"),
    ("yahoo_tss04", "Yahoo (TSS04: volume or complaints)", r"\[TSS0[1-4]\]", W,
     "https://senders.yahooinc.com/smtp-error-codes/", "https://senders.yahooinc.com/contact"),
    ("united_internet", "GMX / web.de (United Internet block list)",
     r"\A(?=.*(?:\bgmx\b|\bweb\.de\b|\bnemesis\b|\bmail\.com\b|\bionos\b))"
     r"(?=.*(?:(?:block|black)[ -]?listed|[?&]c=bl\b|reject due to policy restrictions))", C,
     "https://postmaster.gmx.net/en/error-messages", "https://postmaster.gmx.net/en/contact"),
    ("spamhaus_sbl", "Spamhaus SBL", r"\bsbl\.spamhaus\.org|spamhaus\.org/sbl|\bSBL\d{3,}", C,
     SPAMHAUS, SPAMHAUS),
    ("spamhaus_css", "Spamhaus CSS",
     r"\bcss\.spamhaus|\A(?=.*\bspamhaus)(?=.*\bCSS\b)", C, SPAMHAUS, SPAMHAUS),
    ("spamhaus_xbl", "Spamhaus XBL",
     r"\bxbl\.spamhaus\.org|\A(?=.*\bspamhaus)(?=.*\bXBL\b)", C, SPAMHAUS, SPAMHAUS),
    ("spamhaus_pbl", "Spamhaus PBL", r"\bpbl\.spamhaus\.org|\A(?>.*?\bspamhaus\b).*\bPBL\b", W,
     SPAMHAUS, SPAMHAUS),
    ("barracuda", "Barracuda", r"\bbarracuda", C, "https://www.barracudacentral.org/lookups",
     "https://www.barracudacentral.org/rbl/removal-request"),
    ("spamcop", "SpamCop", r"\bspamcop\b", C, "https://www.spamcop.net/bl.shtml?{ip}",
     "https://www.spamcop.net/bl.shtml?{ip}"),
    ("uceprotect", "UCEPROTECT", r"\buceprotect", C, "https://www.uceprotect.net/en/rblcheck.php",
     "https://www.uceprotect.net/en/rblcheck.php"),
    ("spamhaus_zen", "Spamhaus ZEN", r"\bzen\.spamhaus\.org|\bspamhaus\b", C, SPAMHAUS, SPAMHAUS),
    ("dnsbl", "DNS blocklist",
     r"\b(?:blocked|listed) (?:using|in|on|at|by) [a-z0-9-]+(?:\.[a-z0-9-]+)+", W, "", ""),
)  # fmt: skip
"""The built-in entries (see the module docstring for their order)."""

_ZONE = re.compile(
    r"\b(?:blocked|listed) (?:using|in|on|at|by) ([a-z0-9-]+(?:\.[a-z0-9-]+)+)", re.I
)


def builtin() -> dict[str, Blocklist]:
    """The built-in table by key."""
    return {
        key: Blocklist(key, name, re.compile(pattern, re.IGNORECASE), severity, lookup, removal)
        for key, name, pattern, severity, lookup, removal in BUILTIN
    }


ENTRY_KEYS = frozenset({"name", "pattern", "severity", "lookup", "removal", "enabled"})


def table(extra: Mapping[str, Any]) -> tuple[Blocklist, ...]:
    """The built-in table with the config's ``lists`` applied (ValueError names the entry)."""
    entries = builtin()
    if not isinstance(extra, Mapping):
        raise ValueError(f"lists: expected a table of lists, got {extra!r}")
    for key, raw in extra.items():
        entry = _entry(str(key), raw, entries.get(str(key)))
        if entry is None:
            entries.pop(str(key), None)
        else:
            entries[str(key)] = entry
    general = entries.pop("dnsbl", None)  # the catch-all stays last
    return (*entries.values(), *((general,) if general else ()))


def _entry(key: str, raw: Any, base: Blocklist | None) -> Blocklist | None:
    where = f"lists.{key}"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a table, got {raw!r}")
    unknown = set(raw) - ENTRY_KEYS
    if unknown:
        raise ValueError(
            f"{where}.{sorted(unknown)[0]}: unknown key (known: {', '.join(sorted(ENTRY_KEYS))})"
        )
    for name, value in raw.items():
        wanted = bool if name == "enabled" else str
        if not isinstance(value, wanted):
            expected = "true or false" if wanted is bool else "a string"
            raise ValueError(f"{where}.{name}: expected {expected}, got {value!r}")
    if raw.get("enabled", True) is False:
        return None
    text = raw.get("pattern", base.pattern.pattern if base else "")
    if not text:
        raise ValueError(f"{where}.pattern: a new list needs a pattern (a regular expression)")
    try:
        pattern = re.compile(text, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"{where}.pattern: not a regular expression: {exc}") from None
    try:
        severity = (
            Severity.parse(raw["severity"]) if "severity" in raw else (base.severity if base else W)
        )
    except ValueError as exc:
        raise ValueError(f"{where}.severity: {exc}") from None
    return Blocklist(
        key,
        raw.get("name", base.name if base else key),
        pattern,
        severity,
        raw.get("lookup", base.lookup if base else ""),
        raw.get("removal", base.removal if base else ""),
    )


class Matcher:
    """The first entry of a table whose pattern a reply matches, remembered per reply.

    A campaign's refusals repeat the same few replies (1,706 distinct texts in
    12,713 refusals of the bench's day), and trying the table's sixteen
    patterns on each cost more than the rest of the reputation detector. The
    answers of the latest ``MEMO`` distinct replies are kept (all forgotten at
    once when full: bounded, and cheaper than an LRU's bookkeeping).
    """

    MEMO = 4096

    def __init__(self, entries: tuple[Blocklist, ...]) -> None:
        self.entries = entries
        self._seen: dict[str, Blocklist | None] = {}

    def first(self, reply: str) -> Blocklist | None:
        """The first entry whose pattern ``reply`` matches (None: no list is cited)."""
        try:
            return self._seen[reply]
        except KeyError:
            pass
        found = next((entry for entry in self.entries if entry.pattern.search(reply)), None)
        if len(self._seen) >= self.MEMO:
            self._seen.clear()
        self._seen[reply] = found
        return found


def zone(reply: str) -> str | None:
    """The DNS zone a ``blocked using ZONE`` reply names (for lists not in the table)."""
    found = _ZONE.search(reply)
    return found.group(1).lower() if found else None
