"""An incident's severity from the facts of all its findings: the documented table.

No single detector knows enough: many single-recipient messages are a
ticketing system's normal day, the same volume from a network the login never
used is an account taken over. So detectors name what they established
(``Signal.facts``, vocabulary ``model.FACTS``) and this table decides, over
the union of an incident's facts. The first row from the top whose condition
holds gives the severity and the ``reason`` an admin reads; a
finding without facts (a third-party detector that does not name any) counts
at its own severity. README and the man page (INCIDENT SEVERITY) print the
same table; a test checks they agree with ``RULES``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from spamwatch.model import Finding, Severity

SUSPECT_MAIL = frozenset(
    {"new_network", "many_networks", "new_sender_domain", "foreign_sender", "bounces"}
)
"""Facts that make a volume of mail look like someone else's (with ``blocklisted``)."""
FORGED = frozenset({"new_sender_domain", "foreign_sender"})


@dataclass(frozen=True)
class Rule:
    """One row: ``severity`` when every fact of ``all_of`` and one of ``any_of`` hold."""

    severity: Severity
    all_of: frozenset[str]
    any_of: frozenset[str]
    label: str

    def matches(self, facts: frozenset[str]) -> bool:
        return self.all_of <= facts and (not self.any_of or bool(self.any_of & facts))

    def reason(self, facts: frozenset[str]) -> str:
        """The label, with the facts of ``any_of`` that were present."""
        present = sorted(self.any_of & facts)
        return f"{self.label}: {', '.join(present)}" if present else self.label


def _rule(severity: Severity, all_of: str, any_of: Iterable[str], label: str) -> Rule:
    return Rule(severity, frozenset(all_of.split()), frozenset(any_of), label)


C, W = Severity.CRITICAL, Severity.WARNING
RULES: tuple[Rule, ...] = (
    _rule(C, "success_after_failures", (), "a login succeeded after failed attempts"),
    _rule(C, "volume", SUSPECT_MAIL | {"blocklisted"}, "mass mail with"),
    _rule(C, "many_networks", FORGED | {"bounces", "blocklisted"}, "many networks with"),
    _rule(C, "bounces", FORGED | {"blocklisted"}, "bounces with"),
    _rule(W, "volume above_usual", (), "well above its usual volume"),
    _rule(W, "many_networks", (), "many networks"),
    _rule(W, "new_sender_domain", (), "a sender domain it never used"),
    _rule(W, "foreign_sender", (), "foreign envelope senders"),
    _rule(W, "bounces", (), "bounces"),
    _rule(W, "blocklisted", (), "blocklisted"),
    _rule(W, "spray", (), "password spraying"),
    _rule(W, "brute_force", (), "password guessing"),
    _rule(Severity.INFO, "outage", (), "a destination or relay is unreachable"),
    _rule(W, "queue_growth", (), "the queue grew"),
)
"""The table, most severe first. The ``outage`` row is ``info`` and comes
before ``queue_growth``: a queue that grew because one destination or relay
cannot be reached is about the destination, not an abuse (anything above it,
a spray or a blocklisting on the same host, still counts). Anything else is
``info``: volume alone (a ticketing system, a list expansion), a new network
alone (a traveller), deferrals alone."""


def grade(findings: Iterable[Finding]) -> tuple[Severity, str, frozenset[str]]:
    """(severity, reason, facts) of an incident holding ``findings``."""
    facts: frozenset[str] = frozenset()
    bare: Finding | None = None  # the most severe finding that named no fact
    for finding in findings:
        if finding.facts:
            facts |= finding.facts
        elif bare is None or finding.severity > bare.severity:
            bare = finding
    rule = next((r for r in RULES if r.matches(facts)), None)
    if bare is not None and (rule is None or bare.severity > rule.severity):
        return bare.severity, f"{bare.detector}: {bare.summary}", facts
    if rule is not None:
        return rule.severity, rule.reason(facts), facts
    return Severity.INFO, _info_reason(facts), facts


def _info_reason(facts: frozenset[str]) -> str:
    """Why it is only informational: what was seen, none of it alarming alone."""
    return "only " + ", ".join(sorted(facts)) if facts else "no alarming fact"
