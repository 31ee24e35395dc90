"""The knobs of a normal server's traffic and how its activity follows the day.

Why apart from ``background``: samples and benches build mixes without the
machinery that draws from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from synthlog.lane import Outage
from synthlog.words import LOCAL_DOMAINS, word_list


@dataclass
class TrafficMix:
    """The knobs of a normal server's traffic (defaults: a small company server).

    ``rate``: mean events per second (each event is a session, a reject, a
    noise line...; about 6 log lines per event on average); it follows a
    day curve (quiet at night, busy at 10:00 and 14:00) unless ``flat``.
    ``weights``: relative frequency of each event kind (see ``EVENT_KINDS``).
    ``users``: mailboxes that submit mail; ``domains``: our local domains.
    ``p_defer``/``p_bounce``: chance that an outbound recipient is deferred or
    bounced on the first attempt. ``outages``: unreachable destinations.
    ``exclude``: logins that the background never uses (a scenario's user).
    ``long_queue_ids``: Postfix's ``enable_long_queue_ids = yes`` form.
    ``population_seed``: draw the users from this seed rather than the
    traffic's, so days written with different seeds are one server's
    mailboxes (a month of days, ``bench/genlog.py --steady``).
    ``steady_queue``: the mail deferred for days is a few messages retried
    under their own queue ids until they expire, as in a continuous log,
    rather than a new queue id per retry line (see ``Background``).
    """

    host: str = "mail.example.com"
    domains: tuple[str, ...] = LOCAL_DOMAINS
    public_ip: str = "198.51.100.25"
    users: int = 200
    rate: float = 2.0
    flat: bool = False
    p_defer: float = 0.03
    p_bounce: float = 0.01
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    outages: tuple[Outage, ...] = ()
    exclude: tuple[str, ...] = ()
    lane: int = 0
    long_queue_ids: bool = False
    population_seed: int | None = None
    steady_queue: bool = False


DEFAULT_WEIGHTS = {
    "submission": 24.0,
    "inbound": 30.0,
    "reject": 8.0,
    "postscreen": 9.0,
    "auth_scan": 4.0,
    "imap": 18.0,
    "pickup": 0.5,
    "old_queue": 0.5,
    "lost": 2.0,
    "amavis": 4.0,
}


EVENT_KINDS = tuple(DEFAULT_WEIGHTS)


# Relative activity per hour of the day (local to the log's UTC time).
DAY_CURVE = tuple(
    float(x)
    for x in word_list(
        "0.15 0.1 0.1 0.1 0.12 0.2 0.4 0.7 1.0 1.3 1.4 1.3"
        " 1.1 1.2 1.4 1.3 1.2 1.0 0.8 0.6 0.5 0.4 0.3 0.2"
    )
)
