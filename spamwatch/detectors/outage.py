"""Which deferrals mean "that destination cannot be reached", and which mean "not your mail".

A queue grows for two very different reasons. The world may refuse our mail
(a blocklist, a provider's rate limit for unsolicited mail, full mailboxes of
harvested addresses): a spam run's signature. Or one destination or the
relayhost is down (connections time out, are refused or lost, its servers
greylist or say "try again later"): every user's mail to it waits, nobody
abuses anything, and the admin wants to hear about the destination, not about
the users whose mail waits. ``connection_failure`` tells the second kind from
a deferral reason as Postfix's smtp client logs it, and names the server it
failed to reach and how.
"""

from __future__ import annotations

import re

from spamwatch.detectors.blocklists import Matcher, builtin

SUSPENDED = "delivery temporarily suspended: "
"""qmgr's prefix for the next messages to a destination already found dead."""

_HOST = r"([^\s\[\]]+)\[[^\]]*\]"
_CONNECT = re.compile(rf"^connect to {_HOST}(?::\d+)?: (.+)$")  # the text is stripped
_LOST = re.compile(rf"^lost connection with {_HOST} while ")
_CONVERSATION = re.compile(rf"^conversation with {_HOST} timed out while ")
_NAME_SERVICE = re.compile(
    r"Name service error for name=(\S+) type=\w+: (Host not found, try again)"
)
_SAID = re.compile(rf"^host {_HOST} said: (4\d\d[ -].*)$")
_TRY_AGAIN = re.compile(
    r"greylist|try again|come back later|temporar|not available|unavailable|too busy", re.I
)
_REFUSAL = re.compile(
    r"\b(?:rate|too many|unsolicited|spam|block|listed|reputation|complain|policy|volume"
    r"|mailbox|quota|over limit|unknown)",
    re.I,
)
"""Words of a 4xx that refuses our mail (or one mailbox), not the connection."""
_ANGLED = re.compile(r"<[^<>]*>:?\s*")
_MARKER = re.compile(r"(\d{3})-(\d\.\d{1,3}\.\d{1,3})?")
_CITED = Matcher(tuple(builtin().values()))
FAILURE_LIMIT = 80
REPLY_TAIL = "(in reply to "


def without_reply_tail(text: str) -> str:
    """``text`` without Postfix's closing ``(in reply to X command)`` and the space before it.

    What ``\\s*\\(in reply to [^)]*\\)\\s*$`` would cut, found from the end
    instead: that pattern, tried at every start of a long run of spaces or of
    ``(in reply to ``, rescans to the end of the line from each, and the text
    is a remote server's (test_detect_linear).
    """
    text = text.rstrip()
    if not text.endswith(")"):
        return text
    inner = text.rfind(")", 0, len(text) - 1)  # the tail's text holds no ")"
    start = text.find(REPLY_TAIL, inner + 1)
    return text if start < 0 else text[:start].rstrip()


def connection_failure(reason: str | None) -> tuple[str, str] | None:
    """(server, failure) when a deferral says the server could not be reached, else None.

    Counted: connections timed out, refused, unreachable or lost, a
    conversation that timed out, a temporary DNS failure, and 4xx replies
    that only say "try again later" (greylisting, a busy or unavailable
    service). Not counted: any reply citing a blocklist or a reputation or
    rate limit, and per-mailbox answers (full, unknown): those refuse *our*
    mail, the business of the reputation and bounces detectors.
    """
    text = (reason or "").strip()
    if text.startswith(SUSPENDED):
        text = text[len(SUSPENDED) :]
    found = _CONNECT.match(text)
    if found:
        return found.group(1).lower(), _short(found.group(2))
    for pattern, failure in ((_LOST, "lost connection"), (_CONVERSATION, "conversation timed out")):
        found = pattern.match(text)
        if found:
            return found.group(1).lower(), failure
    found = _NAME_SERVICE.search(text)
    if found:
        return found.group(1).lower().rstrip("."), found.group(2)
    found = _SAID.match(without_reply_tail(text))
    if found is None:
        return None
    reply = _MARKER.sub(r"\1 \2", _ANGLED.sub("", found.group(2)))
    if not _TRY_AGAIN.search(reply) or _REFUSAL.search(reply):
        return None
    if _CITED.first(reply) is not None:
        return None
    return found.group(1).lower(), _short(reply)


def _short(text: str) -> str:
    """One line, at most FAILURE_LIMIT characters (alike failures group together)."""
    text = " ".join(text.split())
    return text if len(text) <= FAILURE_LIMIT else text[: FAILURE_LIMIT - 3] + "..."
