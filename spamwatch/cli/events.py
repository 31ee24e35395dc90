"""``spamwatch events``: the log as JSON Lines of events or messages, or explained.

The command drives the parser and the correlator directly rather than through
``Pipeline``: with no detectors the pipeline's per-event clock ticks are pure
overhead (``--messages`` over 300k synthetic lines: 3.0-3.2 s direct, 3.9-4.1 s
through a detector-less Pipeline), and this command is the one the speed
benchmark times.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import ExitStack
from typing import BinaryIO, TextIO

import click

from spamwatch.cli.common import config_option, load, parse_options
from spamwatch.correlate import KINDS, Correlator, CorrelatorStats
from spamwatch.errors import UsageError
from spamwatch.jsonform import dumps, event_to_json, message_to_json
from spamwatch.model import Stage
from spamwatch.parse import Parser
from spamwatch.parse.options import build_parse_options
from spamwatch.parse.parser import Explanation, ParseStats
from spamwatch.screen import ReadingProgress
from spamwatch.sources.files import DEFAULT_LOG, file_anchor, iter_blocks, iter_lines, open_binary
from spamwatch.textsafe import clean

MESSAGE_STATES = ("done", "expired", "rejected", "discarded", "deleted", "incomplete")


@click.command("events", short_help="Print the log as JSON Lines of events or messages.")
@click.argument("files", nargs=-1, metavar="[FILE]...")
@click.option("--messages", is_flag=True, help="Print each finished message instead of events.")
@click.option(
    "--include-open",
    is_flag=True,
    help="With --messages: at the end also print messages still queued (state queued).",
)
@click.option("--explain", is_flag=True, help="Say for each line how it was read, or why not.")
@config_option
@parse_options
def events(
    files: tuple[str, ...],
    messages: bool,
    include_open: bool,
    explain: bool,
    config_path: str | None,
    timezone: str | None,
    year: int | None,
    syslog_names: tuple[str, ...],
) -> int:
    """Print the events (or messages) spamwatch reads from FILE as JSON Lines.

    \b
    FILE defaults to /var/log/mail.log; "-" reads stdin; .gz files are read
    transparently. A summary of what was read goes to stderr, and a progress
    bar while it reads when stderr is a terminal and stdout is not.
    """
    if messages and explain:
        raise UsageError("--messages and --explain cannot be combined")
    if include_open and not messages:
        raise UsageError("--include-open needs --messages")
    config = load(config_path)
    options = build_parse_options(config, timezone, year, syslog_names)
    parser = Parser(options, kinds=KINDS if messages else None, queue_ids_only=messages)
    stages = (Stage.DONE,) if messages else ()
    correlator = Correlator.from_config(config, stages=stages, flush_open=include_open)
    out = sys.stdout
    if explain:
        stats = ParseStats()
        run = _explainer(parser, correlator, stats, out)
    else:
        stats = parser.stats
        run = _messages(parser, correlator, out) if messages else _events(parser, correlator, out)
    printed = 0
    with ExitStack() as stack:
        # Open every file first: a typo in the last name fails before any output.
        sources = [(path, _open(path, stack)) for path in files or (DEFAULT_LOG,)]
        paths = [path for path, _stream in sources]
        with ReadingProgress(paths, lambda: stats.lines, output_while_reading=True):
            for path, stream in sources:
                parser.begin_source(file_anchor(path))
                printed += run(stream, path)
    if messages:
        for update in correlator.flush():
            out.write(dumps(message_to_json(update.message)) + "\n")
            printed += 1
    else:
        correlator.flush()
    out.flush()
    click.echo(_summary(stats, correlator.stats, printed if messages else None), err=True)
    return 0


Runner = Callable[[BinaryIO, str], int]
"""Reads one opened source to its end; returns how many messages it printed."""


def _events(parser: Parser, correlator: Correlator, out: TextIO) -> Runner:
    """Print every event; feed the correlator only to count messages."""
    parse, feed, write = parser.parse, correlator.feed, out.write

    def run(stream: BinaryIO, path: str) -> int:
        for line in iter_lines(stream, path):
            event = parse(line)
            if event is not None:
                write(dumps(event_to_json(event)) + "\n")
                feed(event)
        return 0

    return run


def _messages(parser: Parser, correlator: Correlator, out: TextIO) -> Runner:
    """Print each message as it ends; returns how many were printed.

    Works a block at a time: the parser (``queue_ids_only``) picks the lines
    that can carry a queue id in C and counts the rest unread, the correlator
    takes the block's events in one call, and the block's messages are
    written at once.
    """
    parse_block, feed_many, write = parser.parse_block, correlator.feed_many, out.write

    def run(stream: BinaryIO, path: str) -> int:
        printed = 0
        for block in iter_blocks(stream, path):
            updates = feed_many(parse_block(block))
            if updates:
                write("".join([dumps(message_to_json(u.message)) + "\n" for u in updates]))
                printed += len(updates)
        return printed

    return run


def _explainer(parser: Parser, correlator: Correlator, stats: ParseStats, out: TextIO) -> Runner:
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


def _open(path: str, stack: ExitStack) -> BinaryIO:
    """Open ``path`` (InputError if it cannot be read); stdin is never closed."""
    stream = open_binary(path)
    if path != "-":
        stack.enter_context(stream)
    return stream


def _summary(parsed: ParseStats, corr: CorrelatorStats, printed: int | None) -> str:
    """The one stderr line saying what was read (and what could not be)."""
    text = (
        f"spamwatch events: {parsed.lines} lines read, {parsed.events} events, "
        f"{parsed.unrecognised} unrecognised Postfix lines, {parsed.non_postfix} non-Postfix "
        f"lines, {parsed.malformed} malformed"
    )
    if parsed.skipped:
        text += f", {parsed.skipped} lines not needed (skipped unread)"
    ends = [f"{getattr(corr, s)} {s}" for s in MESSAGE_STATES if getattr(corr, s)]
    if corr.open_at_end:
        ends.append(f"{corr.open_at_end} still queued at end")
    text += f"; {corr.messages} messages" + (f" ({', '.join(ends)})" if ends else "")
    if printed is not None:
        text += f", {printed} printed"
    return text


COMMANDS: list[click.Command] = [events]
