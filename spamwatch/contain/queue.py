"""Holding a login's queued mail: only its queue ids, confirmed, in batches.

Which messages are the login's comes from the log (the correlator joins the
smtpd ``sasl_username=`` line to the queue id); ``postqueue -j`` confirms that
each id is still queued, with the sender the log gave it (Postfix reuses queue
ids, so an id alone could name somebody else's newer message). Then
``postsuper -h -`` reads the confirmed ids on standard input, ``batch`` at a
time: never ``ALL``, never the whole queue, and no id on a command line.
Release (``postsuper -H -``) and purge (``postsuper -d - hold``) touch only
ids spamwatch itself put on hold that are still in the hold queue.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from spamwatch.contain.commands import Runner, shown
from spamwatch.errors import ContainError
from spamwatch.sources.queue import queue_records

QUEUE_ID = re.compile(r"[0-9A-Za-z]{5,32}")
"""A Postfix queue id (short hex or long form): anything else never reaches postsuper."""


@dataclass(frozen=True, slots=True)
class Queued:
    """One message as ``postqueue -j`` lists it."""

    queue_id: str
    queue_name: str
    sender: str


def parse_listing(lines: Iterable[str]) -> dict[str, Queued]:
    """``postqueue -j`` output by queue id (malformed lines skipped)."""
    out: dict[str, Queued] = {}
    for record in queue_records(lines):
        qid = record.get("queue_id")
        if isinstance(qid, str) and QUEUE_ID.fullmatch(qid):
            out[qid] = Queued(qid, str(record.get("queue_name", "")), str(record.get("sender", "")))
    return out


@dataclass
class Confirmed:
    """Candidates sorted by what the queue says about them."""

    to_hold: list[str] = field(default_factory=list)
    already_held: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)  # delivered or removed meanwhile
    other_sender: list[str] = field(default_factory=list)  # the id now names other mail


def confirm(candidates: Mapping[str, str | None], listing: Mapping[str, Queued]) -> Confirmed:
    """Check each candidate id (-> its sender from the log, None if unknown) against the queue."""
    out = Confirmed()
    for qid, sender in sorted(candidates.items()):
        found = listing.get(qid)
        if not QUEUE_ID.fullmatch(qid) or found is None:
            out.gone.append(qid)
        elif sender is not None and found.sender.lower() != sender.lower():
            out.other_sender.append(qid)
        elif found.queue_name == "hold":
            out.already_held.append(qid)
        else:
            out.to_hold.append(qid)
    return out


def batches(ids: Sequence[str], size: int) -> list[list[str]]:
    """``ids`` in chunks of ``size`` (postsuper reads each chunk on stdin)."""
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


class Queue:
    """``postqueue -j`` and ``postsuper`` for one Postfix instance."""

    def __init__(self, runner: Runner, batch: int = 100) -> None:
        self.runner = runner
        self.batch = max(1, batch)

    def listing(self) -> dict[str, Queued]:
        """The whole queue now (``postqueue -j``)."""
        result = self.runner.run(self.runner.argv("postqueue", "-j"))
        return parse_listing(result.stdout.splitlines())

    def hold_commands(self, ids: Sequence[str]) -> list[str]:
        return self._commands(["-h", "-"], ids)

    def release_commands(self, ids: Sequence[str], purge: bool) -> list[str]:
        return self._commands(["-d", "-", "hold"] if purge else ["-H", "-"], ids)

    def _commands(self, args: list[str], ids: Sequence[str]) -> list[str]:
        if not ids:
            return []
        argv = shown(self.runner.argv("postsuper", *args))
        return [f"{argv} < ({len(chunk)} queue ids)" for chunk in batches(ids, self.batch)]

    def hold(self, ids: Sequence[str]) -> int:
        """Put ``ids`` on hold; returns how many postsuper says it held."""
        return self._postsuper(["-h", "-"], ids, "Placed on hold")

    def release(self, ids: Sequence[str]) -> int:
        """Take ``ids`` off hold (they go to the deferred queue and are sent)."""
        return self._postsuper(["-H", "-"], ids, "Released from hold")

    def purge(self, ids: Sequence[str]) -> int:
        """Delete ``ids``, only from the hold queue."""
        return self._postsuper(["-d", "-", "hold"], ids, "Deleted")

    def _postsuper(self, args: list[str], ids: Sequence[str], said: str) -> int:
        """Run postsuper on ``ids`` batch by batch; BatchError says how far it got."""
        if any(not QUEUE_ID.fullmatch(qid) for qid in ids):
            raise ContainError("refusing a queue id that is not one (internal check)")
        argv = self.runner.argv("postsuper", *args)
        count = 0
        done: list[str] = []
        for chunk in batches(ids, self.batch):
            try:
                result = self.runner.run(argv, stdin="".join(f"{qid}\n" for qid in chunk))
            except ContainError as exc:
                raise BatchError(str(exc), done, count) from None
            count += _count(result.stderr + result.stdout, said, len(chunk))
            done.extend(chunk)
        return count


class BatchError(ContainError):
    """postsuper failed part-way: ``done`` lists the ids of the batches that went through."""

    def __init__(self, message: str, done: list[str], count: int) -> None:
        super().__init__(message)
        self.done = done
        self.count = count


def _count(output: str, said: str, fallback: int) -> int:
    """The count postsuper reports ("postsuper: Placed on hold: 3 messages"); 0 when silent."""
    match = re.search(rf"{said}: (\d+) message", output)
    if match:
        return int(match.group(1))
    return 0 if output.strip() == "" else fallback
