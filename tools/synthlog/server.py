"""One Postfix host as the streams drive it: smtpd sessions and failed logins.

Why: every stream (background or scenario) writes through a ``Server``, so a
session always has its connect, TLS, queue and delivery lines in order.
"""

from __future__ import annotations

from collections.abc import Sequence

from synthlog.delivery import Delivery, DeliveryAgents
from synthlog.formats import command_counts


class Server(DeliveryAgents):
    """smtpd sessions (with or without SASL) and failed logins, over the delivery agents."""

    def smtpd(self, service: str) -> str:
        """The program name of an smtpd service: "postfix/submission/smtpd"."""
        return "postfix/smtpd" if service == "smtp" else f"postfix/{service}/smtpd"

    def session(
        self,
        t: float,
        service: str,
        client: tuple[str, str],
        messages: Sequence[tuple[str, Sequence[str], int]],
        login: str | None = None,
        how: Delivery | None = None,
        method: str = "PLAIN",
    ) -> float:
        """One smtpd session: connect, TLS, (AUTH), messages, disconnect.

        ``messages`` holds (envelope sender, recipients, size); ``method`` is the
        SASL mechanism (mail clients say PLAIN, spam bots often LOGIN). Returns
        the time of the disconnect line.
        """
        rng = self.rng
        prog, pid = self.smtpd(service), self.new_pid()
        name, ip = client
        peer = f"{name}[{ip}]"
        self.emit(t, prog, pid, f"connect from {peer}")
        t += 0.05 + rng.random() * 0.2
        self.emit(
            t,
            prog,
            pid,
            f"Anonymous TLS connection established from {peer}: TLSv1.3 with cipher"
            " TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature"
            " RSA-PSS (2048 bits) server-digest SHA256",
        )
        nrcpt = 0
        for sender, rcpts, size in messages:
            t += 0.1 + rng.random() * 0.6
            sasl = f", sasl_method={method}, sasl_username={login}" if login else ""
            qid = self.queue_id(t)
            self.emit(t, prog, pid, f"{qid}: client={peer}{sasl}")
            t += 0.02 + rng.random() * 0.3
            self.accept(t, qid, sender, rcpts, size, how, outbound=bool(login))
            nrcpt += len(rcpts)
        t += 0.01 + rng.random() * 0.05
        counts = self._counts(service, login, len(messages), nrcpt)
        self.emit(t, prog, pid, f"disconnect from {peer} {command_counts(counts)}")
        return t

    def _counts(
        self, service: str, login: str | None, n_msg: int, n_rcpt: int
    ) -> list[tuple[str, int, int]]:
        counts = [("ehlo", 2, 2), ("starttls", 1, 1)] if service != "smtps" else [("ehlo", 1, 1)]
        if login:
            counts.append(("auth", 1, 1))
        counts += [("mail", n_msg, n_msg), ("rcpt", n_rcpt, n_rcpt), ("data", n_msg, n_msg)]
        counts.append(("quit", 1, 1))
        return counts

    def accept(
        self,
        t: float,
        qid: str,
        sender: str,
        rcpts: Sequence[str],
        size: int,
        how: Delivery | None = None,
        outbound: bool = False,
        message_id: str | None = None,
    ) -> None:
        """cleanup's message-id, opendkim, then qmgr and the deliveries."""
        domain = sender.rpartition("@")[2] or self.host
        mid = message_id or self.message_id(t, qid, domain)
        self.emit(t, "postfix/cleanup", self.worker("cleanup"), f"{qid}: message-id={mid}")
        dkim = None  # opendkim signs our own domains only; verifies half the inbound
        if outbound and domain in self.domains:
            dkim = f"{qid}: DKIM-Signature field added (s=mail, d={domain})"
        elif not outbound and self.rng.random() < 0.5:
            dkim = f"{qid}: DKIM verification successful"
        if dkim:
            self.emit(t + 0.001, "opendkim", self.worker("opendkim"), dkim)
        self.deliver(
            t + 0.01 + self.rng.random() * 0.05, qid, sender, rcpts, size, how or Delivery()
        )

    def auth_failure(
        self,
        t: float,
        service: str,
        client: tuple[str, str],
        username: str | None,
        tries: int = 1,
        method: str = "LOGIN",
    ) -> float:
        """A client failing SASL ``tries`` times, then dropping; returns the end time."""
        rng = self.rng
        prog, pid = self.smtpd(service), self.new_pid()
        peer = f"{client[0]}[{client[1]}]"
        self.emit(t, prog, pid, f"connect from {peer}")
        reason = f"(reason unavailable), sasl_username={username}" if username else "UGFzc3dvcmQ6"
        if method == "PLAIN" and not username:
            reason = "authentication failure"
        for _ in range(tries):
            t += 1.5 + rng.random() * 2.5
            self.emit(
                t, prog, pid, f"warning: {peer}: SASL {method} authentication failed: {reason}"
            )
        t += 0.2 + rng.random() * 3
        self.emit(t, prog, pid, f"lost connection after AUTH from {peer}")
        counts = [("ehlo", 1, 1), ("auth", 0, tries)]
        self.emit(t + 0.001, prog, pid, f"disconnect from {peer} {command_counts(counts)}")
        return t
