"""One Postfix host on one lane: the schedule of future lines and the ids it hands out.

Why lanes: a scenario merged with the background must never reuse a queue id or
an smtpd pid of it, so each lane has its own id space on a host.
"""

from __future__ import annotations

import heapq
import random
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from synthlog.formats import postfix_digits
from synthlog.internet import PROVIDERS
from synthlog.records import Record
from synthlog.words import LOCAL_DOMAINS


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


class Lane:
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
            seconds, micro = postfix_digits(int(t), 52, 6), postfix_digits(usec, 52, 4)
            return f"{seconds}{micro}z{postfix_digits(lane_inode, 51, 1)}"
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
