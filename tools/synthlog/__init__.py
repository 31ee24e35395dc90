"""Synthetic Postfix 3.x mail logs: a normal server's traffic, incidents and look-alikes.

Why: the detectors, the benches and the golden samples need logs with the shape of
real ones (the line formats in tests/data/corpus) at any size, reproducible from a
seed, without shipping anybody's real mail log.

The model is a set of time-ordered *record streams*. A record is
``(time, host, text)``: ``time`` in epoch seconds (float), ``text`` the syslog
message after the header, ``"postfix/qmgr[812]: 3A1F2C4D5E: removed"``.

* ``background(mix, start, end, seed)`` is a normal server's day: inbound MX mail
  (through postscreen), authenticated submission, deferrals, bounces, rejects,
  scanners failing SASL, local cron mail and noise from dovecot, amavis,
  opendkim and CRON (``background.py``, its knobs in ``mix.py``).
* the scenario functions in ``scenarios/`` (``compromised_account``,
  ``slow_sender``, ``password_spraying``, ``brute_force``, ``queue_growth`` and
  the benign ``newsletter``, ``notifications``, ``traveller``, ``mailing_list``,
  ``backup_mx`` and the ``LOOKALIKES``) yield the lines of one incident or
  look-alike;
* ``merge(*streams)`` interleaves streams on time (heapq.merge), and
  ``render(records, style, tz)`` adds the syslog header (RFC 3164
  ``Nov 28 03:13:06 host ...`` or RFC 3339 with microseconds and an offset)
  (``records.py``);
* ``generate(...)`` is the one-call form: a normal mix, rendered, cut to a line
  count or a duration.

Everything is deterministic from the seed (each stream owns a
``random.Random``), streams are generators with bounded state (only lines
scheduled for the future are held: deferred retries), and the per-line work is
string formatting, so millions of lines take seconds.

Each stream writes through a ``Server`` (``server.py`` sessions, ``delivery.py``
the queue manager and delivery agents, ``lane.py`` scheduling and ids) on a
*lane*: lanes on the same host have their own queue-id space and pid range, so a
scenario merged with the background never reuses a queue id or an smtpd pid of
the background. Long-running daemons (qmgr, pickup, anvil, postscreen) have one
pid per host, shared by all lanes.

This module only re-exports the names samples, tests and benches use.
"""

from __future__ import annotations

from synthlog.background import Background, background, generate
from synthlog.delivery import Delivery
from synthlog.formats import LONG_ID_DIGITS, command_counts, fmt_delay, postfix_digits
from synthlog.internet import PROVIDERS
from synthlog.lane import Outage
from synthlog.mix import EVENT_KINDS, TrafficMix
from synthlog.population import User, make_users
from synthlog.records import STYLES, Record, epoch, merge, render, until
from synthlog.scenarios.bulk import mailing_list, newsletter, verp_list
from synthlog.scenarios.habits import foreign_habit, notifications, ticketing, traveller
from synthlog.scenarios.logins import brute_force, password_spraying, sasl_scanners
from synthlog.scenarios.lookalikes import LOOKALIKES, Lookalike
from synthlog.scenarios.outages import backup_mx, queue_growth, relay_outage, relay_outage_of
from synthlog.scenarios.takeover import compromised_account, slow_sender
from synthlog.server import Server

__all__ = [
    "EVENT_KINDS",
    "LONG_ID_DIGITS",
    "LOOKALIKES",
    "PROVIDERS",
    "STYLES",
    "Background",
    "Delivery",
    "Lookalike",
    "Outage",
    "Record",
    "Server",
    "TrafficMix",
    "User",
    "background",
    "backup_mx",
    "brute_force",
    "command_counts",
    "compromised_account",
    "epoch",
    "fmt_delay",
    "foreign_habit",
    "generate",
    "mailing_list",
    "make_users",
    "merge",
    "newsletter",
    "notifications",
    "password_spraying",
    "postfix_digits",
    "queue_growth",
    "relay_outage",
    "relay_outage_of",
    "render",
    "sasl_scanners",
    "slow_sender",
    "ticketing",
    "traveller",
    "until",
    "verp_list",
]
