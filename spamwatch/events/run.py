"""Read files through the parser and the correlator and print what they make of them.

This drives the parser and the correlator directly rather than through
``Pipeline``: with no detectors the pipeline's per-event clock ticks are pure
overhead (``--messages`` over 300k synthetic lines: 3.0-3.2 s direct, 3.9-4.1 s
through a detector-less Pipeline), and this command is the one the speed
benchmark times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import BinaryIO, TextIO

from spamwatch.config import Config
from spamwatch.correlate import KINDS, Correlator, CorrelatorStats
from spamwatch.events.explain import explainer
from spamwatch.gcpolicy import few_collections
from spamwatch.jsonform import dumps, event_to_json, message_to_json
from spamwatch.model import Event, Stage
from spamwatch.parse import Parser
from spamwatch.parse.forked import blocks_forked, worth_forking
from spamwatch.parse.options import ParseOptions
from spamwatch.parse.parser import ParseStats
from spamwatch.screen import ReadingProgress
from spamwatch.sources.files import file_anchor, iter_blocks, iter_lines, open_binary

MESSAGE_STATES = ("done", "expired", "rejected", "discarded", "deleted", "incomplete")

Runner = Callable[[BinaryIO, str], int]
"""Reads one opened source to its end; returns how many messages it printed."""


def print_events(
    config: Config,
    options: ParseOptions,
    paths: Sequence[str],
    out: TextIO,
    messages: bool = False,
    include_open: bool = False,
    explain: bool = False,
    jobs: int = 1,
) -> str:
    """Print the events, finished messages or explained lines of ``paths`` to ``out``.

    Returns the one summary line of what was read, for stderr. Every file is
    opened before anything is printed: a typo in the last name fails first.
    ``jobs`` (``parse.forked.worth_forking``): messages are read and parsed in
    a second process.
    """
    parser = Parser(options, kinds=KINDS if messages else None, queue_ids_only=messages)
    stages = (Stage.DONE,) if messages else ()
    correlator = Correlator.from_config(config, stages=stages, flush_open=include_open)
    if explain:
        stats = ParseStats()
        run = explainer(parser, correlator, stats, out)
    else:
        stats = parser.stats
        run = _messages(parser, correlator, out) if messages else _events(parser, correlator, out)
    printed = 0
    with ExitStack() as stack, few_collections():
        sources = [(path, _open(path, stack)) for path in paths]
        with ReadingProgress(list(paths), lambda: stats.lines, output_while_reading=True):
            if messages and worth_forking(jobs, list(paths)):
                printed += _messages_forked(parser, correlator, out, sources)
            else:
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
    return _summary(stats, correlator.stats, printed if messages else None)


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


def _messages_forked(
    parser: Parser, correlator: Correlator, out: TextIO, sources: list[tuple[str, BinaryIO]]
) -> int:
    """``_messages`` over every source, the reading and parsing in a forked child.

    The child runs the very ``parse_block`` calls one process would, on its
    copy of ``parser`` (``parse.forked``: the same events, in the same order),
    while this process joins them into messages and prints them; so the
    output is byte for byte that of one process. ``parser.stats`` follows the
    child's line count for the progress bar and is the child's at the end.
    """

    def blocks() -> Iterator[tuple[list[Event], int]]:
        parser.tuples = True  # in the child: rows to send on, no Events built there
        for path, stream in sources:
            parser.begin_source(file_anchor(path))
            for block in iter_blocks(stream, path):
                yield parser.parse_block(block), parser.stats.lines

    feed_many, write = correlator.feed_many, out.write
    printed = 0
    for events, lines in blocks_forked(parser, blocks):
        parser.stats.lines = lines
        updates = feed_many(events)
        if updates:
            write("".join([dumps(message_to_json(u.message)) + "\n" for u in updates]))
            printed += len(updates)
    return printed


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
