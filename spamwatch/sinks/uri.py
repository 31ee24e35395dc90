"""Alert URIs: ``SCHEME[:TARGET][?min=SEVERITY&records=KINDS]``, and the defaults.

The scheme names an entry point in the ``spamwatch.sinks`` group, the target
is everything after the first colon (``jsonl:/var/log/x.jsonl``,
``webhook+https://host/path``), ``min`` the lowest severity the sink gets
(else ``min_severity`` in the sink's ``[sinks.SCHEME]`` table, else info) and
``records`` the incident record kinds it gets, comma-separated (else
``records`` in its table, else the sink's own default). Any other key in the
query is an error (a typo of ``min`` must not leave the default in place),
unless the sink's target is a URL with a query of its own (``target_query``:
webhook), where the other keys stay in the target.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from spamwatch.config import Config
from spamwatch.errors import ConfigError
from spamwatch.model import IncidentState, Severity
from spamwatch.textsafe import clean


@dataclass(frozen=True, slots=True)
class AlertUri:
    """A parsed alert URI; ``uri`` is its canonical form without ``min``/``records``.

    ``others`` are the query's other keys (left in ``target``): an error unless
    the sink takes a query in its target; ``given`` is the URI as written.
    """

    scheme: str
    target: str
    min_severity: Severity | None
    uri: str
    records: frozenset[IncidentState] | None = None
    others: tuple[str, ...] = ()
    given: str = ""


QUERY_KEYS = ("min", "records")
"""The query keys every alert URI understands."""


def parse_alert_uri(text: str) -> AlertUri:
    """Split ``SCHEME[:TARGET][?min=SEVERITY]``; ConfigError when malformed."""
    raw = text.strip()
    scheme, _, target = raw.partition(":")
    if "?" in scheme:  # ``console?min=warning``: a query without a target
        scheme, _, query = raw.partition("?")
        target = f"?{query}"
    scheme = scheme.lower()
    if not scheme or not scheme[0].isalpha() or not all(c.isalnum() or c in "+.-" for c in scheme):
        raise ConfigError(f"bad alert URI {clean(text)!r}: expected SCHEME[:TARGET], e.g. jsonl:-")
    minimum: Severity | None = None
    records: frozenset[IncidentState] | None = None
    rest: list[tuple[str, str]] = []
    if "?" in target:
        target, _, query = target.rpartition("?")
        for key, value in parse_qsl(query, keep_blank_values=True):
            try:
                if key == "min":
                    minimum = Severity.parse(value)
                elif key == "records":
                    records = parse_records(value.split(","))
                else:
                    rest.append((key, value))
            except ValueError as exc:
                raise ConfigError(f"alert URI {clean(text)!r}: {exc}") from None
        if rest:
            target = f"{target}?{urlencode(rest)}"
    uri = f"{scheme}:{target}" if target else scheme
    others = tuple(key for key, _ in rest)
    return AlertUri(scheme, target, minimum, uri, records, others, raw)


def unknown_query_key(alert: AlertUri) -> ConfigError:
    """The error for a query key other than ``min`` and ``records`` (one wording everywhere)."""
    return ConfigError(
        f"alert URI {clean(alert.given)!r}: unknown option {clean(alert.others[0])!r}"
        f" (known: {', '.join(QUERY_KEYS)})"
    )


def parse_records(names: object) -> frozenset[IncidentState]:
    """Record kinds from a list of names (``opened``, ``escalated``, ``updated``, ``resolved``)."""
    if isinstance(names, str) or not isinstance(names, list | tuple):
        raise ValueError("records: expected a list of record kinds")
    kinds = []
    for name in names:
        try:
            kinds.append(IncidentState(str(name).strip().lower()))
        except ValueError:
            known = ", ".join(str(k) for k in IncidentState)
            raise ValueError(f"records: unknown kind {clean(name)!r} (known: {known})") from None
    if not kinds:
        raise ValueError("records: name at least one record kind")
    return frozenset(kinds)


def default_alert_uris(config: Config, interactive: bool) -> list[str]:
    """``[alerts] uris`` from the config, else ``console`` on a terminal, else ``jsonl:-``."""
    uris = config.section("alerts").get("uris")
    if uris is None:
        return ["console"] if interactive else ["jsonl:-"]
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise ConfigError("alerts.uris: expected a list of alert URIs (strings)")
    return list(uris)


def default_spool_dir(config: Config) -> Path:
    """``[alerts] spool_dir``, else (unset or "") /var/lib/spamwatch/spool when writable, else
    per user."""
    configured = config.section("alerts").get("spool_dir") or None
    if configured is not None:
        if not isinstance(configured, str):
            raise ConfigError("alerts.spool_dir: expected a directory path")
        return Path(configured)
    system = Path("/var/lib/spamwatch")
    if os.access(system, os.W_OK) or (not system.exists() and os.access(system.parent, os.W_OK)):
        return system / "spool"
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "spamwatch" / "spool"


def section_for(scheme: str) -> str:
    """The config table of a scheme: ``webhook+https`` reads ``[sinks.webhook]``."""
    return f"sinks.{scheme.partition('+')[0]}"
