"""What ``spamwatch profile`` shows: one login's profile, the busiest logins, the hosts.

Plain data (JSON-ready dictionaries) read from the store; the command renders
them as tables or prints them as JSON. Times are ISO 8601 in the machine's
zone; hours and weekdays are the log's own local time, as learned.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from spamwatch.detectors.windows import quantile_of
from spamwatch.profiles.store import ProfileStore
from spamwatch.profiles.view import USUAL_QUANTILE, host_profile, login_profile

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def iso(epoch: float | None) -> str | None:
    """Epoch seconds as ISO 8601 in the local zone, to the second."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch).astimezone().replace(microsecond=0).isoformat()


def login_report(store: ProfileStore, login: str, min_hours: int) -> dict[str, Any] | None:
    """Everything known about ``login`` (None: nothing)."""
    head = store.rows(
        "SELECT first_seen, last_seen, messages, single FROM logins WHERE login = ?", (login,)
    )
    if not head:
        return None
    first, last, messages, single = head[0]
    hours = store.rows(
        "SELECT day, hour, messages, rcpt_domains FROM login_hours WHERE login = ?", (login,)
    )
    networks = _seen(store, "login_networks", "network", login)
    senders = _seen(store, "login_senders", "domain", login)
    profile = login_profile(
        [(h, n) for _, h, n, _ in hours],
        {s["network"]: s["days"] for s in networks},
        {s["domain"]: s["days"] for s in senders},
    )
    by_hour = [0] * 24
    by_weekday = [0] * 7
    for day, hour, count, _ in hours:
        by_hour[hour % 24] += count
        by_weekday[date.fromisoformat(day).weekday()] += count
    domains = sorted(d for *_, d in hours if d)
    return {
        "login": login,
        "first_seen": iso(first),
        "last_seen": iso(last),
        "messages": messages,
        "single_recipient_share": round(single / messages, 3) if messages else None,
        "active_hours": profile.active_hours,
        "days": len({day for day, *_ in hours}),
        "judged": profile.active_hours >= min_hours,
        "min_hours": min_hours,
        "usual_per_hour": {f"{h:02d}": profile.usual(h) for h in range(24)},
        "messages_by_hour": {f"{h:02d}": n for h, n in enumerate(by_hour)},
        "messages_by_weekday": dict(zip(WEEKDAYS, by_weekday, strict=True)),
        "recipient_domains_per_hour": {
            "usual": quantile_of(domains, USUAL_QUANTILE) if domains else 0,
            "most": domains[-1] if domains else 0,
        },
        "networks": networks,
        "sender_domains": senders,
    }


def _seen(store: ProfileStore, table: str, column: str, login: str) -> list[dict[str, Any]]:
    rows = store.rows(
        f"SELECT {column}, first_seen, last_seen, messages, days FROM {table}"
        " WHERE login = ? ORDER BY messages DESC, last_seen DESC",
        (login,),
    )
    return [
        {column: key, "first_seen": iso(a), "last_seen": iso(b), "messages": n, "days": d}
        for key, a, b, n, d in rows
    ]


def busiest(store: ProfileStore, limit: int) -> list[dict[str, Any]]:
    """The logins that sent most, with a line of what is known about each."""
    rows = store.rows(
        "SELECT l.login, l.messages, l.single, l.last_seen,"
        " (SELECT count(*) FROM login_hours h WHERE h.login = l.login),"
        " (SELECT count(*) FROM login_networks n WHERE n.login = l.login),"
        " (SELECT count(*) FROM login_senders s WHERE s.login = l.login)"
        " FROM logins l ORDER BY l.messages DESC, l.login LIMIT ?",
        (limit,),
    )
    return [
        {
            "login": login,
            "messages": messages,
            "single_recipient_share": round(single / messages, 3) if messages else None,
            "active_hours": active,
            "networks": nets,
            "sender_domains": senders,
            "last_seen": iso(last),
        }
        for login, messages, single, last, active, nets, senders in rows
    ]


def hosts(store: ProfileStore) -> list[dict[str, Any]]:
    """Each host's ambient levels (None where it has less than a day of history)."""
    out = []
    for (host,) in store.rows("SELECT DISTINCT host FROM host_windows ORDER BY host"):
        windows = store.rows(
            "SELECT auth_addresses, auth_failures, queue_peak, deferred"
            " FROM host_windows WHERE host = ?",
            (host,),
        )
        level = host_profile(windows)
        ((deliveries, deferred),) = store.rows(
            "SELECT sum(deliveries), sum(deferred) FROM host_windows WHERE host = ?", (host,)
        )
        out.append(
            {
                "host": host,
                "windows": len(windows),
                "sasl_failing_addresses_per_10m": level.auth_addresses,
                "sasl_failures_per_10m": level.auth_failures,
                "queue": level.queue,
                "deferred_per_10m": level.deferred,
                "deferral_rate": round(deferred / deliveries, 3) if deliveries else None,
            }
        )
    return out


def totals(store: ProfileStore) -> dict[str, int]:
    """How many logins and hosts the database knows."""
    (logins,) = store.rows("SELECT count(*) FROM logins")[0]
    (hosts_known,) = store.rows("SELECT count(DISTINCT host) FROM host_windows")[0]
    return {"logins": logins, "hosts": hosts_known}


def listing(store: ProfileStore, limit: int) -> dict[str, Any]:
    """The ``--list`` view: the ``limit`` busiest logins, every host, and how many are known."""
    return {"logins": busiest(store, limit), "hosts": hosts(store), **_counts(store)}


def _counts(store: ProfileStore) -> dict[str, int]:
    known = totals(store)
    return {"logins_known": known["logins"], "hosts_known": known["hosts"]}
