"""Which messages a login still has in the queue, read back from the log.

``postqueue -j`` lists senders, not SASL logins; only the log joins a login to
its queue ids. ``follow`` keeps that join live (responder.py); ``spamwatch
contain LOGIN`` typed by hand reads the last ``[contain] lookback`` of the log
instead, through the same parser and correlator, and keeps the messages that
were queued and not yet removed at the end of the log.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from spamwatch.config import Config
from spamwatch.contain.settings import ContainSettings
from spamwatch.correlate import Correlator
from spamwatch.errors import InputError
from spamwatch.model import MessageUpdate, Stage
from spamwatch.parse import ParseOptions, Parser
from spamwatch.sources.backwards import read_back, time_before
from spamwatch.sources.reader import open_log


@dataclass
class LoginMail:
    """A login's queued messages (queue id -> sender) and client addresses, from the log."""

    queued: dict[str, str | None] = field(default_factory=dict)
    addresses: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def scan(
    paths: Sequence[str],
    login: str,
    settings: ContainSettings,
    config: Config,
    parse_options: ParseOptions,
) -> LoginMail:
    """Read back ``settings.lookback`` of each log for ``login``'s queued mail."""
    out = LoginMail()
    wanted = login.strip().lower()
    for path in paths:
        try:
            fd, _ = open_log(path)
            os.close(fd)
        except (FileNotFoundError, InputError) as exc:
            reason = "no such file" if isinstance(exc, FileNotFoundError) else str(exc)
            out.notes.append(f"{path}: not read ({reason}); its queued mail is unknown")
            continue
        parser = Parser(parse_options)
        end = os.path.getsize(path)
        last = time_before(path, end, parser.line_time)
        if last is None:
            continue
        correlator = Correlator.from_config(config)
        for line in read_back(path, end, last - settings.lookback, parser.line_time):
            event = parser.parse(line)
            if event is not None:
                for update in correlator.feed(event):
                    _note(update, wanted, out)
    return out


def _note(update: MessageUpdate, login: str, out: LoginMail) -> None:
    message = update.message
    if (message.sasl_username or "").strip().lower() != login:
        return
    if update.stage is Stage.QUEUED:
        out.queued[message.queue_id] = message.sender
        if message.client_ip and message.client_ip not in out.addresses:
            out.addresses.append(message.client_ip)
    elif update.stage is Stage.DONE:
        out.queued.pop(message.queue_id, None)
