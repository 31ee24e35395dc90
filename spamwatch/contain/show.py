"""What ``contain`` and ``release`` print: each step and its commands, the ledger's logins.

Why apart from the commands: an admin reads these lines to decide whether the
lock did what it said, so one place words them, and every text that came
from the log or the config is escaped (``textsafe.clean``).
"""

from __future__ import annotations

import json

from spamwatch.contain.engine import Outcome
from spamwatch.contain.ledger import Entry
from spamwatch.textsafe import clean


def outcome_lines(outcome: Outcome, preview: bool = False) -> list[str]:
    """Each step, the exact commands (and map line, queue ids), then the summary.

    ``preview``: the plan shown before a real release, which is not a dry run:
    no status and no "dry run, nothing changed" summary (the outcome follows).
    """
    lines = []
    for step in outcome.steps:
        status = "" if preview else f"{step.status}: "
        lines.append(f"{step.name.replace('_', ' ')}: {status}{clean(step.detail)}")
        if step.map_line:
            lines.append(f"  map line: {clean(step.map_line.rstrip())}")
        lines.extend(f"  $ {command}" for command in step.commands)
        if step.queue_ids:
            lines.append(f"  queue ids: {' '.join(step.queue_ids)}")
    if not preview:
        lines.append(f"{clean(outcome.login, limit=80)}: {clean(outcome.summary())}")
    return lines


def ledger_lines(entries: list[tuple[Entry, bool]], output_format: str) -> list[str]:
    """``contain --list``: each contained login (and whether the map still holds it).

    JSON Lines for ``json``; else one line each, or a sentence when there is none.
    """
    if output_format == "json":
        return [
            json.dumps(
                {**entry.__dict__, "held": len(entry.held), "in_map": in_map}, ensure_ascii=True
            )
            for entry, in_map in entries
        ]
    if not entries:
        return ["No login is contained by spamwatch."]
    lines = []
    for entry, in_map in entries:
        lock = "locked" if in_map else ("NOT in the map" if entry.locked else "not locked")
        lines.append(
            f"{clean(entry.login, limit=80)}: {lock}, {len(entry.held)} held;"
            f" {entry.at} by {clean(entry.by)} ({entry.trigger}); why: {clean(entry.reason)}"
        )
    return lines
