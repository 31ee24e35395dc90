"""Synthetic Postfix 3.x mail logs: a normal server's traffic, incidents and look-alikes.

Why: the detectors, the benches and the golden samples need logs with the shape of
real ones (the line formats in tests/data/corpus) at any size, reproducible from a
seed, without shipping anybody's real mail log.

The model is a set of time-ordered *record streams*. A record is
``(time, host, text)``: ``time`` in epoch seconds (float), ``text`` the syslog
message after the header, ``"postfix/qmgr[812]: 3A1F2C4D5E: removed"``.

* ``background(mix, start, end, seed)`` is a normal server's day: inbound MX mail
  (through postscreen), authenticated submission, deferrals, bounces, rejects,
  scanners failing SASL, local cron mail and noise from dovecot, amavis,
  opendkim and CRON.
* the scenario functions (``compromised_account``, ``slow_sender``,
  ``password_spraying``, ``brute_force``, ``queue_growth`` and the benign
  ``newsletter``, ``notifications``, ``traveller``, ``mailing_list``,
  ``backup_mx``) yield the lines of one incident or look-alike;
* ``merge(*streams)`` interleaves streams on time (heapq.merge), and
  ``render(records, style, tz)`` adds the syslog header (RFC 3164
  ``Nov 28 03:13:06 host ...`` or RFC 3339 with microseconds and an offset);
* ``generate(...)`` is the one-call form: a normal mix, rendered, cut to a line
  count or a duration.

Everything is deterministic from the seed (each stream owns a
``random.Random``), streams are generators with bounded state (only lines
scheduled for the future are held: deferred retries), and the per-line work is
string formatting, so millions of lines take seconds.

Each stream writes on a *lane*: lanes on the same host have their own queue-id
space and pid range, so a scenario merged with the background never reuses a
queue id or an smtpd pid of the background. Long-running daemons (qmgr,
pickup, anvil, postscreen) have one pid per host, shared by all lanes.
"""

from __future__ import annotations

import heapq
import random
import zlib
from bisect import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import accumulate, islice
from operator import itemgetter

Record = tuple[float, str, str]
"""(epoch seconds, host, "program[pid]: message")."""


def _words(text: str) -> tuple[str, ...]:
    """A word list written as one string (keeps the tables short)."""
    return tuple(text.split())


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
STYLES = ("rfc3164", "rfc3339")
LOCAL_DOMAINS = ("example.com", "example.net", "example.org")
"""The domains a generated server hosts (its users' addresses, local delivery)."""
MAX_RETRIES = 6
"""Retries logged for a deferred recipient before the generator stops following it
(it is still in the queue when the log ends, as on a real server)."""

FIRST = _words(
    "anna ben clara david eva felix greta hans ida jonas karin lukas maria nina oskar"
    " paula quentin rita stefan tanja ute viktor wanda xaver yvonne zoe julia peter"
    " sabine thomas andrea michael sandra martin petra frank"
)
LAST = _words(
    "schmidt mueller weber wagner becker hoffmann schulz koch richter klein wolf"
    " neumann schwarz braun zimmermann krueger hartmann lange werner krause lehmann"
    " koehler maier kaiser"
)
WORDS = _words(
    "info kontakt office team service buchhaltung vertrieb support einkauf personal empfang technik"
)
PARTNER_DOMAINS = _words(
    "mueller-bau.de stadtwerke-nord.de kanzlei-weber.de autohaus-koch.de"
    " praxis-braun.de hotel-seeblick.at druckerei-lange.de steuerbuero-klein.de"
    " immobilien-wolf.de schreinerei-maier.de verlag-richter.de bio-hof-kaiser.de"
    " architekten-werner.ch it-service-krause.de fahrschule-lehmann.de"
)

# Big providers: (mx host, mx ip, success reply template); {n} is a random number.
PROVIDERS: dict[str, tuple[str, str, str]] = {
    "gmail.com": (
        "gmail-smtp-in.l.google.com",
        "142.250.102.27",
        "250 2.0.0 OK  {n} a640c23a62f3a-{h}.{n2} - gsmtp",
    ),
    "googlemail.com": (
        "gmail-smtp-in.l.google.com",
        "142.250.102.26",
        "250 2.0.0 OK  {n} 5b1f17b1804b1-{h}.{n2} - gsmtp",
    ),
    "outlook.com": (
        "outlook-com.olc.protection.outlook.com",
        "52.101.68.15",
        "250 2.6.0 <{m}> [InternalId={n}, Hostname=AM8P190MB0994.EURP190.PROD.OUTLOOK.COM]"
        " Queued mail for delivery",
    ),
    "hotmail.com": (
        "hotmail-com.olc.protection.outlook.com",
        "52.101.73.17",
        "250 2.6.0 <{m}> [InternalId={n}, Hostname=PAXP193MB1742.EURP193.PROD.OUTLOOK.COM]"
        " Queued mail for delivery",
    ),
    "yahoo.com": ("mta7.am0.yahoodns.net", "67.195.204.72", "250 ok dirdel"),
    "web.de": (
        "mx-ha03.web.de",
        "212.227.17.8",
        "250 Requested mail action okay, completed: id={h}",
    ),
    "gmx.de": (
        "mx00.emig.gmx.net",
        "212.227.15.9",
        "250 Requested mail action okay, completed: id={h}",
    ),
    "gmx.net": (
        "mx01.emig.gmx.net",
        "212.227.17.5",
        "250 Requested mail action okay, completed: id={h}",
    ),
    "t-online.de": ("mx00.t-online.de", "194.25.134.8", "250 2.0.0 Message accepted."),
    "icloud.com": (
        "mx01.mail.icloud.com",
        "17.57.154.33",
        "250 2.0.0 Ok: queued as {h}",
    ),
    "orange.fr": (
        "smtp-in.orange.fr",
        "80.12.242.15",
        "250 2.0.0 {h} mail accepted for delivery",
    ),
}
PROVIDER_WEIGHTS = (30, 3, 8, 6, 5, 10, 10, 4, 8, 4, 2)
_PROVIDER_NAMES = tuple(PROVIDERS)
_PROVIDER_CUM = tuple(accumulate(PROVIDER_WEIGHTS))

# Inbound MTAs that deliver to us: (client name, ip prefix, sender domains).
INBOUND_MTAS = (
    ("mail-wm1-f{a}.google.com", "209.85.128.", ("gmail.com",)),
    ("mail-ej1-f{a}.google.com", "209.85.218.", ("gmail.com", "googlemail.com")),
    (
        "mail-db8eur05on20{a}.outbound.protection.outlook.com",
        "40.107.20.",
        ("outlook.com", "hotmail.com"),
    ),
    ("mout.gmx.net", "212.227.17.", ("gmx.de", "gmx.net")),
    ("mout.web.de", "212.227.15.", ("web.de",)),
    ("a48-{a}.smtp-out.amazonses.com", "54.240.48.", ("amazon.de", "news.shop-example.com")),
    ("mx{a}.partner-mail.net", "185.12.64.", PARTNER_DOMAINS),
)

# Home and mobile networks of our users: (rDNS template or "unknown", prefix).
ACCESS_NETS = (
    ("p{x}.dip0.t-ipconnect.de", "84.150."),
    ("p{x}.dip0.t-ipconnect.de", "91.61."),
    ("ip{x}.dynamic.kabel-deutschland.de", "95.90."),
    ("dynamic-{x}.vodafone-ip.de", "2.204."),
    ("unknown", "176.1."),
    ("i{x}.versanet.de", "89.246."),
    ("unknown", "2a02:8109:b240:"),
    ("unknown", "2003:e4:bf1a:"),
)

# Botnets and scanners (public ranges seen in abuse reports; synthetic hosts).
BOT_NETS = _words(
    "45.141.84. 80.94.95. 141.98.11. 185.196.8. 193.32.162. 103.149.28. 179.43.180."
    " 5.34.207. 91.92.240. 194.169.175. 78.128.112. 117.50.190."
)

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
SPAM_DOMAINS = ("mailer.xyz", "promo-deals.top", "S510.gigasys", "bulk.biz")
SPRAY_NAMES = _words(
    "admin info test sales support office contact webmaster postmaster mail user"
    " billing hr marketing noreply root backup scanner printer kontakt buchhaltung"
    " service team web"
)


# ----------------------------------------------------------------------------
# Small formatting helpers


def fmt_delay(seconds: float) -> str:
    """Format a delay the way Postfix does: "0", "0.17", "1.2", "21", "420316"."""
    if seconds >= 10:
        return str(int(seconds))
    if seconds >= 1:
        text = f"{seconds:.1f}"
    elif seconds >= 0.01:
        text = f"{seconds:.2f}"
    else:
        return "0"
    return text.rstrip("0").rstrip(".")


def command_counts(counts: Sequence[tuple[str, int, int]]) -> str:
    """smtpd's disconnect summary: "ehlo=2 starttls=1 auth=0/1 quit=1 commands=4/5"."""
    parts = [
        f"{name}={ok}" if ok == total else f"{name}={ok}/{total}" for name, ok, total in counts
    ]
    ok = sum(c[1] for c in counts)
    total = sum(c[2] for c in counts)
    parts.append(f"commands={ok}" if ok == total else f"commands={ok}/{total}")
    return " ".join(parts)


def epoch(when: datetime) -> float:
    """A datetime as epoch seconds; a naive one is taken as UTC (reproducible)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


LONG_ID_DIGITS = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"
"""Postfix's base-52 digits for long queue ids (no vowels; ``z`` is not used in base 51)."""


def _base(value: int, base: int, width: int) -> str:
    """``value`` in Postfix's long-queue-id digits, left-padded with "0" to ``width``."""
    out = []
    while value:
        value, digit = divmod(value, base)
        out.append(LONG_ID_DIGITS[digit])
    return "".join(reversed(out)).rjust(width, "0")


def _pick(rng: random.Random, items: Sequence[str]) -> str:
    return items[int(rng.random() * len(items))]


# ----------------------------------------------------------------------------
# Rendering and merging


def render(records: Iterable[Record], style: str = "rfc3164", tz: tzinfo = UTC) -> Iterator[str]:
    """Add the syslog header to records, as rsyslog writes it (no trailing newline).

    ``rfc3164``: ``Nov 28 03:13:06 host prog[pid]: msg`` (day space-padded, no year).
    ``rfc3339``: ``2026-11-28T03:13:06.123456+01:00 host prog[pid]: msg``.
    The header of one second is built once and reused: most lines share it.
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r} (one of {', '.join(STYLES)})")
    precise = style == "rfc3339"
    last = None
    head = offset = ""
    for t, host, text in records:
        sec = int(t)
        if sec != last:
            last = sec
            head, offset = _header(sec, precise, tz)
        if precise:
            yield f"{head}.{int((t - sec) * 1e6):06d}{offset} {host} {text}"
        else:
            yield f"{head} {host} {text}"


def _header(sec: int, precise: bool, tz: tzinfo) -> tuple[str, str]:
    local = datetime.fromtimestamp(sec, tz)
    clock = f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
    if not precise:
        return f"{MONTHS[local.month - 1]} {local.day:2d} {clock}", ""
    off = local.strftime("%z") or "+0000"
    return f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{clock}", f"{off[:3]}:{off[3:]}"


def merge(*streams: Iterable[Record]) -> Iterator[Record]:
    """Interleave time-ordered record streams into one, on time (stable on ties)."""
    return heapq.merge(*streams, key=itemgetter(0))


def until(records: Iterable[Record], end: float) -> Iterator[Record]:
    """Records before ``end`` (epoch seconds); stops reading at the first later one."""
    for rec in records:
        if rec[0] >= end:
            return
        yield rec


# ----------------------------------------------------------------------------
# One Postfix host, one lane


@dataclass(frozen=True)
class User:
    """A mailbox that submits mail: SASL login, usual client, how much it sends."""

    login: str
    client_name: str
    client_ip: str
    service: str = "submission"  # or "smtps"
    weight: float = 1.0


@dataclass(frozen=True)
class Outage:
    """A destination that cannot be reached between ``start`` and ``end`` (epoch s).

    ``domain`` "*" means every remote destination (the relayhost is down);
    ``mx``/``ip`` name the unreachable server for the deferral reason.
    """

    domain: str
    start: float
    end: float
    mx: str = ""
    ip: str = ""


@dataclass
class Delivery:
    """How the deliveries of one message go: probabilities and outcome texts."""

    p_defer: float = 0.03
    p_bounce: float = 0.01
    spam: bool = False  # remote sites answer with spam/rate-limit replies


class Server:
    """Schedules the log lines of one Postfix host on one lane.

    Lines for the future (a deferred retry an hour later) wait in a heap; ``due``
    releases them in time order once the stream's clock has passed them, so a
    stream is always time-ordered and holds only the lines still to come.
    """

    def __init__(
        self,
        host: str,
        rng: random.Random,
        lane: int = 0,
        domains: Sequence[str] = LOCAL_DOMAINS,
        public_ip: str = "198.51.100.25",
        local_relay: tuple[str, str] | None = None,
        outages: Sequence[Outage] = (),
        long_ids: bool = False,
    ) -> None:
        if not 0 <= lane <= 15:
            raise ValueError("lane must be 0..15")
        self.host = host
        self.rng = rng
        self.domains = tuple(domains)
        self.public_ip = public_ip
        self.local_relay = local_relay  # a backup MX relays local mail to the primary
        self.outages = tuple(outages)
        self.long_ids = long_ids
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._queued = 0
        self._lane_hex = f"{lane:X}" if lane else ""
        base = zlib.crc32(host.encode())
        self.qmgr_pid = 700 + base % 900
        self.pickup_pid = 40000 + base % 9000
        self.anvil_pid = 50000 + base % 9000
        self.postscreen_pid = 1700 + base % 800
        self._pid_lo = 1000 if lane == 0 else 3_000_000 + (lane - 1) * 100_000
        self._pid_hi = 2_990_000 if lane == 0 else self._pid_lo + 99_000
        self._pid = self._pid_lo + rng.randrange(5000)
        self._workers: dict[str, list[int]] = {}
        self._mx_cache: dict[str, tuple[str, str, str]] = {}

    # --- scheduling -----------------------------------------------------------

    def emit(self, t: float, program: str, pid: int, text: str) -> None:
        """Schedule one line at time ``t``."""
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, f"{program}[{pid}]: {text}"))

    def emit_raw(self, t: float, text: str) -> None:
        """Schedule a line whose program part is already formatted (dovecot: ...)."""
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, text))

    def due(self, now: float) -> Iterator[Record]:
        """Release every scheduled line at or before ``now``, in time order."""
        heap, host, pop = self._heap, self.host, heapq.heappop
        while heap and heap[0][0] <= now:
            t, _, text = pop(heap)
            yield (t, host, text)

    def drain(self) -> Iterator[Record]:
        """Release everything still scheduled."""
        return self.due(float("inf"))

    # --- identities -----------------------------------------------------------

    def new_pid(self) -> int:
        """A fresh process id (smtpd sessions), increasing like a busy Linux box."""
        self._pid += 1 + int(self.rng.random() * 6)
        if self._pid >= self._pid_hi:
            self._pid = self._pid_lo
        return self._pid

    def worker(self, daemon: str) -> int:
        """The pid of a long-lived delivery agent (cleanup, smtp...): reused, renewed."""
        pool = self._workers.get(daemon)
        if pool is None:
            pool = self._workers[daemon] = [self.new_pid() for _ in range(4)]
        i = int(self.rng.random() * 4)
        if self.rng.random() < 0.01:
            pool[i] = self.new_pid()
        return pool[i]

    def queue_id(self, t: float) -> str:
        """A Postfix queue id, short (hex) or long (``enable_long_queue_ids``).

        Short: 5 hex digits of microseconds + the "inode". Long: base-52 seconds
        (6) and microseconds (4), ``z``, base-51 inode, as ``4PbC4x469Jz3tBr``.
        The inode part is a bijection of a per-lane counter (unique for 16M
        messages) marked with the lane, so ids never repeat on a host.
        """
        self._queued += 1
        inode = (self._queued * 0x9E3779B1) & 0xFFFFFF
        usec = int((t % 1) * 1e6)
        if self.long_ids:
            lane_inode = (int(self._lane_hex or "0", 16) << 24) | inode
            return f"{_base(int(t), 52, 6)}{_base(usec, 52, 4)}z{_base(lane_inode, 51, 1)}"
        return f"{usec:05X}{self._lane_hex}{inode:06X}"

    def message_id(self, t: float, qid: str, domain: str) -> str:
        """A Message-ID as a mail client or Postfix would make it."""
        stamp = datetime.fromtimestamp(int(t), UTC).strftime("%Y%m%d%H%M%S")
        return f"<{stamp}.{qid}@{domain}>"

    def route(self, domain: str) -> tuple[str, str, str]:
        """(mx host, mx ip, success reply template) for a remote domain."""
        hit = PROVIDERS.get(domain) or self._mx_cache.get(domain)
        if hit is None:
            crc = zlib.crc32(domain.encode())
            ip = f"{80 + crc % 120}.{(crc >> 8) % 256}.{(crc >> 16) % 256}.{1 + (crc >> 24) % 250}"
            hit = (f"mx.{domain}", ip, "250 2.0.0 Ok: queued as {h}")
            self._mx_cache[domain] = hit
        return hit

    # --- sessions -------------------------------------------------------------

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

    # --- the queue manager and the delivery agents ----------------------------

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


# ----------------------------------------------------------------------------
# Addresses and clients


def person(rng: random.Random, domain: str) -> str:
    """A plausible personal address: "anna.schmidt@example.com"."""
    return f"{_pick(rng, FIRST)}.{_pick(rng, LAST)}@{domain}"


def access_client(rng: random.Random) -> tuple[str, str]:
    """A home or mobile client (rDNS name or "unknown", address), IPv4 or IPv6."""
    template, prefix = ACCESS_NETS[int(rng.random() * len(ACCESS_NETS))]
    if ":" in prefix:
        ip = prefix + ":".join(f"{rng.randrange(0x10000):x}" for _ in range(5))
        return "unknown", ip
    c, d = rng.randrange(256), rng.randrange(1, 255)
    ip = f"{prefix}{c}.{d}"
    if template == "unknown":
        return "unknown", ip
    a, b = (int(x) for x in prefix.rstrip(".").split("."))
    return template.format(x=f"{a:02x}{b:02x}{c:02x}{d:02x}"), ip


def bot_client(rng: random.Random) -> tuple[str, str]:
    """A botnet host: no reverse DNS, an address in a hosting or abuse-heavy range."""
    return "unknown", f"{_pick(rng, BOT_NETS)}{rng.randrange(1, 255)}"


def remote_address(rng: random.Random) -> str:
    """An external recipient: mostly big mailbox providers, some business partners."""
    if rng.random() < 0.25:
        return f"{_pick(rng, WORDS)}@{_pick(rng, PARTNER_DOMAINS)}"
    domain = _PROVIDER_NAMES[bisect(_PROVIDER_CUM, rng.random() * _PROVIDER_CUM[-1])]
    return f"{_pick(rng, FIRST)}.{_pick(rng, LAST)}{rng.randrange(100)}@{domain}"


def make_users(rng: random.Random, count: int, domains: Sequence[str]) -> list[User]:
    """``count`` mailboxes with their usual client and a heavy-tailed activity weight."""
    seen: set[str] = set()
    users: list[User] = []
    while len(users) < count:
        login = person(rng, _pick(rng, domains))
        if login in seen:
            login = login.replace("@", f"{len(users)}@")
        seen.add(login)
        name, ip = access_client(rng)
        service = "smtps" if rng.random() < 0.3 else "submission"
        users.append(User(login, name, ip, service, rng.paretovariate(1.3)))
    return users


# ----------------------------------------------------------------------------
# A normal server


@dataclass
class TrafficMix:
    """The knobs of a normal server's traffic (defaults: a small company server).

    ``rate``: mean events per second (each event is a session, a reject, a
    noise line...; about 6 log lines per event on average); it follows a
    day curve (quiet at night, busy at 10:00 and 14:00) unless ``flat``.
    ``weights``: relative frequency of each event kind (see ``EVENT_KINDS``).
    ``users``: mailboxes that submit mail; ``domains``: our local domains.
    ``p_defer``/``p_bounce``: chance that an outbound recipient is deferred or
    bounced on the first attempt. ``outages``: unreachable destinations.
    ``exclude``: logins that the background never uses (a scenario's user).
    ``long_queue_ids``: Postfix's ``enable_long_queue_ids = yes`` form.
    """

    host: str = "mail.example.com"
    domains: tuple[str, ...] = LOCAL_DOMAINS
    public_ip: str = "198.51.100.25"
    users: int = 200
    rate: float = 2.0
    flat: bool = False
    p_defer: float = 0.03
    p_bounce: float = 0.01
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    outages: tuple[Outage, ...] = ()
    exclude: tuple[str, ...] = ()
    lane: int = 0
    long_queue_ids: bool = False


DEFAULT_WEIGHTS = {
    "submission": 24.0,
    "inbound": 30.0,
    "reject": 8.0,
    "postscreen": 9.0,
    "auth_scan": 4.0,
    "imap": 18.0,
    "pickup": 0.5,
    "old_queue": 0.5,
    "lost": 2.0,
    "amavis": 4.0,
}
EVENT_KINDS = tuple(DEFAULT_WEIGHTS)

# Relative activity per hour of the day (local to the log's UTC time).
DAY_CURVE = tuple(
    float(x)
    for x in _words(
        "0.15 0.1 0.1 0.1 0.12 0.2 0.4 0.7 1.0 1.3 1.4 1.3"
        " 1.1 1.2 1.4 1.3 1.2 1.0 0.8 0.6 0.5 0.4 0.3 0.2"
    )
)


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
        users = [u for u in make_users(rng, mix.users, mix.domains) if u.login not in mix.exclude]
        self.users = users
        self._user_cum = list(accumulate(u.weight for u in users))
        self.locals = [u.login for u in users] + [f"{w}@{mix.domains[0]}" for w in WORDS]
        kinds = [k for k in EVENT_KINDS if mix.weights.get(k, 0) > 0]
        self._kinds = kinds
        self._kind_cum = list(accumulate(mix.weights[k] for k in kinds))
        self._how = Delivery(mix.p_defer, mix.p_bounce)
        self._handlers = {k: getattr(self, f"_ev_{k}") for k in kinds}

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
        ip = f"{_pick(rng, BOT_NETS)}{rng.randrange(1, 255)}"
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
            remote_address(rng) if rng.random() < 0.7 else _pick(rng, self.locals) for _ in range(n)
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
        sender = f"{_pick(rng, FIRST)}.{_pick(rng, LAST)}@{_pick(rng, domains)}"
        n = 1 if rng.random() < 0.85 else rng.randrange(2, 5)
        rcpts = [_pick(rng, self.locals) for _ in range(n)]
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
            else (f"mail.{_pick(rng, PARTNER_DOMAINS)}", f"185.12.64.{rng.randrange(1, 255)}")
        )
        self._postscreen_pass(t, client[1])
        sender = f"{_pick(rng, WORDS)}@{_pick(rng, SPAM_DOMAINS)}"
        rcpt = _pick(rng, self.locals) if rng.random() < 0.8 else remote_address(rng)
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
            rcpt = _pick(rng, self.locals)
            s.emit(
                t + 2.4,
                ps,
                pid,
                f"NOQUEUE: reject: RCPT from [{ip}]:{port}: 550 5.7.1 Service"
                f" unavailable; client [{ip}] blocked using zen.spamhaus.org;"
                f" from=<{_pick(rng, WORDS)}@{_pick(rng, PARTNER_DOMAINS)}>, to=<{rcpt}>,"
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
            f" <{_pick(rng, self.locals)}>, Hits: {rng.uniform(-3, 3):.3f},"
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
        """A message queued days before the log began: retried, or expired."""
        rng, s = self.rng, self.server
        qid = s.queue_id(t - 400000)
        sender = _pick(rng, self.locals)
        rcpt = f"{_pick(rng, WORDS)}@{_pick(rng, PARTNER_DOMAINS)}"
        active = (
            f"{qid}: from=<{sender}>, size={rng.randrange(2000, 90000)}, nrcpt=1 (queue active)"
        )
        s.emit(t, "postfix/qmgr", s.qmgr_pid, active)
        age = 300000 + rng.random() * 180000
        if age < 432000:
            mx, ip, _ = s.route(rcpt.rpartition("@")[2])
            why = "Connection refused"
            out = s._outage(t, rcpt.rpartition("@")[2])
            if out is not None:
                mx, ip, why = out.mx or mx, out.ip or ip, "Connection timed out"
            s.emit(
                t + 0.3,
                "postfix/smtp",
                s.worker("smtp"),
                f"{qid}: to=<{rcpt}>, relay=none, delay={int(age)}, delays={int(age)}/0.01/0.3/0,"
                f" dsn=4.4.1, status=deferred (connect to {mx}[{ip}]:25: {why})",
            )
            return
        s.emit(
            t + 0.01,
            "postfix/qmgr",
            s.qmgr_pid,
            f"{qid}: from=<{sender}>, status=expired, returned to sender",
        )
        s.notify(t + 0.02, qid, sender, "non-delivery")
        s.emit(t + 0.03, "postfix/qmgr", s.qmgr_pid, f"{qid}: removed")


def background(
    mix: TrafficMix | None = None,
    start: datetime | float = 0.0,
    end: datetime | float | None = None,
    seed: int = 0,
) -> Iterator[Record]:
    """A normal server's records from ``start`` to ``end`` (None: endless)."""
    start_s = start if isinstance(start, float | int) else epoch(start)
    end_s = end if end is None or isinstance(end, float | int) else epoch(end)
    return Background(mix or TrafficMix(), seed).records(float(start_s), end_s)


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


# ----------------------------------------------------------------------------
# Scenarios: the incidents


def _at(when: datetime | float) -> float:
    return float(when) if isinstance(when, float | int) else epoch(when)


def compromised_account(
    start: datetime | float,
    user: str = "monika.keller@example.com",
    messages: int = 5999,
    duration: timedelta = timedelta(minutes=48),
    bots: int = 8,
    foreign_share: float = 0.5,
    foreign_sender: str = "@yahoo.ph",
    per_session: int = 3,
    history: int = 4,
    home: tuple[str, str] = ("p5b0c1d2e.dip0.t-ipconnect.de", "91.12.29.46"),
    host: str = "mail.example.com",
    lane: int = 1,
    seed: int = 1,
) -> Iterator[Record]:
    """A stolen password used by a botnet: THE incident spamwatch exists for.

    Knobs: ``user`` (the SASL login, no failed logins before), ``messages``
    sent in ``duration`` from ``bots`` client addresses (2-15), each message
    with one recipient at a big mailbox provider, ``per_session`` messages per
    SMTP session (1..per_session), ``foreign_share`` of them with an envelope
    sender in another domain (``foreign_sender``, e.g. ``@yahoo.ph``).
    ``history`` ordinary messages from the user's ``home`` client come in the
    50 minutes before ``start`` (the user's own baseline).
    Remote sites rate-limit and reject (spam replies): deferrals and bounces
    pile up in the queue; bounces to the forged senders are deferred too.
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane)
    t, end = _at(start), _at(start) + duration.total_seconds()
    _ordinary_mail(server, user, home, t - 3000, t - 60, history)
    clients = [bot_client(rng) for _ in range(bots)]
    how = Delivery(p_defer=0.3, p_bounce=0.15, spam=True)
    gap = duration.total_seconds() / max(messages, 1)
    sent = 0
    while sent < messages:
        n = min(1 + int(rng.random() * per_session), messages - sent)
        batch = []
        for _ in range(n):
            sender = user
            if rng.random() < foreign_share:
                sender = f"{_pick(rng, FIRST)}{rng.randrange(1000)}{foreign_sender}"
            batch.append((sender, [remote_address(rng)], 1800 + int(rng.random() * 2500)))
        yield from server.due(t)
        client = _pick_client(rng, clients)
        server.session(t, "submission", client, batch, login=user, how=how, method="LOGIN")
        sent += n
        t = min(t + gap * n * (0.5 + rng.random()), end)
    yield from server.drain()


def _ordinary_mail(
    server: Server, user: str, client: tuple[str, str], begin: float, end: float, count: int
) -> None:
    """Schedule ``count`` ordinary messages of ``user`` between ``begin`` and ``end``."""
    rng = server.rng
    for i in range(count):
        t = begin + (end - begin) * (i + rng.random()) / max(count, 1)
        msg = (user, [remote_address(rng)], 2000 + rng.randrange(40000))
        server.session(t, "submission", client, [msg], login=user)


def _pick_client(rng: random.Random, clients: Sequence[tuple[str, str]]) -> tuple[str, str]:
    return clients[int(rng.random() * len(clients))]


def slow_sender(
    start: datetime | float,
    user: str = "peter.wolf@example.net",
    duration: timedelta = timedelta(hours=3),
    interval: tuple[float, float] = (20.0, 60.0),
    bots: int = 3,
    foreign_share: float = 0.3,
    host: str = "mail.example.com",
    lane: int = 2,
    seed: int = 2,
) -> Iterator[Record]:
    """The slow variant: one single-recipient message every 20-60 s for hours.

    Knobs: ``interval`` (min, max seconds between messages), ``duration``,
    ``bots`` client addresses used in turn, ``foreign_share`` of forged senders.
    It stays under per-minute caps but not under a one-hour window.
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane)
    clients = [bot_client(rng) for _ in range(bots)]
    how = Delivery(p_defer=0.2, p_bounce=0.1, spam=True)
    t, end = _at(start), _at(start) + duration.total_seconds()
    while t < end:
        sender = f"info{rng.randrange(100)}@yahoo.ph" if rng.random() < foreign_share else user
        msg = (sender, [remote_address(rng)], 2000 + int(rng.random() * 2000))
        yield from server.due(t)
        client = _pick_client(rng, clients)
        server.session(t, "smtps", client, [msg], login=user, how=how, method="LOGIN")
        t += rng.uniform(*interval)
    yield from server.drain()


def password_spraying(
    start: datetime | float,
    duration: timedelta = timedelta(minutes=30),
    sources: int = 40,
    usernames: Sequence[str] | None = None,
    domain: str = "example.com",
    attempts: int = 600,
    success: str | None = "sales@example.com",
    host: str = "mail.example.com",
    lane: int = 3,
    seed: int = 3,
) -> Iterator[Record]:
    """Many addresses try many usernames, slowly each, then one guess works.

    Knobs: ``sources`` attacking addresses, ``usernames`` (default: common
    role names @``domain``), ``attempts`` failed logins spread over
    ``duration``, ``success`` the login that finally works (None: none), from
    one of the attacking addresses, which then sends a test message.
    Failures log ``sasl_username=`` (Postfix 3.x with Dovecot SASL).
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane)
    clients = [bot_client(rng) for _ in range(sources)]
    names = list(usernames or [f"{n}@{domain}" for n in SPRAY_NAMES])
    t, gap = _at(start), duration.total_seconds() / max(attempts, 1)
    for _ in range(attempts):
        yield from server.due(t)
        service = "submission" if rng.random() < 0.5 else "smtps"
        server.auth_failure(t, service, _pick_client(rng, clients), _pick(rng, names))
        t += rng.expovariate(1 / gap)
    if success:
        yield from server.due(t)
        msg = (success, [remote_address(rng)], 900)
        server.session(t, "submission", clients[0], [msg], login=success)
    yield from server.drain()


def brute_force(
    start: datetime | float,
    username: str = "info@example.com",
    attempts: int = 400,
    interval: tuple[float, float] = (2.0, 6.0),
    succeed: bool = False,
    host: str = "mail.example.com",
    lane: int = 4,
    seed: int = 4,
) -> Iterator[Record]:
    """One address hammering one login: ``attempts`` failures, ``interval`` apart.

    Knobs: ``username``, ``attempts``, ``interval`` (seconds, min/max), and
    ``succeed``: whether the last attempt works (then one message is sent).
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane)
    client = bot_client(rng)
    t = _at(start)
    done = 0
    while done < attempts:
        tries = min(1 + int(rng.random() * 3), attempts - done)
        yield from server.due(t)
        t = server.auth_failure(t, "submission", client, username, tries=tries)
        done += tries
        t += rng.uniform(*interval)
    if succeed:
        yield from server.due(t)
        server.session(
            t, "submission", client, [(username, [remote_address(rng)], 900)], login=username
        )
    yield from server.drain()


def queue_growth(
    start: datetime | float,
    outage: timedelta = timedelta(hours=1),
    domain: str = "outlook.com",
    rate: float = 0.2,
    users: int = 30,
    host: str = "mail.example.com",
    lane: int = 5,
    seed: int = 5,
) -> Iterator[Record]:
    """A destination goes dark: its mail is deferred, the queue grows, then drains.

    Knobs: ``domain`` whose MX times out for ``outage`` from ``start``;
    ``rate`` messages per second to it from ``users`` ordinary local users
    (through the outage and as long again after it). Retries follow Postfix's
    backoff, so the queue drains over the hour after the outage ends. Merge with
    a background built with the same ``Outage`` (``TrafficMix.outages``) so the
    background's own mail to that domain is deferred too.
    """
    rng = random.Random(seed)
    t0 = _at(start)
    mx, ip, _ = PROVIDERS.get(domain, (f"mx.{domain}", "203.0.113.25", ""))
    out = Outage(domain, t0, t0 + outage.total_seconds(), mx, ip)
    server = Server(host, rng, lane, outages=(out,))
    people = make_users(rng, users, ("example.com", "example.net"))
    t, end = t0, t0 + 2 * outage.total_seconds()
    while t < end:
        user = _pick_user(rng, people)
        rcpt = f"{_pick(rng, FIRST)}.{_pick(rng, LAST)}{rng.randrange(100)}@{domain}"
        yield from server.due(t)
        msg = (user.login, [rcpt], int(rng.lognormvariate(9.5, 1)) + 600)
        server.session(t, user.service, (user.client_name, user.client_ip), [msg], login=user.login)
        t += rng.expovariate(rate)
    yield from server.drain()


def _pick_user(rng: random.Random, users: Sequence[User]) -> User:
    return users[int(rng.random() * len(users))]


# ----------------------------------------------------------------------------
# Scenarios: the benign look-alikes


def newsletter(
    start: datetime | float,
    user: str = "newsletter@example.org",
    messages: int = 40,
    recipients: tuple[int, int] = (40, 90),
    interval: tuple[float, float] = (20.0, 60.0),
    client: tuple[str, str] = ("crm.example.org", "198.51.100.40"),
    host: str = "mail.example.com",
    lane: int = 6,
    seed: int = 6,
) -> Iterator[Record]:
    """A newsletter account: many messages, each with many (Bcc) recipients.

    Knobs: ``messages``, ``recipients`` per message (min, max), ``interval``
    between messages, the sending ``client`` (a fixed CRM server).
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane)
    t = _at(start)
    for _ in range(messages):
        n = rng.randint(*recipients)
        rcpts = [remote_address(rng) for _ in range(n)]
        yield from server.due(t)
        server.session(
            t, "submission", client, [(user, rcpts, 38000 + rng.randrange(4000))], login=user
        )
        t += rng.uniform(*interval)
    yield from server.drain()


def notifications(
    start: datetime | float,
    user: str = "alerts@example.com",
    duration: timedelta = timedelta(hours=10),
    interval: tuple[float, float] = (120.0, 240.0),
    client: tuple[str, str] = ("monitor.example.com", "198.51.100.61"),
    recipients: Sequence[str] | None = None,
    host: str = "mail.example.com",
    lane: int = 7,
    seed: int = 7,
) -> Iterator[Record]:
    """A monitoring system: one single-recipient mail every few minutes, all day.

    Knobs: ``interval`` (seconds, min/max), ``duration``, the fixed ``client``,
    ``recipients`` (default: a handful of on-call people, some external).
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane)
    people = list(
        recipients
        or [
            "oncall@example.com",
            "it-team@example.com",
            "stefan.krause@example.com",
            "ops.pager@gmail.com",
        ]
    )
    t, end = _at(start), _at(start) + duration.total_seconds()
    while t < end:
        yield from server.due(t)
        msg = (user, [_pick(rng, people)], 3000 + rng.randrange(2000))
        server.session(t, "submission", client, [msg], login=user)
        t += rng.uniform(*interval)
    yield from server.drain()


def traveller(
    start: datetime | float,
    user: str = "clara.braun@example.com",
    networks: Sequence[tuple[str, str]] = (
        ("p54960a1b.dip0.t-ipconnect.de", "84.150.10.27"),
        ("guest-wifi.hotel-seeblick.at", "193.81.77.140"),
        ("unknown", "2a01:598:b182:4f21:1c4e:2bff:fe33:9a10"),
    ),
    per_network: int = 3,
    duration: timedelta = timedelta(hours=8),
    host: str = "mail.example.com",
    lane: int = 8,
    seed: int = 8,
) -> Iterator[Record]:
    """A user on the road: a few mails from home, a hotel, and mobile data.

    Knobs: ``networks`` (client name, address) visited in order,
    ``per_network`` mails from each, spread over ``duration``. Mobile IPv6
    addresses change within one /64 between mails.
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane)
    t = _at(start)
    gap = duration.total_seconds() / (len(networks) * per_network)
    for name, ip in networks:
        for _ in range(per_network):
            addr = ip
            if ":" in ip:
                addr = ip.rsplit(":", 1)[0] + f":{rng.randrange(0x10000):x}"
            yield from server.due(t)
            msg = (user, [remote_address(rng)], 2000 + rng.randrange(60000))
            server.session(t, "submission", (name, addr), [msg], login=user)
            t += gap * (0.5 + rng.random())
    yield from server.drain()


def mailing_list(
    start: datetime | float,
    list_address: str = "members@lists.example.org",
    posts: int = 6,
    members: int = 120,
    interval: tuple[float, float] = (300.0, 1500.0),
    host: str = "mail.example.com",
    lane: int = 9,
    seed: int = 9,
) -> Iterator[Record]:
    """A mailing list: each post arrives once, then goes out to every member.

    The list manager (mailman on localhost) re-injects each post as one message
    with ``members`` recipients from the list's bounce address, without SASL.
    Knobs: ``posts``, ``members``, ``interval`` between posts (seconds).
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane, domains=("example.org", "lists.example.org", "example.com"))
    roster = [remote_address(rng) for _ in range(members)]
    bounces = list_address.replace("@", "-bounces@")
    t = _at(start)
    for _ in range(posts):
        author = _pick(rng, roster)
        size = 4000 + rng.randrange(20000)
        yield from server.due(t)
        mta = ("mail-wm1-f41.google.com", "209.85.128.41")
        server.session(t, "smtp", mta, [(author, [list_address], size)])
        server.session(t + 3, "smtp", ("localhost", "127.0.0.1"), [(bounces, roster, size + 1200)])
        t += rng.uniform(*interval)
    yield from server.drain()


def backup_mx(
    start: datetime | float,
    outage: timedelta = timedelta(hours=2),
    rate: float = 0.03,
    primary: tuple[str, str] = ("mail.example.com", "198.51.100.25"),
    host: str = "mx2.example.com",
    lane: int = 0,
    seed: int = 10,
) -> Iterator[Record]:
    """A backup MX: takes the domain's mail while the primary is down, then drains.

    Inbound mail for the local domains arrives from the internet at ``rate``
    per second; it is relayed to ``primary``, which is unreachable for
    ``outage``, so the backup's queue grows and drains when the primary is
    back. This is a host of its own (``host``), so lane 0 is free.
    """
    rng = random.Random(seed)
    t0 = _at(start)
    out = Outage("example.com", t0, t0 + outage.total_seconds(), *primary)
    server = Server(
        host,
        rng,
        lane,
        domains=("example.com",),
        public_ip="198.51.100.26",
        local_relay=primary,
        outages=(out,),
    )
    t, end = t0, t0 + outage.total_seconds() * 1.5
    while t < end:
        name, prefix, domains = INBOUND_MTAS[int(rng.random() * len(INBOUND_MTAS))]
        last = rng.randrange(1, 255)
        sender = f"{_pick(rng, FIRST)}.{_pick(rng, LAST)}@{_pick(rng, domains)}"
        rcpt = f"{_pick(rng, FIRST)}.{_pick(rng, LAST)}@example.com"
        yield from server.due(t)
        msg = (sender, [rcpt], int(rng.lognormvariate(10, 1.2)) + 900)
        server.session(t, "smtp", (name.format(a=last), f"{prefix}{last}"), [msg])
        t += rng.expovariate(rate)
    yield from server.drain()


# ----------------------------------------------------------------------------
# Scenarios: look-alikes that only a learned profile tells apart (issue 9)
#
# Each yields the lines of one benign pattern that today's fixed thresholds
# mistake for abuse. ``LOOKALIKES`` lists them for the samples and the bench:
# learn a preceding day of a scenario (its ``history``), then report on the
# day under test, and it must stay below warning.


def ticketing(
    start: datetime | float,
    duration: timedelta = timedelta(hours=10),
    per_hour: tuple[float, float] = (30.0, 60.0),
    user: str = "helpdesk@example.com",
    sender: str = "noreply@example.com",
    client: tuple[str, str] = ("tickets.example.com", "198.51.100.70"),
    host: str = "mail.example.com",
    lane: int = 11,
    seed: int = 11,
) -> Iterator[Record]:
    """A ticketing system or CRM: single-recipient mail at a steady rate all day.

    Knobs: ``per_hour`` (min, max; a new rate is drawn each hour), ``duration``,
    the one fixed ``client`` and the own-domain ``sender``. At 60 an hour the
    fixed thresholds see "20 in 20 minutes from 1 address" several times a day;
    a profile that knows its usual hour does not.
    """
    server = Server(host, random.Random(seed), lane)
    return _steady(server, start, duration, per_hour, user, sender, client, (3000, 12000))


def _steady(
    server: Server,
    start: datetime | float,
    duration: timedelta,
    per_hour: tuple[float, float],
    user: str,
    sender: str,
    client: tuple[str, str],
    sizes: tuple[int, int],
) -> Iterator[Record]:
    """One single-recipient message after another at a rate drawn anew each hour."""
    rng = server.rng
    t, end = _at(start), _at(start) + duration.total_seconds()
    hour, rate = -1, 0.0
    while t < end:
        if int(t // 3600) != hour:
            hour, rate = int(t // 3600), rng.uniform(*per_hour) / 3600
        yield from server.due(t)
        msg = (sender, [remote_address(rng)], rng.randrange(*sizes))
        server.session(t, "submission", client, [msg], login=user)
        t += rng.expovariate(rate)
    yield from server.drain()


def verp_list(
    start: datetime | float,
    members: int = 300,
    duration: timedelta = timedelta(minutes=7),
    user: str = "lists@lists.example.org",
    list_name: str = "members",
    client: tuple[str, str] = ("lists.example.org", "198.51.100.80"),
    per_session: int = 25,
    host: str = "mail.example.com",
    lane: int = 12,
    seed: int = 12,
) -> Iterator[Record]:
    """A mailing list's VERP expansion: one message per member, in minutes, from one address.

    The list server submits through SASL as ``user``, ``per_session`` messages
    per SMTP session, each with one recipient and the envelope sender
    ``LIST-bounces+LOCAL=DOMAIN@lists.example.org`` (own domain: the login's).
    Knobs: ``members`` (250-1,000 in the wild), ``duration`` of the expansion.
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane, domains=("example.org", "lists.example.org"))
    domain = user.rpartition("@")[2]
    roster = [remote_address(rng) for _ in range(members)]
    t = _at(start)
    gap = duration.total_seconds() / max(1, members / per_session)
    size = 6000 + rng.randrange(20000)
    for first in range(0, members, per_session):
        batch = []
        for rcpt in roster[first : first + per_session]:
            local, _, rdomain = rcpt.partition("@")
            batch.append((f"{list_name}-bounces+{local}={rdomain}@{domain}", [rcpt], size))
        yield from server.due(t)
        server.session(t, "submission", client, batch, login=user)
        t += gap * (0.7 + 0.6 * rng.random())
    yield from server.drain()


SCANNED_NAMES = _words(
    "admin administrator test user info office mail postmaster webmaster support sales"
    " contact root guest demo backup service noreply marketing hr"
)


def sasl_scanners(
    start: datetime | float,
    duration: timedelta = timedelta(hours=24),
    per_window: tuple[int, int] = (5, 20),
    hosts: Sequence[str] = ("mail.example.com",),
    domain: str = "example.com",
    lane: int = 13,
    seed: int = 13,
) -> Iterator[Record]:
    """The SASL scanners every internet-facing submission port sees, all day, on every host.

    Every 10 minutes, on each host, ``per_window`` (min, max) different
    addresses fail to log in once or twice, half of them naming a dictionary
    username (``admin@``, ``info@``...). It is not an attack on this server;
    a profile that knows the host's ambient level keeps it quiet.
    """
    rng = random.Random(seed)
    streams = [
        _scanning(
            Server(name, random.Random(rng.random()), lane), start, duration, per_window, domain
        )
        for name in hosts
    ]
    return merge(*streams)


def _scanning(
    server: Server,
    start: datetime | float,
    duration: timedelta,
    per_window: tuple[int, int],
    domain: str,
) -> Iterator[Record]:
    rng = server.rng
    window, end = _at(start), _at(start) + duration.total_seconds()
    while window < end:
        for t in sorted(window + 600 * rng.random() for _ in range(rng.randint(*per_window))):
            name = f"{_pick(rng, SCANNED_NAMES)}@{domain}" if rng.random() < 0.5 else None
            service = "submission" if rng.random() < 0.6 else "smtps"
            yield from server.due(t)
            server.auth_failure(t, service, bot_client(rng), name, tries=1 + (rng.random() < 0.2))
        window += 600
    yield from server.drain()


def relay_outage(
    start: datetime | float,
    outage: timedelta = timedelta(hours=2),
    relay: tuple[str, str] = ("relay.example.net", "198.51.100.90"),
    users: int = 3,
    per_hour: float = 25.0,
    host: str = "mail.example.com",
    lane: int = 14,
    seed: int = 14,
) -> Iterator[Record]:
    """The relayhost (or a destination) goes dark: hundreds of messages wait, nobody abuses.

    ``users`` busy but ordinary senders keep sending ``per_hour`` messages
    each through the outage and an hour after; every remote delivery is
    deferred until the relay is back. Merge with a background built with the
    same ``relay_outage_of(start, outage, relay)`` in ``TrafficMix.outages``.
    A host incident about the destination, not one about each user.
    """
    rng = random.Random(seed)
    server = Server(host, rng, lane, outages=(relay_outage_of(start, outage, relay),))
    people = make_users(rng, users, ("example.com",))
    t, end = _at(start), _at(start) + outage.total_seconds() + 3600
    while t < end:
        user = _pick_user(rng, people)
        yield from server.due(t)
        msg = (user.login, [remote_address(rng)], 2000 + rng.randrange(30000))
        server.session(t, user.service, (user.client_name, user.client_ip), [msg], login=user.login)
        t += rng.expovariate(per_hour * users / 3600)
    yield from server.drain()


def relay_outage_of(
    start: datetime | float,
    outage: timedelta = timedelta(hours=2),
    relay: tuple[str, str] = ("relay.example.net", "198.51.100.90"),
) -> Outage:
    """The ``Outage`` of every remote destination behind ``relay`` (for ``TrafficMix.outages``)."""
    t0 = _at(start)
    return Outage("*", t0, t0 + outage.total_seconds(), *relay)


def foreign_habit(
    start: datetime | float,
    duration: timedelta = timedelta(hours=9),
    user: str = "anna.schmidt@example.com",
    sender: str = "anna@schmidt-consulting.de",
    per_hour: tuple[float, float] = (4.0, 8.0),
    client: tuple[str, str] = ("p5b0c1d2e.dip0.t-ipconnect.de", "91.12.29.47"),
    host: str = "mail.example.com",
    lane: int = 15,
    seed: int = 15,
) -> Iterator[Record]:
    """A user who sends as one foreign domain every day (her own small business on the side).

    Knobs: the foreign ``sender``, ``per_hour`` (min, max) from her usual
    ``client``. The fixed threshold (5 foreign senders an hour) raises it
    daily; once her profile knows the domain, nothing.
    """
    server = Server(host, random.Random(seed), lane)
    return _steady(server, start, duration, per_hour, user, sender, client, (4000, 44000))


@dataclass(frozen=True)
class Lookalike:
    """A benign pattern as the samples and the bench use it: a day of it, and its verdict.

    ``day(midnight, seed, host)`` yields that day's records of the pattern (its
    hours are the pattern's own: a ticketing system from 07:00 to 19:00...);
    ``logins`` are the SASL logins it uses (keep them out of the background:
    ``TrafficMix.exclude``); ``outages(midnight)`` what the background must share
    (a relay outage defers everybody's mail). ``needs_profile``: quiet only once
    a preceding day was learned (else quiet without one too); ``host_incident``:
    it raises one info incident about the host (the relay outage: fact ``outage``),
    none about users.
    """

    name: str
    about: str
    day: Callable[[datetime, int, str], Iterator[Record]]
    logins: tuple[str, ...] = ()
    needs_profile: bool = True
    host_incident: bool = False
    outages: Callable[[datetime], tuple[Outage, ...]] = lambda midnight: ()


def _hours(midnight: datetime, hour: float) -> datetime:
    return midnight + timedelta(hours=hour)


LOOKALIKES: tuple[Lookalike, ...] = (
    Lookalike(
        "ticketing",
        "a ticketing system: 30-60 single-recipient messages an hour, 07:00-19:00, one address",
        lambda d, seed, host: ticketing(_hours(d, 7), timedelta(hours=12), host=host, seed=seed),
        logins=("helpdesk@example.com",),
    ),
    Lookalike(
        "verp-list",
        "a mailing list's VERP expansion: 300 messages in 7 minutes at 10:00 from the list host",
        lambda d, seed, host: verp_list(_hours(d, 10), host=host, seed=seed),
        logins=("lists@lists.example.org",),
        needs_profile=False,
    ),
    Lookalike(
        "newsletter",
        "a newsletter: 40 messages with 40-90 recipients each at 09:00",
        lambda d, seed, host: newsletter(_hours(d, 9), host=host, seed=seed),
        logins=("newsletter@example.org",),
        needs_profile=False,
    ),
    Lookalike(
        "traveller",
        "a traveller: 9 mails from home, a hotel abroad and mobile IPv6, 08:00-16:00",
        lambda d, seed, host: traveller(_hours(d, 8), host=host, seed=seed),
        logins=("clara.braun@example.com",),
        needs_profile=False,
    ),
    Lookalike(
        "scanners",
        "SASL scanners: 5-20 failing addresses per 10 minutes, all day",
        lambda d, seed, host: sasl_scanners(d, timedelta(hours=24), hosts=(host,), seed=seed),
    ),
    Lookalike(
        "relay-outage",
        "the relayhost is down 11:00-13:00: every remote delivery waits",
        lambda d, seed, host: relay_outage(_hours(d, 11), host=host, seed=seed),
        host_incident=True,
        needs_profile=False,
        outages=lambda d: (relay_outage_of(_hours(d, 11)),),
    ),
    Lookalike(
        "foreign-habit",
        "a user who sends as her own business's domain every day, 08:00-17:00",
        lambda d, seed, host: foreign_habit(_hours(d, 8), host=host, seed=seed),
        logins=("anna.schmidt@example.com",),
    ),
)
"""Every look-alike of issue 9 §4 that the bench and the samples build (the backup MX is a
host of its own: ``backup_mx``)."""
