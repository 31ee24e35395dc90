"""How sinks word a finding: its JSON line, a headline, a description, a console.

Senders, HELO names, usernames and reasons come from the log, so from whoever
talks to the mail server: everything here goes through ``spamwatch.textsafe``
(control characters shown as visible escapes); rich markup is escaped where
rich renders (console.py).
"""

from __future__ import annotations

import errno
import json
from typing import Any, TextIO

from rich.console import Console

from spamwatch.model import Finding
from spamwatch.sinks.record import alert_json
from spamwatch.textsafe import clean, json_line


def finding_json(finding: Finding) -> str:
    """The finding's JSON form on one line, safe to write to a terminal.

    ``json`` already escapes C0 controls; C1 controls and U+2028/9 would pass
    through with ``ensure_ascii=False``, so they are escaped as ``\\uXXXX`` too
    (still valid JSON that decodes back to the original text).
    """
    return json_line(finding.to_json())


def alert_line(record: Any) -> str:
    """What alert sinks write: the record's JSON form plus its ``alert_id``, on one safe line."""
    return json_line(alert_json(record))


def headline(finding: Finding) -> str:
    """One line saying who and what: "CRITICAL raised burst: sasl_username alice (mx1)".

    Used as the mail subject, the syslog message start and the webhook ``text``.
    """
    where = f" on {finding.host}" if finding.host else ""
    return clean(
        f"{str(finding.severity).upper()} {finding.state} {finding.detector}: "
        f"{finding.key_kind} {finding.key}{where}"
    )


def describe(finding: Finding) -> list[str]:
    """A few human lines about a finding (mail body, webhook text), all cleaned."""
    lines = [
        headline(finding),
        clean(finding.summary),
        "",
        f"finding:    {clean(finding.id)}",
        f"first seen: {finding.first_seen.isoformat()}",
        f"last seen:  {finding.last_seen.isoformat()}",
        f"raised at:  {finding.raised_at.isoformat()}",
    ]
    for name, value in sorted(finding.counts.items()):
        lines.append(f"{clean(name)}: {clean(value)}")
    for name, value in sorted(finding.to_json()["evidence"].items()):
        lines.append(f"{clean(name)}: {clean(_compact(value))}")
    return lines


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


class _PipeConsole(Console):
    """rich's Console, except that a closed pipe is an ordinary ``BrokenPipeError``.

    rich answers EPIPE by pointing stdout at /dev/null and raising
    ``SystemExit(1)``, which skips ``follow``'s state save and makes
    ``report | head`` fail; the CLI already ends a command cleanly on it.
    """

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(errno.EPIPE, "the reader of the output went away")


def log_console(stream: TextIO | None = None, **options: Any) -> Console:
    """A rich Console for text from the log: no markup, highlighting or emoji is applied."""
    return _PipeConsole(file=stream, highlight=False, markup=False, emoji=False, **options)
