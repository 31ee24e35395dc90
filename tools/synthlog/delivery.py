"""The queue manager and the delivery agents: deliveries, deferrals, bounces, notices.

Why: what happens to mail after it is queued (retries on Postfix's backoff,
outages, bounce notices) is what the queue and bounce detectors read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from synthlog.formats import fmt_delay
from synthlog.lane import Lane, Outage
from synthlog.replies import FAMILY, REPLIES

MAX_RETRIES = 6
"""Retries logged for a deferred recipient before the generator stops following it
(it is still in the queue when the log ends, as on a real server)."""


@dataclass
class Delivery:
    """How the deliveries of one message go: probabilities and outcome texts."""

    p_defer: float = 0.03
    p_bounce: float = 0.01
    spam: bool = False  # remote sites answer with spam/rate-limit replies


class DeliveryAgents(Lane):
    """qmgr and the delivery agents of one host: every recipient sent, deferred or bounced."""

    def deliver(
        self,
        t: float,
        qid: str,
        sender: str,
        rcpts: Sequence[str],
        size: int,
        how: Delivery,
        notice: bool = False,
    ) -> None:
        """qmgr activates the message; each recipient is delivered, deferred or bounced.

        Deferred recipients are retried on Postfix's backoff (300 s doubling to
        4000 s) with qmgr's "(queue active)" repeated; the message is removed
        once every recipient is final, after the sender's non-delivery notice
        when one bounced (never for a notice itself: the null sender gets none).
        """
        arrival = t - 0.2 - self.rng.random() * 0.3
        active = f"{qid}: from=<{sender}>, size={size}, nrcpt={len(rcpts)} (queue active)"
        self.emit(t, "postfix/qmgr", self.qmgr_pid, active)
        pending = list(rcpts)
        attempt, when, backoff, end = 0, t, 300.0, t
        while pending and attempt <= MAX_RETRIES:
            if attempt:
                self.emit(when, "postfix/qmgr", self.qmgr_pid, active)
            pending, bounced, end = self._attempt(when, qid, arrival, pending, how, attempt)
            if bounced and not notice:
                end = self.notify(end, qid, sender, "non-delivery")
            attempt += 1
            when = end + backoff + self.rng.random() * 120
            backoff = min(backoff * 2, 4000.0)
        if not pending:
            self.emit(end + 0.001, "postfix/qmgr", self.qmgr_pid, f"{qid}: removed")

    def _attempt(
        self,
        t: float,
        qid: str,
        arrival: float,
        rcpts: Sequence[str],
        how: Delivery,
        attempt: int,
    ) -> tuple[list[str], int, float]:
        """One delivery pass; returns (still deferred, bounced count, end time)."""
        rng = self.rng
        deferred: list[str] = []
        bounced = 0
        end = t
        for rcpt in rcpts:
            done = t + 0.05 + rng.random() * (1.5 if attempt == 0 else 0.8)
            status = self._outcome(done, rcpt, how, attempt)
            self._log_delivery(done, qid, arrival, rcpt, status, how)
            if status == "deferred":
                deferred.append(rcpt)
            elif status == "bounced":
                bounced += 1
            end = max(end, done)
        return deferred, bounced, end

    def _outcome(self, t: float, rcpt: str, how: Delivery, attempt: int) -> str:
        domain = rcpt.rpartition("@")[2]
        if self._outage(t, domain) is not None:
            return "deferred"
        r = self.rng.random()
        if domain in self.domains and self.local_relay is None:
            return "bounced" if r < how.p_bounce / 4 else "sent"
        if attempt:
            if self.local_relay is not None:
                return "sent"
            ok = 0.45 if how.spam else 0.85
            return "sent" if r < ok else ("bounced" if r < ok + 0.1 else "deferred")
        if r < how.p_bounce:
            return "bounced"
        return "deferred" if r < how.p_bounce + how.p_defer else "sent"

    def _outage(self, t: float, domain: str) -> Outage | None:
        """The outage that makes ``domain`` unreachable at ``t``, if any."""
        remote = domain not in self.domains or self.local_relay is not None
        for out in self.outages:
            if out.start <= t < out.end and (
                out.domain == domain or (out.domain == "*" and remote)
            ):
                return out
        return None

    def _log_delivery(
        self, t: float, qid: str, arrival: float, rcpt: str, status: str, how: Delivery
    ) -> None:
        domain = rcpt.rpartition("@")[2]
        if domain in self.domains and self.local_relay is None:
            self._log_lmtp(t, qid, arrival, rcpt, status)
        else:
            self._log_smtp(t, qid, arrival, rcpt, status, how)

    def _delays(self, t: float, arrival: float) -> tuple[str, str]:
        rng = self.rng
        b, c = rng.random() * 0.02, rng.random() * 0.4
        d = rng.random() * 0.6
        a = max(t - arrival - b - c - d, 0.0)
        return fmt_delay(
            t - arrival
        ), f"{fmt_delay(a)}/{fmt_delay(b)}/{fmt_delay(c)}/{fmt_delay(d)}"

    def _log_lmtp(self, t: float, qid: str, arrival: float, rcpt: str, status: str) -> None:
        delay, delays = self._delays(t, arrival)
        relay = f"{self.host}[private/dovecot-lmtp]"
        if status == "sent":
            sess = f"{self.rng.getrandbits(96):024x}"
            reply = f"sent (250 2.0.0 <{rcpt}> {sess} Saved)"
            dsn = "2.0.0"
            self.emit_raw(
                t - 0.002,
                f"dovecot: lmtp({rcpt})<{self.worker('lmtp-d')}><{sess[:22]}>: "
                f"msgid=<{qid}@{self.host}>: saved mail to INBOX",
            )
        else:
            reply = f"bounced (host {relay} said: 550 5.1.1 <{rcpt}> User doesn't exist: {rcpt}"
            reply += " (in reply to RCPT TO command))"
            dsn = "5.1.1"
        self.emit(
            t,
            "postfix/lmtp",
            self.worker("lmtp"),
            f"{qid}: to=<{rcpt}>, relay={relay}, delay={delay}, delays={delays}, dsn={dsn},"
            f" status={reply}",
        )

    def _log_smtp(
        self, t: float, qid: str, arrival: float, rcpt: str, status: str, how: Delivery
    ) -> None:
        domain = rcpt.rpartition("@")[2]
        if self.local_relay and domain in self.domains:
            mx, ip, ok = (*self.local_relay, "250 2.0.0 Ok: queued as {h}")
        else:
            mx, ip, ok = self.route(domain)
        delay, delays = self._delays(t, arrival)
        out = self._outage(t, domain)
        relay = f"{mx}[{ip}]:25"
        if out is not None:
            relay, dsn = "none", "4.4.1"
            reply = f"deferred (connect to {out.mx or mx}[{out.ip or ip}]:25: Connection timed out)"
        elif status == "sent":
            dsn, reply = self._sent_reply(ok, qid)
        else:
            dsn, why = self._failure(status, how, domain)
            if why.startswith("connect to"):
                relay = "none"
            reply = f"{status} ({why.format(mx=mx, ip=ip, me=self.public_ip, rcpt=rcpt)})"
        self.emit(
            t,
            "postfix/smtp",
            self.worker("smtp"),
            f"{qid}: to=<{rcpt}>, relay={relay}, delay={delay}, delays={delays}, dsn={dsn},"
            f" status={reply}",
        )

    def _sent_reply(self, template: str, qid: str) -> tuple[str, str]:
        """(dsn, "sent (reply)") with the remote server's own wording."""
        rng = self.rng
        h = f"{rng.getrandbits(44):011X}"
        text = template.format(n=rng.randrange(10**9, 10**10), n2=rng.randrange(99), h=h, m=qid)
        code = text.split()[1]
        return (code if code[:1].isdigit() else "2.0.0"), f"sent ({text})"

    def _failure(self, status: str, how: Delivery, domain: str) -> tuple[str, str]:
        """(dsn, reason template) for a deferral or bounce, in the remote site's words."""
        table = REPLIES[FAMILY.get(domain, "*")][status][1 if how.spam else 0]
        return table[int(self.rng.random() * len(table))]

    def notify(self, t: float, qid: str, sender: str, kind: str) -> float:
        """bounce writes a notice to the sender under a new queue id; returns its time."""
        if not sender:
            return t
        new = self.queue_id(t + 0.003)
        self.emit(
            t + 0.003,
            "postfix/cleanup",
            self.worker("cleanup"),
            f"{new}: message-id={self.message_id(t, new, self.host)}",
        )
        self.emit(
            t + 0.004,
            "postfix/bounce",
            self.worker("bounce"),
            f"{qid}: sender {kind} notification: {new}",
        )
        size = 2800 + int(self.rng.random() * 4000)
        self.deliver(t + 0.006, new, "", [sender], size, Delivery(p_defer=0.3), notice=True)
        return t + 0.005
