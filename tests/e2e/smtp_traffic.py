"""Mail traffic for the e2e suite, sent with smtplib to the real Postfix.

Every client speaks real SMTP to the submission port and authenticates with
real SASL (Dovecot behind Postfix). ``source_address`` binds the client to
any address of 127.0.0.0/8, so a "botnet" of many client addresses needs no
network setup: Postfix logs each as ``unknown[127.0.0.N]``.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

TIMEOUT = 60.0


@dataclass(frozen=True)
class Mail:
    """One message as the client submits it: envelope sender and recipients."""

    sender: str
    recipients: tuple[str, ...]
    subject: str = "hello"


@dataclass(frozen=True)
class Account:
    """A SASL account and the client address it logs in from."""

    username: str
    password: str
    source_ip: str


def build(mail: Mail) -> bytes:
    """A small well-formed RFC 5322 message for ``mail``."""
    msg = EmailMessage()
    msg["From"] = mail.sender or "MAILER-DAEMON@example.com"
    msg["To"] = ", ".join(mail.recipients)
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="e2e.example.com")
    msg.set_content("This is spamwatch end-to-end test traffic.\n")
    return msg.as_bytes()


def connect(port: int, source_ip: str) -> smtplib.SMTP:
    """An SMTP session to the submission port from ``source_ip``, after EHLO."""
    client = smtplib.SMTP("127.0.0.1", port, timeout=TIMEOUT, source_address=(source_ip, 0))
    client.ehlo("client.example.net")
    return client


def send_session(port: int, account: Account, mails: Sequence[Mail]) -> int:
    """Log in once and submit ``mails`` in one session; returns how many were accepted."""
    client = connect(port, account.source_ip)
    try:
        client.login(account.username, account.password)
        for mail in mails:
            client.sendmail(mail.sender, list(mail.recipients), build(mail))
    finally:
        client.quit()
    return len(mails)


def send_unauthenticated(port: int, source_ip: str, mail: Mail) -> None:
    """Try to submit without logging in (raises what Postfix answers)."""
    client = connect(port, source_ip)
    try:
        client.sendmail(mail.sender, list(mail.recipients), build(mail))
    finally:
        client.quit()


def login_plain(client: smtplib.SMTP, username: str, password: str) -> None:
    """One AUTH PLAIN attempt (``login()`` would retry with other mechanisms)."""
    client.user, client.password = username, password
    client.auth("PLAIN", client.auth_plain)


def failed_logins(port: int, source_ip: str, attempts: Sequence[tuple[str, str]]) -> int:
    """Try each (username, password) in one session; returns how many were refused.

    A password that works ends the session (the caller decides what that means).
    """
    refused = 0
    client = connect(port, source_ip)
    try:
        for username, password in attempts:
            try:
                login_plain(client, username, password)
            except smtplib.SMTPAuthenticationError:
                refused += 1
                continue
            break
    finally:
        client.quit()
    return refused


def in_parallel(jobs: Sequence[Callable[[], int]], workers: int = 8) -> int:
    """Run the jobs on a thread pool, re-raising the first failure; sum their results."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(job) for job in jobs]
        return sum(future.result() for future in futures)
