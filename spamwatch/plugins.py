"""Discover detectors and sinks through entry points.

Built-ins are declared in pyproject.toml exactly like a third-party plugin
would declare its own, so there is one way to add either: an entry point in
the ``spamwatch.detectors`` or ``spamwatch.sinks`` group naming a class.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

DETECTORS = "spamwatch.detectors"
SINKS = "spamwatch.sinks"


@dataclass(frozen=True, slots=True)
class Plugin:
    """One installed plugin: its name, where it comes from, and its class (or load error)."""

    group: str
    name: str
    value: str  # "module:Class"
    distribution: str | None
    obj: Any = None
    error: str | None = None


def sink_scheme(entry_point_name: str) -> str:
    """The URI scheme of a ``spamwatch.sinks`` entry point: ``webhook_http`` is ``webhook+http``.

    Packaging tools want entry point names to match ``[\\w.-]+``, and a URI
    scheme's ``+`` does not; ``_`` never occurs in a URI scheme (RFC 3986), so
    writing ``+`` as ``_`` in the name is unambiguous. A name that still holds
    ``+`` (an older plugin) serves that scheme as it is.
    """
    return entry_point_name.replace("_", "+").lower()


def discover(group: str) -> dict[str, Plugin]:
    """Load every entry point of ``group``; a broken plugin is reported, not raised.

    A plugin that fails to import must not take spamwatch down with it: its
    ``error`` says why, and ``spamwatch plugins`` shows it. Sinks are keyed by
    the URI scheme they serve (see ``sink_scheme``).
    """
    found: dict[str, Plugin] = {}
    for ep in entry_points(group=group):
        name = sink_scheme(ep.name) if group == SINKS else ep.name
        dist = ep.dist.name if ep.dist is not None else None
        try:
            obj = ep.load()
            found[name] = Plugin(group, name, ep.value, dist, obj=obj)
        except Exception as exc:  # a third party's bug is data here
            found[name] = Plugin(group, name, ep.value, dist, error=f"{type(exc).__name__}: {exc}")
    return dict(sorted(found.items()))
