"""How sinks word an incident record: its JSON line, a headline, a description, a console.

Senders, HELO names, usernames and reasons come from the log, so from whoever
talks to the mail server: everything here goes through ``spamwatch.textsafe``
(control characters shown as visible escapes); rich markup is escaped where
rich renders (console.py).
"""

from __future__ import annotations

import errno
from typing import Any, TextIO

from rich.console import Console

from spamwatch.incidents.story import label, story
from spamwatch.model import Incident
from spamwatch.sinks.record import alert_json
from spamwatch.textsafe import clean, json_line


def incident_json(incident: Incident) -> str:
    """The incident record's JSON form on one line, safe to write to a terminal.

    ``json`` already escapes C0 controls; C1 controls and U+2028/9 would pass
    through with ``ensure_ascii=False``, so they are escaped as ``\\uXXXX`` too
    (still valid JSON that decodes back to the original text).
    """
    return json_line(incident.to_json())


def alert_line(record: Any) -> str:
    """What alert sinks write: the record's JSON form plus its ``alert_id``, on one safe line."""
    return json_line(alert_json(record))


def headline(incident: Incident) -> str:
    """One line saying who and what: "CRITICAL opened: login alice@example.com on mx1".

    Used as the mail subject, the syslog message start and the webhook ``text``.
    """
    where = f" on {', '.join(incident.hosts)}" if incident.hosts else ""
    return clean(f"{str(incident.severity).upper()} {incident.state}: {label(incident)}{where}")


def describe(incident: Incident, postfix_config: str | None = None) -> list[str]:
    """Human lines about an incident (mail body): its block with every finding's details.

    ``postfix_config``: the Postfix instance its next steps name (see ``story``).
    """
    block = story(incident, detail=True, postfix_config=postfix_config)
    return [headline(incident), clean(incident.summary), "", *block]


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
