"""The benign look-alikes of issue 9 as the samples and the bench build them.

Each yields the lines of one benign pattern that fixed thresholds mistake for
abuse: learn a preceding day of it, report on the day under test, and it must
stay below warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from synthlog.lane import Outage
from synthlog.records import Record
from synthlog.scenarios.bulk import newsletter, verp_list
from synthlog.scenarios.habits import foreign_habit, ticketing, traveller
from synthlog.scenarios.logins import sasl_scanners
from synthlog.scenarios.outages import relay_outage, relay_outage_of


@dataclass(frozen=True)
class Lookalike:
    """A benign pattern as the samples and the bench use it: a day of it, and its verdict.

    ``day(midnight, seed, host)`` yields that day's records of the pattern (its
    hours are the pattern's own: a ticketing system from 07:00 to 19:00...);
    ``logins`` are the SASL logins it uses (keep them out of the background:
    ``TrafficMix.exclude``); ``outages(midnight)`` what the background must share
    (a relay outage defers everybody's mail). ``needs_profile``: quiet only once
    a preceding day was learned (else quiet without one too); ``host_incident``:
    it raises one info incident about the host (the relay outage: fact ``outage``),
    none about users.
    """

    name: str
    about: str
    day: Callable[[datetime, int, str], Iterator[Record]]
    logins: tuple[str, ...] = ()
    needs_profile: bool = True
    host_incident: bool = False
    outages: Callable[[datetime], tuple[Outage, ...]] = lambda midnight: ()


def _hours(midnight: datetime, hour: float) -> datetime:
    return midnight + timedelta(hours=hour)


LOOKALIKES: tuple[Lookalike, ...] = (
    Lookalike(
        "ticketing",
        "a ticketing system: 30-60 single-recipient messages an hour, 07:00-19:00, one address",
        lambda d, seed, host: ticketing(_hours(d, 7), timedelta(hours=12), host=host, seed=seed),
        logins=("helpdesk@example.com",),
    ),
    Lookalike(
        "verp-list",
        "a mailing list's VERP expansion: 300 messages in 7 minutes at 10:00 from the list host",
        lambda d, seed, host: verp_list(_hours(d, 10), host=host, seed=seed),
        logins=("lists@lists.example.org",),
        needs_profile=False,
    ),
    Lookalike(
        "newsletter",
        "a newsletter: 40 messages with 40-90 recipients each at 09:00",
        lambda d, seed, host: newsletter(_hours(d, 9), host=host, seed=seed),
        logins=("newsletter@example.org",),
        needs_profile=False,
    ),
    Lookalike(
        "traveller",
        "a traveller: 9 mails from home, a hotel abroad and mobile IPv6, 08:00-16:00",
        lambda d, seed, host: traveller(_hours(d, 8), host=host, seed=seed),
        logins=("clara.braun@example.com",),
        needs_profile=False,
    ),
    Lookalike(
        "scanners",
        "SASL scanners: 5-20 failing addresses per 10 minutes, all day",
        lambda d, seed, host: sasl_scanners(d, timedelta(hours=24), hosts=(host,), seed=seed),
    ),
    Lookalike(
        "relay-outage",
        "the relayhost is down 11:00-13:00: every remote delivery waits",
        lambda d, seed, host: relay_outage(_hours(d, 11), host=host, seed=seed),
        host_incident=True,
        needs_profile=False,
        outages=lambda d: (relay_outage_of(_hours(d, 11)),),
    ),
    Lookalike(
        "foreign-habit",
        "a user who sends as her own business's domain every day, 08:00-17:00",
        lambda d, seed, host: foreign_habit(_hours(d, 8), host=host, seed=seed),
        logins=("anna.schmidt@example.com",),
    ),
)
"""Every look-alike of issue 9 §4 that the bench and the samples build (the backup MX is a
host of its own: ``backup_mx``)."""
