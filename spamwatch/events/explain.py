"""``events --explain``: for each line, how it was read or why not, as a person reads it.

Why: "why did spamwatch not see this line" is the first question a new site
asks; the answer shows the line as data (control characters escaped) and the
fields the parser took from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO, TextIO

from spamwatch.correlate import Correlator
from spamwatch.jsonform import event_to_json
from spamwatch.parse import Parser
from spamwatch.parse.parser import Explanation, ParseStats
from spamwatch.sources.files import iter_lines
from spamwatch.textsafe import clean


def explainer(
    parser: Parser, correlator: Correlator, stats: ParseStats, out: TextIO
) -> Callable[[BinaryIO, str], int]:
    """Print one human block per line; tally outcomes into ``stats``."""

    def run(stream: BinaryIO, path: str) -> int:
        for line in iter_lines(stream, path):
            stats.lines += 1
            explanation = parser.explain(line)
            _tally(stats, explanation)
            out.write(_explain_block(stats.lines, line, explanation))
            if explanation.event is not None:
                correlator.feed(explanation.event)
        return 0

    return run


def _tally(stats: ParseStats, explanation: Explanation) -> None:
    """Count an explained line the way ``Parser.parse`` counts a parsed one."""
    event = explanation.event
    if event is not None:
        stats.events += 1
        stats.by_kind[event.kind] = stats.by_kind.get(event.kind, 0) + 1
    elif explanation.outcome in ("non_postfix", "unrecognised", "skipped"):
        setattr(stats, explanation.outcome, getattr(stats, explanation.outcome) + 1)
    else:
        stats.malformed += 1


def _explain_block(number: int, line: bytes, explanation: Explanation) -> str:
    """Line N as data (control characters escaped), the outcome, and the fields."""
    text = clean(line.decode("utf-8", "backslashreplace"))
    head = f"line {number}: {text}\n"
    event = explanation.event
    if event is None:
        return f"{head}  {explanation.outcome}: {clean(explanation.reason)}\n\n"
    parts = [f"{key}={_shown(value)}" for key, value in event_to_json(event).items()]
    return f"{head}  event {event.kind}: {clean(explanation.reason)}\n  {' '.join(parts)}\n\n"


def _shown(value: object) -> str:
    """A field value for --explain: text quoted when it has blanks, escaped always."""
    if value is None:
        return "null"
    text = clean(value)
    if isinstance(value, str) and (not text or " " in text or '"' in text):
        return '"' + text.replace('"', '\\"') + '"'
    return text
