"""What ``follow`` shows while it runs: rates, busiest SASL users, open incidents.

``LiveStats`` counts (bounded: per-second and per-minute rings, a capped table
of users per minute); ``LiveView`` draws it with rich on a terminal and
``PlainView`` draws nothing (incidents reach stdout through the output). Log
text shown here (user names, incident summaries) always goes through
``rich.text.Text`` after ``textsafe.clean``, so it is never read as markup and never
reaches the terminal as a control code.
"""

from __future__ import annotations

import collections
import os
import sys
import time
from typing import Any, ClassVar

from spamwatch.incidents.story import label
from spamwatch.model import Event, Incident, IncidentState, MessageUpdate, Severity, Stage
from spamwatch.screen import set_live_console
from spamwatch.textsafe import clean

RATE_SECONDS = 10
USER_MINUTES = 10
MAX_USERS_PER_MINUTE = 5_000
"""Cap of distinct users counted per minute (a botnet guessing names cannot grow it)."""


class LiveStats:
    """Rolling counters for the view; memory is bounded whatever the log says."""

    KINDS: ClassVar[frozenset[str]] = frozenset({"client"})
    """The event kinds ``on_event`` reads (within ``pipeline.TAP_KINDS``)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self.lines = 0
        self.messages = 0
        self._line_ring: collections.deque[tuple[int, int]] = collections.deque()
        self._msg_ring: collections.deque[tuple[int, int]] = collections.deque()
        self._users: collections.deque[tuple[int, collections.Counter[str]]] = collections.deque()
        self.open: dict[str, Incident] = {}  # incident id -> its latest record

    def add_lines(self, count: int) -> None:
        self.lines += count
        _bump(self._line_ring, int(self._clock()), count, RATE_SECONDS)

    def on_event(self, event: Event) -> None:
        user = event.fields.get("sasl_username") if event.kind == "client" else None
        if not user:
            return
        minute = int(self._clock() // 60)
        if not self._users or self._users[-1][0] != minute:
            self._users.append((minute, collections.Counter()))
            while self._users and self._users[0][0] <= minute - USER_MINUTES:
                self._users.popleft()
        counter = self._users[-1][1]
        if user in counter or len(counter) < MAX_USERS_PER_MINUTE:
            counter[str(user)] += 1

    def on_update(self, update: MessageUpdate) -> None:
        if update.stage is Stage.QUEUED:
            self.messages += 1
            _bump(self._msg_ring, int(self._clock()), 1, 60)

    def on_incident(self, incident: Incident) -> None:
        if incident.state is IncidentState.RESOLVED:
            self.open.pop(incident.id, None)
        else:
            self.open[incident.id] = incident

    def lines_per_second(self) -> float:
        now = int(self._clock())
        total = sum(n for sec, n in self._line_ring if now - sec < RATE_SECONDS)
        return total / RATE_SECONDS

    def messages_per_minute(self) -> int:
        now = int(self._clock())
        return sum(n for sec, n in self._msg_ring if now - sec < 60)

    def busiest_users(self, count: int = 5) -> list[tuple[str, int]]:
        total: collections.Counter[str] = collections.Counter()
        for _, counter in self._users:
            total.update(counter)
        return total.most_common(count)

    def open_by_severity(self) -> dict[Severity, int]:
        counts = dict.fromkeys(Severity, 0)
        for incident in self.open.values():
            counts[incident.severity] += 1
        return counts


def _bump(ring: collections.deque[tuple[int, int]], second: int, count: int, keep: int) -> None:
    if ring and ring[-1][0] == second:
        ring[-1] = (second, ring[-1][1] + count)
    else:
        ring.append((second, count))
    while ring and ring[0][0] <= second - keep:
        ring.popleft()


def use_rich_view(stream: Any = None) -> bool:
    """The rich view only on a terminal and without NO_COLOR (https://no-color.org)."""
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class PlainView:
    """No drawing (not a terminal, or NO_COLOR): incidents go out as plain lines."""

    def __init__(self, stats: LiveStats) -> None:
        self.stats = stats

    def start(self) -> None:
        """Nothing to set up."""

    def refresh(self) -> None:
        """Nothing to redraw."""

    def stop(self) -> None:
        """Nothing to tear down."""


class LiveView:
    """A rich Live panel on the terminal, redrawn at most a few times a second."""

    def __init__(self, stats: LiveStats, sources: list[str]) -> None:
        from rich.console import Console
        from rich.live import Live

        self.stats = stats
        self._sources = sources
        self._console = Console()
        self._live = Live(
            console=self._console, auto_refresh=False, transient=False, redirect_stderr=True
        )
        self._last = 0.0

    def start(self) -> None:
        """Draw the view; what is printed for a person from now on goes above it."""
        self._live.start()
        set_live_console(self._console)
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.5:
            return
        self._last = now
        self._live.update(self.render(), refresh=True)

    def stop(self) -> None:
        """Leave the last view on the screen; printing goes to the terminal again."""
        set_live_console(None)
        self._live.stop()

    def render(self) -> Any:
        """The panel: rates, busiest users, open incidents; log text as plain Text."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        stats = self.stats
        head = Text()
        head.append("spamwatch follow ", style="bold")
        head.append(clean(", ".join(self._sources)))
        head.append(
            f"   {stats.lines_per_second():,.0f} lines/s   "
            f"{stats.messages_per_minute():,} messages/min   {stats.lines:,} lines"
        )
        title = "busiest SASL users (10 min)"
        # min_width: an empty table is narrower than its title, which would wrap.
        users = Table(title=title, expand=False, min_width=len(title))
        users.add_column("user")
        users.add_column("messages", justify="right")
        for user, count in stats.busiest_users():
            users.add_row(Text(clean(user)), str(count))
        return Group(head, users, self._incidents_table())

    def _incidents_table(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        counts = self.stats.open_by_severity()
        title = "open incidents: " + ", ".join(
            f"{counts[s]} {s}" for s in sorted(Severity, reverse=True)
        )
        table = Table(title=title, min_width=len(title))
        for column in ("severity", "who", "summary"):
            table.add_column(column)
        ordered = sorted(self.stats.open.values(), key=lambda i: (-i.severity, i.opened_at))
        styles = {Severity.CRITICAL: "bold red", Severity.WARNING: "yellow"}
        for incident in ordered[:10]:
            table.add_row(
                Text(str(incident.severity), style=styles.get(incident.severity, "")),
                Text(label(incident)),
                Text(clean(incident.summary)),
            )
        return table
