"""Discover detectors and sinks through entry points.

Built-ins are declared in pyproject.toml exactly like a third-party plugin
would declare its own, so there is one way to add either: an entry point in
the ``spamwatch.detectors`` or ``spamwatch.sinks`` group naming a class.
``listing`` is what ``spamwatch plugins`` shows of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from importlib.metadata import entry_points
from typing import Any

from spamwatch.textsafe import clean

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


GROUPS = (("detectors", DETECTORS), ("sinks", SINKS))


def listing() -> dict[str, list[dict[str, Any]]]:
    """Every installed detector and sink, built-in or not, as JSON-ready records (``plugins``)."""
    return {title: [plugin_record(p) for p in discover(group).values()] for title, group in GROUPS}


def plugin_record(plugin: Plugin) -> dict[str, Any]:
    """The JSON form of one plugin (also what the text table shows)."""
    description = getattr(plugin.obj, "description", "") if plugin.obj is not None else ""
    return {
        "name": plugin.name,
        "object": plugin.value,
        "distribution": plugin.distribution,
        "version": _version(plugin.distribution),
        "description": description if isinstance(description, str) else "",
        "error": plugin.error,
    }


def _version(distribution: str | None) -> str | None:
    if distribution is None:
        return None
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def listing_text(found: dict[str, list[dict[str, Any]]]) -> str:
    """``listing()`` as aligned text; every name and error escaped (strangers' code wrote them)."""
    lines: list[str] = []
    for title, records in found.items():
        lines.append(f"{title}:")
        if not records:
            lines.append("  (none installed)")
        width = max((len(clean(r["name"])) for r in records), default=0)
        for record in records:
            name = clean(record["name"]).ljust(width)
            source = clean(
                " ".join(filter(None, (record["distribution"], record["version"]))) or "?"
            )
            if record["error"]:
                detail = f"LOAD ERROR: {clean(record['error'], limit=300)}"
            else:
                detail = clean(record["description"] or record["object"], limit=200)
            lines.append(f"  {name}  [{source}]  {detail}")
    return "\n".join(lines)
