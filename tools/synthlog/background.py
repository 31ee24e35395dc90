"""A normal server's day: the background every incident and look-alike is merged into.

Why: a detector is only worth its quiet on ordinary traffic, so samples and
benches put each scenario on top of this.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import accumulate, islice

from synthlog.delivery import Delivery
from synthlog.formats import command_counts
from synthlog.internet import BOT_NETS, INBOUND_MTAS
from synthlog.mix import DAY_CURVE, EVENT_KINDS, TrafficMix
from synthlog.population import User, bot_client, make_users, remote_address
from synthlog.records import MONTHS, Record, epoch, render, until
from synthlog.replies import NOQUEUE_REJECTS
from synthlog.server import Server
from synthlog.words import FIRST, LAST, PARTNER_DOMAINS, SPAM_DOMAINS, WORDS, pick

MAX_QUEUE_AGE = 432000
"""Postfix's maximal_queue_lifetime (5 days): a deferred message older than this expires."""

STALE = 20
"""Messages deferred for days at once (``steady_queue``): retried every ~4000 s, they
give about the old_queue kind's lines a day (0.5 of the weights)."""


@dataclass
class Stale:
    """A message deferred for days: its queue id, sender, recipient, qmgr line, arrival."""

    qid: str
    sender: str
    rcpt: str
    active: str
    arrival: float


class Background:
    """Draws the events of a normal server and writes them through a ``Server``."""

    def __init__(self, mix: TrafficMix, seed: int) -> None:
        self.mix = mix
        self.rng = rng = random.Random(seed)
        self.server = Server(
            mix.host,
            rng,
            mix.lane,
            mix.domains,
            mix.public_ip,
            outages=mix.outages,
            long_ids=mix.long_queue_ids,
        )
        people = rng if mix.population_seed is None else random.Random(mix.population_seed)
        users = make_users(people, mix.users, mix.domains)
        users = [u for u in users if u.login not in mix.exclude]
        self.users = users
        self._user_cum = list(accumulate(u.weight for u in users))
        self.locals = [u.login for u in users] + [f"{w}@{mix.domains[0]}" for w in WORDS]
        kinds = [k for k in EVENT_KINDS if mix.weights.get(k, 0) > 0]
        self._kinds = kinds
        self._kind_cum = list(accumulate(mix.weights[k] for k in kinds))
        self._how = Delivery(mix.p_defer, mix.p_bounce)
        self._handlers = {k: getattr(self, f"_ev_{k}") for k in kinds}
        self._stale: list[Stale] = []  # steady_queue: the messages deferred for days

    def records(self, start: float, end: float | None) -> Iterator[Record]:
        """The stream: events from ``start`` until ``end`` (None: forever)."""
        rng, server, mix = self.rng, self.server, self.mix
        t = start
        next_tick = start - start % 600 + 600
        kinds, cum, total = self._kinds, self._kind_cum, self._kind_cum[-1]
        handlers = self._handlers
        while end is None or t < end:
            factor = 1.0 if mix.flat else DAY_CURVE[int(t // 3600) % 24]
            t += rng.expovariate(mix.rate * factor)
            while t >= next_tick:
                self._periodic(next_tick)
                next_tick += 600
            yield from server.due(t)
            if end is not None and t >= end:
                break
            handlers[kinds[bisect(cum, rng.random() * total)]](t)
        if end is not None:
            yield from until(server.drain(), end)

    def _user(self) -> User:
        return self.users[bisect(self._user_cum, self.rng.random() * self._user_cum[-1])]

    def _periodic(self, t: float) -> None:
        """Every 10 minutes: sysstat's CRON job and anvil's statistics."""
        rng, s = self.rng, self.server
        s.emit_raw(
            t + 1,
            f"CRON[{s.new_pid()}]: (root) CMD (command -v debian-sa1 > /dev/null"
            " && debian-sa1 1 1)",
        )
        ip = f"{pick(rng, BOT_NETS)}{rng.randrange(1, 255)}"
        ago = datetime.fromtimestamp(int(t) - 600 + rng.randrange(600), UTC)
        at = f"{MONTHS[ago.month - 1]} {ago.day:2d} {ago:%H:%M:%S}"
        s.emit(
            t + 2,
            "postfix/anvil",
            s.anvil_pid,
            f"statistics: max connection rate {rng.randrange(1, 9)}/60s for (smtp:{ip}) at {at}",
        )
        s.emit(
            t + 2,
            "postfix/anvil",
            s.anvil_pid,
            f"statistics: max connection count {rng.randrange(1, 4)} for (smtp:{ip}) at {at}",
        )
        s.emit(
            t + 2,
            "postfix/anvil",
            s.anvil_pid,
            f"statistics: max cache size {rng.randrange(2, 40)} at {at}",
        )

    # --- event kinds --------------------------------------------------------

    def _ev_submission(self, t: float) -> None:
        rng, user = self.rng, self._user()
        n = (
            1
            if rng.random() < 0.7
            else (rng.randrange(2, 4) if rng.random() < 0.8 else rng.randrange(4, 12))
        )
        rcpts = [
            remote_address(rng) if rng.random() < 0.7 else pick(rng, self.locals) for _ in range(n)
        ]
        size = int(rng.lognormvariate(9.5, 1.2)) + 600
        self.server.session(
            t,
            user.service,
            (user.client_name, user.client_ip),
            [(user.login, rcpts, size)],
            login=user.login,
            how=self._how,
        )

    def _ev_inbound(self, t: float) -> None:
        rng, s = self.rng, self.server
        name, prefix, domains = INBOUND_MTAS[int(rng.random() * len(INBOUND_MTAS))]
        last = rng.randrange(1, 255)
        client = (name.format(a=last), f"{prefix}{last}")
        self._postscreen_pass(t, client[1])
        sender = f"{pick(rng, FIRST)}.{pick(rng, LAST)}@{pick(rng, domains)}"
        n = 1 if rng.random() < 0.85 else rng.randrange(2, 5)
        rcpts = [pick(rng, self.locals) for _ in range(n)]
        size = int(rng.lognormvariate(10, 1.3)) + 900
        s.session(t + 0.1, "smtp", client, [(sender, rcpts, size)], how=self._how)

    def _postscreen_pass(self, t: float, ip: str) -> None:
        rng, s = self.rng, self.server
        port = rng.randrange(1024, 65535)
        s.emit(
            t,
            "postfix/postscreen",
            s.postscreen_pid,
            f"CONNECT from [{ip}]:{port} to [{s.public_ip}]:25",
        )
        verdict = "PASS OLD" if rng.random() < 0.9 else "PASS NEW"
        s.emit(
            t + 0.01 + rng.random() * 0.05,
            "postfix/postscreen",
            s.postscreen_pid,
            f"{verdict} [{ip}]:{port}",
        )

    def _ev_reject(self, t: float) -> None:
        rng, s = self.rng, self.server
        client = (
            bot_client(rng)
            if rng.random() < 0.6
            else (f"mail.{pick(rng, PARTNER_DOMAINS)}", f"185.12.64.{rng.randrange(1, 255)}")
        )
        self._postscreen_pass(t, client[1])
        sender = f"{pick(rng, WORDS)}@{pick(rng, SPAM_DOMAINS)}"
        rcpt = pick(rng, self.locals) if rng.random() < 0.8 else remote_address(rng)
        if rcpt.rpartition("@")[2] in self.mix.domains:
            code, dsn, text = NOQUEUE_REJECTS[int(rng.random() * (len(NOQUEUE_REJECTS) - 1))]
        else:
            code, dsn, text = NOQUEUE_REJECTS[-1]
        text = text.format(ip=client[1], sender=sender, rcpt=rcpt)
        prog, pid, peer = "postfix/smtpd", s.new_pid(), f"{client[0]}[{client[1]}]"
        helo = client[0] if client[0] != "unknown" else f"[{client[1]}]"
        t += 0.1
        s.emit(t, prog, pid, f"connect from {peer}")
        s.emit(
            t + 0.4,
            prog,
            pid,
            f"NOQUEUE: reject: RCPT from {peer}: {code} {dsn} {text}; "
            f"from=<{sender}> to=<{rcpt}> proto=ESMTP helo=<{helo}>",
        )
        counts = [
            ("ehlo", 1, 1),
            ("mail", 1, 1),
            ("rcpt", 0, 1),
            ("data", 0, 1),
            ("rset", 1, 1),
            ("quit", 1, 1),
        ]
        s.emit(t + 0.6, prog, pid, f"disconnect from {peer} {command_counts(counts)}")

    def _ev_postscreen(self, t: float) -> None:
        rng, s = self.rng, self.server
        ip, port = bot_client(rng)[1], rng.randrange(1024, 65535)
        ps, pid = "postfix/postscreen", s.postscreen_pid
        s.emit(t, ps, pid, f"CONNECT from [{ip}]:{port} to [{s.public_ip}]:25")
        r = rng.random()
        if r < 0.4:
            s.emit(t + 0.23, ps, pid, f"PREGREET 11 after 0.23 from [{ip}]:{port}: EHLO User\\r\\n")
        s.emit(t + 0.3, ps, pid, f"DNSBL rank {rng.randrange(2, 6)} for [{ip}]:{port}")
        if r < 0.7:
            s.emit(
                t + 2.4,
                ps,
                pid,
                f"HANGUP after 2.1 from [{ip}]:{port} in tests after SMTP handshake",
            )
        else:
            rcpt = pick(rng, self.locals)
            s.emit(
                t + 2.4,
                ps,
                pid,
                f"NOQUEUE: reject: RCPT from [{ip}]:{port}: 550 5.7.1 Service"
                f" unavailable; client [{ip}] blocked using zen.spamhaus.org;"
                f" from=<{pick(rng, WORDS)}@{pick(rng, PARTNER_DOMAINS)}>, to=<{rcpt}>,"
                " proto=ESMTP, helo=<User>",
            )
        s.emit(t + 2.5, ps, pid, f"DISCONNECT [{ip}]:{port}")

    def _ev_auth_scan(self, t: float) -> None:
        rng = self.rng
        service = "submission" if rng.random() < 0.6 else "smtps"
        self.server.auth_failure(t, service, bot_client(rng), None, tries=1 + int(rng.random() * 2))

    def _ev_lost(self, t: float) -> None:
        rng, s = self.rng, self.server
        prog, pid = s.smtpd("submission" if rng.random() < 0.5 else "smtp"), s.new_pid()
        name = f"scanner-{rng.randrange(1, 40)}.ch1.censys-scanner.com"
        peer = f"{name}[162.142.125.{rng.randrange(1, 255)}]"
        s.emit(t, prog, pid, f"connect from {peer}")
        s.emit(t + 0.3, prog, pid, f"lost connection after STARTTLS from {peer}")
        s.emit(t + 0.301, prog, pid, f"disconnect from {peer} ehlo=1 starttls=1 commands=2")

    def _ev_imap(self, t: float) -> None:
        rng, s, user = self.rng, self.server, self._user()
        sess = f"{rng.getrandbits(72):018x}"
        s.emit_raw(
            t,
            f"dovecot: imap-login: Login: user=<{user.login}>, method=PLAIN, rip={user.client_ip},"
            f" lip=10.0.0.25, mpid={s.new_pid()}, TLS, session=<{sess}>",
        )
        if rng.random() < 0.5:
            s.emit_raw(
                t + 30 + rng.random() * 900,
                f"dovecot: imap({user.login})<{s.new_pid()}><{sess}>:"
                f" Logged out in={rng.randrange(50, 900)} out={rng.randrange(400, 90000)}"
                " deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0",
            )

    def _ev_amavis(self, t: float) -> None:
        rng, s = self.rng, self.server
        pid = s.worker("amavis")
        ip = f"209.85.128.{rng.randrange(1, 255)}"
        s.emit_raw(
            t,
            f"amavis[{pid}]: ({pid}-{rng.randrange(1, 99):02d}) Passed CLEAN {{RelayedInbound}},"
            f" [{ip}]:{rng.randrange(1024, 65535)} [{ip}] <{remote_address(rng)}> ->"
            f" <{pick(rng, self.locals)}>, Hits: {rng.uniform(-3, 3):.3f},"
            f" size: {rng.randrange(2000, 90000)}, {rng.randrange(200, 4000)} ms",
        )

    def _ev_pickup(self, t: float) -> None:
        rng, s = self.rng, self.server
        qid = s.queue_id(t)
        s.emit(t, "postfix/pickup", s.pickup_pid, f"{qid}: uid=0 from=<root>")
        mid = s.message_id(t, qid, s.host)
        s.emit(t + 0.01, "postfix/cleanup", s.worker("cleanup"), f"{qid}: message-id={mid}")
        s.emit(
            t + 0.02,
            "postfix/qmgr",
            s.qmgr_pid,
            f"{qid}: from=<root@{s.host}>, size={rng.randrange(600, 3000)}, nrcpt=1 (queue active)",
        )
        delay, delays = s._delays(t + 0.05, t - 0.01)
        s.emit(
            t + 0.05,
            "postfix/local",
            s.worker("local"),
            f"{qid}: to=<root@{s.host}>, orig_to=<root>, relay=local, delay={delay},"
            f" delays={delays}, dsn=2.0.0, status=sent (delivered to mailbox)",
        )
        s.emit(t + 0.051, "postfix/qmgr", s.qmgr_pid, f"{qid}: removed")

    def _ev_old_queue(self, t: float) -> None:
        """A message queued days before: retried (deferred again), or expired.

        By default a new message each time, queued days before the log
        began: right for one day's log, but a queue id that is never seen
        again. With ``steady_queue`` the same few messages (``STALE``) come
        back under their own queue ids, Postfix's retry of each about every
        ``maximal_backoff_time`` (4000 s) drawn from one pool, until they are
        five days old (``maximal_queue_lifetime``): then expired, returned to
        the sender and removed, as a continuous log of many days shows them.
        """
        rng, s = self.rng, self.server
        if self.mix.steady_queue:
            if len(self._stale) < STALE:
                self._stale.append(self._old_message(t - 300000 - rng.random() * 130000))
            old = self._stale[int(rng.random() * len(self._stale))]
            age = t - old.arrival
            if age >= MAX_QUEUE_AGE:
                self._stale.remove(old)
        else:
            old = self._old_message(t - 400000)
            age = 300000 + rng.random() * 180000
        s.emit(t, "postfix/qmgr", s.qmgr_pid, old.active)
        if age < MAX_QUEUE_AGE:
            mx, ip, _ = s.route(old.rcpt.rpartition("@")[2])
            why = "Connection refused"
            out = s._outage(t, old.rcpt.rpartition("@")[2])
            if out is not None:
                mx, ip, why = out.mx or mx, out.ip or ip, "Connection timed out"
            s.emit(
                t + 0.3,
                "postfix/smtp",
                s.worker("smtp"),
                f"{old.qid}: to=<{old.rcpt}>, relay=none, delay={int(age)},"
                f" delays={int(age)}/0.01/0.3/0, dsn=4.4.1,"
                f" status=deferred (connect to {mx}[{ip}]:25: {why})",
            )
            return
        s.emit(
            t + 0.01,
            "postfix/qmgr",
            s.qmgr_pid,
            f"{old.qid}: from=<{old.sender}>, status=expired, returned to sender",
        )
        s.notify(t + 0.02, old.qid, old.sender, "non-delivery")
        s.emit(t + 0.03, "postfix/qmgr", s.qmgr_pid, f"{old.qid}: removed")

    def _old_message(self, arrival: float) -> Stale:
        """A message to a partner's address that has waited in the queue since ``arrival``."""
        rng, s = self.rng, self.server
        qid = s.queue_id(arrival)
        sender = pick(rng, self.locals)
        rcpt = f"{pick(rng, WORDS)}@{pick(rng, PARTNER_DOMAINS)}"
        active = (
            f"{qid}: from=<{sender}>, size={rng.randrange(2000, 90000)}, nrcpt=1 (queue active)"
        )
        return Stale(qid, sender, rcpt, active, arrival)


def background(
    mix: TrafficMix | None = None,
    start: datetime | float = 0.0,
    end: datetime | float | None = None,
    seed: int = 0,
) -> Iterator[Record]:
    """A normal server's records from ``start`` to ``end`` (None: endless)."""
    last = None if end is None else epoch(end)
    return Background(mix or TrafficMix(), seed).records(epoch(start), last)


def generate(
    start: datetime,
    lines: int | None = None,
    duration: timedelta | None = None,
    seed: int = 0,
    mix: TrafficMix | None = None,
    style: str = "rfc3164",
    tz: tzinfo = UTC,
) -> Iterator[str]:
    """A rendered normal-server log: ``lines`` lines, or ``duration`` of log time.

    One of ``lines``/``duration`` bounds the output (both: whichever comes
    first). Streams: memory does not grow with the number of lines.
    """
    if lines is None and duration is None:
        raise ValueError("give lines or duration")
    end = epoch(start + duration) if duration is not None else None
    out = render(background(mix, epoch(start), end, seed), style, tz)
    return islice(out, lines) if lines is not None else out
