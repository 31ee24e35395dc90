"""Which config values are secrets, and how to show a config without them.

``spamwatch config show`` prints the effective configuration through
``redact`` so an SMTP password or webhook token never reaches a terminal, a
bug report or a log. The ``*_env`` keys only name a variable and stay visible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_KEYS = frozenset({"password", "token", "header", "secret", "api_key"})
"""Option names (any table) whose values are secrets; also ``*_password`` etc."""

_SECRET_SUFFIXES = tuple(f"_{key}" for key in SECRET_KEYS)
HIDDEN = "********"


def is_secret(key: str) -> bool:
    """True for ``password``, ``smtp_password``, ``token``... but not ``password_env``."""
    name = key.lower()
    return name in SECRET_KEYS or name.endswith(_SECRET_SUFFIXES)


def secret_variables(sinks: Mapping[str, Any]) -> frozenset[str]:
    """The environment variables the ``[sinks.*]`` tables read secrets from (``password_env``...).

    Computed from the config, so which variables are secret does not depend
    on which sinks happened to be built first in this process.
    """
    names: set[str] = set()
    for table in sinks.values():
        if isinstance(table, Mapping):
            names.update(
                v for k, v in table.items() if str(k).endswith("_env") and isinstance(v, str)
            )
    return frozenset(names)


def is_secret_variable(name: str, named: frozenset[str] = frozenset()) -> bool:
    """An environment variable a child process (``exec:``) must not inherit.

    Those named by a ``*_env`` option (``named``, see ``secret_variables``),
    and any whose name says it is a secret (``SPAMWATCH_SMTP_PASSWORD``,
    ``WEBHOOK_TOKEN`` ...).
    """
    return name in named or is_secret(name)


def redact(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``mapping`` (nested tables too) with secret values hidden.

    Alert URIs (any list under a ``uris`` key) go through ``redact_uri``.
    """
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if is_secret(str(key)):
            out[key] = HIDDEN
        elif isinstance(value, Mapping):
            out[key] = redact(value)
        elif key == "uris" and isinstance(value, list | tuple):
            out[key] = [redact_uri(v) if isinstance(v, str) else v for v in value]
        elif isinstance(value, list | tuple):
            out[key] = [redact(v) if isinstance(v, Mapping) else v for v in value]
        else:
            out[key] = value
    return out


def redact_uri(uri: str) -> str:
    """Hide what may be a credential in an alert URI.

    A ``user:password@`` part loses its password; query values other than
    ``min`` are hidden; a webhook's path is hidden (chat services put the token
    there). ``mailto:``, file paths and facilities are shown as they are.
    """
    scheme, colon, rest = uri.partition(":")
    if not colon or not rest.startswith("//"):
        return uri
    try:
        parts = urlsplit(rest)
    except ValueError:
        return f"{scheme}:{HIDDEN}"
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:{HIDDEN}@{host}"
    path = parts.path
    if scheme.startswith("webhook") and path not in ("", "/"):
        path = f"/{HIDDEN}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode([(k, v if k == "min" else HIDDEN) for k, v in pairs], safe="*")
    return f"{scheme}:{urlunsplit(('', netloc, path, query, parts.fragment))}"
