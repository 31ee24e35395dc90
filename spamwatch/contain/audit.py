"""The audit log: every containment action and its outcome, one JSON line each.

Anything that changes the mail system must leave a trace an admin (or an
auditor) can read months later: who locked which login, when, why, with which
commands, and whether it worked. The file is append-only JSON Lines (opened
with O_APPEND, one ``write`` per record, so two writers never interleave a
line); spamwatch never rewrites or truncates it. A record is written *before*
anything is changed: when the log cannot be written, nothing is done.

Fields of every record (man/spamwatch.1, CONTAINMENT AUDIT LOG):

``time``      wall-clock time of the record, ISO 8601 with milliseconds, UTC
``action``    contain | release | lock | unlock | hold | release_held |
              purge_held | hook | release_hook | reload | refused
``login``     the SASL login (as text, control characters escaped)
``outcome``   planned | done | failed | skipped | dry-run | refused
``dry_run``   true when nothing was changed on purpose
``trigger``   auto (follow) | manual (the command line)
``by``        who: "follow (auto)" or the user running the command
``incident``  the finding or incident id that triggered it ("" when manual)
``reason``    why: the finding's summary, or the refusal's reason
``detail``    the outcome in words (the command's error when it failed)
``commands``  the commands run or that would run, shell-quoted
``map_line``  the map line written or removed ("" when none)
``queue_ids`` the queue ids held, released or deleted
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from spamwatch.errors import ContainError
from spamwatch.safefiles import open_service_file
from spamwatch.textsafe import clean

FIELDS = (
    "time",
    "action",
    "login",
    "outcome",
    "dry_run",
    "trigger",
    "by",
    "incident",
    "reason",
    "detail",
    "commands",
    "map_line",
    "queue_ids",
)
"""The documented fields, in the order each record lists them."""


def now_iso() -> str:
    """Wall-clock now as the audit log and the ledger write it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class AuditLog:
    """Append-only JSON Lines at ``path`` (created 0600 with its directory)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def write(
        self,
        action: str,
        login: str,
        outcome: str,
        *,
        dry_run: bool,
        trigger: str,
        by: str,
        incident: str = "",
        reason: str = "",
        detail: str = "",
        commands: Sequence[str] = (),
        map_line: str = "",
        queue_ids: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Append one record; ContainError when the log cannot be written."""
        record: dict[str, Any] = {
            "time": now_iso(),
            "action": action,
            "login": clean(login, limit=400),
            "outcome": outcome,
            "dry_run": dry_run,
            "trigger": trigger,
            "by": clean(by, limit=200),
            "incident": clean(incident, limit=400),
            "reason": clean(reason, limit=2000),
            "detail": clean(detail, limit=2000),
            "commands": [clean(c, limit=2000) for c in commands],
            "map_line": clean(map_line.rstrip("\n"), limit=800),
            "queue_ids": list(queue_ids),
        }
        line = (json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n").encode()
        try:
            os.makedirs(os.path.dirname(self.path) or ".", mode=0o750, exist_ok=True)
            fd = open_service_file(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            raise ContainError(
                f"{self.path}: cannot write the audit log ({exc.strerror})"
            ) from None
        return record

    def read(self) -> list[dict[str, Any]]:
        """Every record so far (a torn or foreign line is skipped)."""
        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ContainError(f"{self.path}: cannot read the audit log: {exc.strerror}") from None
        out = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out
