"""What remote sites and our own smtpd answer when mail is deferred, bounced or rejected.

Why: the detectors read deferral and bounce reasons (rate limits, spam
blocks, unknown users), so each provider family answers in its own words.
"""

from __future__ import annotations

# Remote replies by provider family ("*": any other site). Each family has
# (ordinary, spam) tables of (dsn, reason template) for deferrals and bounces.
_GREYLIST = (
    "4.7.1",
    "host {mx}[{ip}] said: 451 4.7.1 Greylisting in action, please come back later"
    " (in reply to RCPT TO command)",
)


_TIMEOUT = ("4.4.1", "connect to {mx}[{ip}]:25: Connection timed out")


_FULL = (
    "4.2.2",
    "host {mx}[{ip}] said: 452 4.2.2 <{rcpt}> Mailbox full (in reply to RCPT TO command)",
)


_RATE = (
    "4.7.0",
    "host {mx}[{ip}] said: 421 4.7.0 Too many messages from {me}, try again later"
    " (in reply to MAIL FROM command)",
)


_NO_USER = (
    "5.1.1",
    "host {mx}[{ip}] said: 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown"
    " in virtual mailbox table (in reply to RCPT TO command)",
)


_SPAMHAUS = (
    "5.7.1",
    "host {mx}[{ip}] said: 554 5.7.1 Service unavailable; Client host [{me}] blocked"
    " using zen.spamhaus.org; https://www.spamhaus.org/query/ip/{me} (in reply to RCPT TO"
    " command)",
)


_CONTENT = (
    "5.7.1",
    "host {mx}[{ip}] said: 554 5.7.1 Message rejected as spam by Content Filtering."
    " (in reply to end of DATA command)",
)


_GMAIL_NO_USER = (
    "5.1.1",
    "host {mx}[{ip}] said: 550-5.1.1 The email account that you tried to reach does not"
    " exist. Please try double-checking the recipient's email address for typos or"
    " unnecessary spaces. (in reply to RCPT TO command)",
)


_GMAIL_RATE = (
    "4.7.28",
    "host {mx}[{ip}] said: 421-4.7.28 Gmail has detected an unusual rate of unsolicited"
    " mail originating from your IP address. To protect our users from spam, mail sent"
    " from your IP address has been temporarily rate limited. (in reply to end of DATA"
    " command)",
)


_GMAIL_SPAM = (
    "5.7.1",
    "host {mx}[{ip}] said: 550-5.7.1 Gmail has detected that this message is likely"
    " unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been"
    " blocked. (in reply to end of DATA command)",
)


_YAHOO_RATE = (
    "4.7.0",
    "host {mx}[{ip}] said: 421 4.7.0 [TSS04] Messages from {me} temporarily deferred due"
    " to unexpected volume or user complaints - 4.16.55.1; see"
    " https://postmaster.yahooinc.com/error-codes (in reply to MAIL FROM command)",
)


_YAHOO_NO_USER = (
    "5.1.1",
    "host {mx}[{ip}] said: 554 delivery error: dd This user doesn't have a yahoo.com"
    " account ({rcpt}) [0] - mta1234.mail.gq1.yahoo.com (in reply to end of DATA command)",
)


_OUTLOOK_SPAM = (
    "5.7.1",
    "host {mx}[{ip}] said: 550 5.7.1 Unfortunately, messages from [{me}] weren't sent."
    " Please contact your Internet service provider since part of their network is on our"
    " block list (S3150). (in reply to MAIL FROM command)",
)


REPLIES: dict[str, dict[str, tuple[tuple[tuple[str, str], ...], ...]]] = {
    # family: {"deferred": (ordinary, spam), "bounced": (ordinary, spam)}
    "gmail": {
        "deferred": ((_GREYLIST, _FULL), (_GMAIL_RATE, _GMAIL_RATE, _TIMEOUT)),
        "bounced": ((_GMAIL_NO_USER,), (_GMAIL_SPAM, _GMAIL_NO_USER)),
    },
    "yahoo": {
        "deferred": ((_FULL,), (_YAHOO_RATE,)),
        "bounced": ((_YAHOO_NO_USER,), (_YAHOO_NO_USER,)),
    },
    "outlook": {
        "deferred": ((_FULL,), (_RATE, _TIMEOUT)),
        "bounced": ((_NO_USER,), (_OUTLOOK_SPAM, _NO_USER)),
    },
    "*": {
        "deferred": ((_GREYLIST, _TIMEOUT, _FULL), (_GREYLIST, _RATE, _TIMEOUT)),
        "bounced": ((_NO_USER,), (_SPAMHAUS, _CONTENT, _NO_USER)),
    },
}


FAMILY = {"gmail.com": "gmail", "googlemail.com": "gmail", "yahoo.com": "yahoo"}
FAMILY |= {"outlook.com": "outlook", "hotmail.com": "outlook"}


NOQUEUE_REJECTS = (  # the last one is for remote recipients only
    (
        "554",
        "5.7.1",
        "Service unavailable; Client host [{ip}] blocked using zen.spamhaus.org;"
        " https://www.spamhaus.org/query/ip/{ip}",
    ),
    ("450", "4.1.8", "<{sender}>: Sender address rejected: Domain not found"),
    ("550", "5.1.1", "<{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table"),
    (
        "450",
        "4.7.25",
        "Client host rejected: cannot find your hostname, [{ip}]",
    ),
    ("454", "4.7.1", "<{rcpt}>: Relay access denied"),
)
