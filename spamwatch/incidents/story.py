"""What an incident says to a person: one block, who, from where, what, and what next.

``report`` prints it (the table form on a terminal: one screen per
incident; the text form adds each finding's details) and the mail sink puts
it in the body. The evidence of all findings is merged by topic (client
addresses once, not once per detector), every value is cleaned
(spamwatch.textsafe) and wrapped at word boundaries only, so at 80 columns no
address or queue id is split. The "next" lines are commands to copy: log text
in them is shell-quoted.
"""

from __future__ import annotations

import shlex
import textwrap
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from spamwatch.model import Finding, Incident, IncidentState, Severity
from spamwatch.textsafe import clean

TOP = 4
"""Entries shown per merged evidence line."""
LOOKUPS = 2
"""Blocklist lookup pages shown in the next steps (all of them are in the details)."""
DETAIL_TOP = 5
"""Entries shown per evidence item in the details."""
FIELD_LIMIT = 300
LABEL_WIDTH = 9
KIND_LABEL = {"sasl_username": "login", "host": "host"}


def stamp(when: datetime) -> str:
    """A log time for people: to the second, with its offset (JSON keeps the fraction)."""
    return when.isoformat(sep=" ", timespec="seconds")


def label(incident: Incident) -> str:
    """``login alice@example.com`` or ``host mx1``, cleaned."""
    kind = KIND_LABEL.get(incident.key_kind, incident.key_kind)
    return clean(f"{kind} {incident.key}", FIELD_LIMIT)


def status(incident: Incident) -> str:
    """``open`` or ``resolved``: what the admin needs to know of its life in the range."""
    return "resolved" if incident.state is IncidentState.RESOLVED else "open"


def title(incident: Incident) -> str:
    """``CRITICAL login alice@example.com on mx1 [open]``."""
    hosts = incident.hosts or ((incident.host,) if incident.host else ())
    where = f" on {', '.join(hosts)}" if hosts else ""
    return clean(
        f"{str(incident.severity).upper()} {label(incident)}{where} [{status(incident)}]",
        FIELD_LIMIT,
    )


def story(
    incident: Incident, width: int = 80, detail: bool = False, postfix_config: str | None = None
) -> list[str]:
    """The incident's block: title, then labelled lines wrapped to ``width``.

    ``postfix_config`` is ``[contain] postfix_config`` (a non-default Postfix
    instance), named by the queue commands of the next steps.
    """
    rows = [
        ("why", clean(incident.reason, FIELD_LIMIT)),
        ("when", _when(incident)),
        ("what", clean(incident.findings[0].summary, FIELD_LIMIT) if incident.findings else ""),
    ]
    rows += topics(incident.findings, incident.facts)
    rows.append(("signals", _signals(incident.findings)))
    rows += [("next", step) for step in next_steps(incident, postfix_config)]
    lines = [title(incident)]
    shown: str | None = None
    for name, text in rows:
        label_text = "" if name == shown else name
        if name == "next":  # a command to copy: one line, never cut inside a quoted word
            lines.append(f"  {label_text:<{LABEL_WIDTH}} {text}")
        else:
            lines += labelled(label_text, text, width)
        shown = name
    if detail:
        for finding in incident.findings:
            lines += _details(finding, width)
    return lines


def topics(findings: Sequence[Finding], facts: Iterable[str] = ()) -> list[tuple[str, str]]:
    """The findings' evidence merged by topic: each list once, biggest first."""
    rows: list[tuple[str, str]] = []
    addresses = _addresses(findings)
    if addresses:
        new = " (a network it never used)" if "new_network" in set(facts) else ""
        rows.append(("from", f"{_count(addresses, 'address')}{new}: {_top(addresses)}"))
    for name, keys in (
        ("as", ("sender_domains",)),
        ("to", ("recipient_domains", "destinations")),
        ("answers", ("statuses",)),
        ("reasons", ("reasons", "deferral_reasons")),
        ("tried", ("usernames",)),
        ("logged in", ("logins_after_failures",)),
        ("queued by", ("queued_by",)),
    ):
        merged = merged_counts(findings, keys)
        if merged:
            rows.append((name, _top(merged, 1 if name == "reasons" else TOP)))
    ids = sample_ids(findings)
    if ids:
        rows.append(("queue ids", ", ".join(clean(i) for i, _ in ids[:TOP])))
    return rows


def merged_counts(findings: Iterable[Finding], keys: Iterable[str]) -> Counter[str]:
    """``{value: count}`` evidence items of these names across findings (largest count kept).

    Detectors count the same messages in their own windows, so the same
    address seen by two of them keeps the larger count, never the sum.
    """
    out: Counter[str] = Counter()
    for finding in findings:
        for key in keys:
            value = finding.evidence.get(key)
            if isinstance(value, Mapping):
                for item, count in value.items():
                    if isinstance(count, int | float) and not isinstance(count, bool):
                        out[str(item)] = max(out[str(item)], int(count))
    return out


def sample_ids(findings: Iterable[Finding]) -> list[tuple[str, str | None]]:
    """Sample queue ids of the findings, each once: (queue id, the host it is on)."""
    seen: dict[str, str | None] = {}
    for finding in findings:
        ids = finding.evidence.get("sample_queue_ids")
        if isinstance(ids, list | tuple):
            for qid in ids:
                if isinstance(qid, str) and qid:
                    seen.setdefault(qid, finding.host)
    return list(seen.items())


def next_steps(incident: Incident, postfix_config: str | None = None) -> list[str]:
    """Commands an admin can copy: contain the login, look at its mail, look it up.

    With ``postfix_config`` (an instance's config directory) postcat and
    postqueue take ``-c DIR``, as spamwatch's own commands do, else they would
    look at the default instance's queue.
    """
    instance = f" -c {shlex.quote(postfix_config)}" if postfix_config else ""
    steps: list[str] = []
    if incident.key_kind == "sasl_username" and incident.severity >= Severity.WARNING:
        if _contained(incident):  # follow locked it already: what is left is the release
            steps.append(
                f"spamwatch release {_quote(incident.key)}  # once its password is changed"
            )
        else:
            steps.append(f"spamwatch contain {_quote(incident.key)}")
    ids = sample_ids(incident.findings)
    if ids:
        qid, host = ids[0]
        where = f" (on {clean(host)})" if host and len(incident.hosts) > 1 else ""
        steps.append(f"postcat{instance} -q {_quote(qid)}{where}")
    if ids or _queue_findings(incident):
        steps.append(f"postqueue{instance} -p")
    urls = _lookups(incident.findings)
    if urls:
        steps.append("look up " + " ".join(clean(url, FIELD_LIMIT) for url in urls[:LOOKUPS]))
    return steps


def _contained(incident: Incident) -> bool:
    """Did spamwatch lock this incident's login (its record's ``response``)?"""
    containment = incident.response.get("containment")
    return isinstance(containment, Mapping) and containment.get("status") == "contained"


def evidence_lines(evidence: Mapping[str, Any]) -> list[str]:
    """One "name: a (12), b (3), +4 more" line per evidence item, cleaned and cut."""
    return [clean(f"{name}: {_value_text(value)}", FIELD_LIMIT) for name, value in evidence.items()]


# ---- inside ----------------------------------------------------------------


def _when(incident: Incident) -> str:
    text = f"{stamp(incident.first_seen)} .. {_clock(incident.last_seen, incident.first_seen)}"
    text += f", opened {_clock(incident.opened_at, incident.first_seen)}"
    if incident.state is IncidentState.RESOLVED:
        text += f", resolved {_clock(incident.time, incident.first_seen)}"
    if incident.merged_into:
        text += f", continued as incident {clean(incident.merged_into, FIELD_LIMIT)}"
    return text


def _clock(when: datetime, day_of: datetime) -> str:
    """The time only when on the same day as ``day_of``, else the full stamp."""
    if when.date() == day_of.date() and when.utcoffset() == day_of.utcoffset():
        return when.strftime("%H:%M:%S")
    return stamp(when)


def _addresses(findings: Sequence[Finding]) -> Counter[str]:
    """Client addresses of every finding, each once (with the largest count)."""
    found = merged_counts(findings, ("client_addresses", "failing_addresses"))
    for finding in findings:
        if finding.key_kind == "client_ip":
            failures = finding.counts.get("failures", 0)
            found[finding.key] = max(found[finding.key], int(failures))
    return found


def _signals(findings: Sequence[Finding]) -> str:
    """``critical: burst, sender; warning: addresses`` (a client address is named)."""
    groups: dict[Severity, list[str]] = {}
    for finding in findings:
        key = f" {finding.key}" if finding.key_kind == "client_ip" else ""
        groups.setdefault(finding.severity, []).append(clean(f"{finding.detector}{key}", 120))
    return "; ".join(
        f"{severity}: {', '.join(dict.fromkeys(names))}"
        for severity, names in sorted(groups.items(), reverse=True)
    )


def _queue_findings(incident: Incident) -> bool:
    return any(f.evidence.get("queued_by") for f in incident.findings)


def _lookups(findings: Iterable[Finding]) -> list[str]:
    """Blocklists' lookup pages named in evidence (``pages``: {list: {"lookup": URL, ...}})."""
    urls: dict[str, None] = {}
    for finding in findings:
        pages = finding.evidence.get("pages")
        for page in pages.values() if isinstance(pages, Mapping) else ():
            url = page.get("lookup") if isinstance(page, Mapping) else None
            if isinstance(url, str) and url.startswith(("https://", "http://")):
                urls.setdefault(url, None)
    return list(urls)


def _quote(text: str) -> str:
    """Log text as one shell word (cleaned first: nothing unprintable reaches a terminal)."""
    return shlex.quote(clean(text, FIELD_LIMIT))


def _count(counts: Counter[str], word: str) -> str:
    n = len(counts)
    return f"1 {word}" if n == 1 else f"{n} {word}es" if word.endswith("s") else f"{n} {word}s"


def _top(counts: Counter[str], n: int = TOP) -> str:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{clean(k, 120)} ({v})" for k, v in items[:n])
    return shown + (f", +{len(items) - n} more" if len(items) > n else "")


def labelled(name: str, text: str, width: int, label_width: int = LABEL_WIDTH) -> list[str]:
    """``  name      text`` wrapped at spaces only: a long token overflows, never splits."""
    head = f"  {name:<{label_width}} "
    wrapper = textwrap.TextWrapper(
        width=max(width, len(head) + 20),
        initial_indent=head,
        subsequent_indent=" " * len(head),
        break_long_words=False,
        break_on_hyphens=False,
    )
    return wrapper.wrap(text) or [head.rstrip()]


def _details(finding: Finding, width: int) -> list[str]:
    """One finding in full: what, when, counts and every evidence item."""
    where = f" on {finding.host}" if finding.host else ""
    head = clean(
        f"{finding.detector} ({finding.severity}) {finding.key_kind} {finding.key}{where}",
        FIELD_LIMIT,
    )
    lines = ["", f"  {head}"]
    rows = [
        ("summary", clean(finding.summary, FIELD_LIMIT)),
        ("seen", f"{stamp(finding.first_seen)} .. {stamp(finding.last_seen)}"),
        ("raised", stamp(finding.raised_at)),
    ]
    if finding.facts:
        rows.append(("facts", ", ".join(sorted(finding.facts))))
    if finding.counts:
        counts = " ".join(f"{k}={v}" for k, v in finding.counts.items())
        rows.append(("counts", clean(counts)))
    for line in evidence_lines(finding.evidence):
        name, _, value = line.partition(": ")
        rows.append((name, value))
    for name, text in rows:
        lines += _wrap_detail(name, text, width)
    return lines


def _wrap_detail(name: str, text: str, width: int) -> list[str]:
    wrapper = textwrap.TextWrapper(
        width=max(width, 40),
        initial_indent=f"    {name}: ",
        subsequent_indent=" " * 6,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return wrapper.wrap(text) or [f"    {name}:"]


def _value_text(value: Any) -> str:
    if isinstance(value, Mapping):
        items = list(value.items())
        if all(isinstance(v, int | float) and not isinstance(v, bool) for _, v in items):
            items.sort(key=lambda item: -item[1])  # counts: biggest first
            return _join([f"{k} ({v})" for k, v in items])
        return _join([f"{k}={_value_text(v)}" for k, v in items])
    if value is None:
        return "-"  # JSON null: not known (yet), e.g. no history for a baseline
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, list | tuple) and len(v) == 2 for v in value):
            return _join([f"{k} ({v})" for k, v in value])
        if value and all(isinstance(v, list | tuple) for v in value):  # e.g. ``continues``
            return _join([" ".join(str(part) for part in v) for v in value])
        return _join([str(v) for v in value])
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _join(parts: list[str]) -> str:
    shown = ", ".join(parts[:DETAIL_TOP])
    return f"{shown}, +{len(parts) - DETAIL_TOP} more" if len(parts) > DETAIL_TOP else shown
