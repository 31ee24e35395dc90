"""``console``: incident records for a human at a terminal, one coloured line each.

Log text is added to rich ``Text`` objects as plain strings (never parsed as
markup) after ``clean`` turned control characters into visible escapes, so a
username like ``[bold]x[/]`` or ``\\x1b[31m`` prints as those characters.
``console:stderr`` writes to stderr; colour follows rich's rules (``NO_COLOR``,
not a terminal). While ``follow``'s live view is up on the terminal, lines
are printed through its Console, so they appear above it (see ``screen``).
"""

from __future__ import annotations

import sys

from rich.text import Text

from spamwatch.errors import ConfigError
from spamwatch.incidents.story import label
from spamwatch.model import Incident, IncidentState, Severity
from spamwatch.screen import live_console
from spamwatch.sinks.base import Sink
from spamwatch.sinks.text import log_console
from spamwatch.textsafe import clean

STYLES = {Severity.INFO: "cyan", Severity.WARNING: "yellow", Severity.CRITICAL: "bold red"}


class ConsoleSink(Sink):
    """Print each incident record as one line: time, severity, state, who, summary."""

    scheme = "console"
    description = "one line per incident record on the terminal (stdout, or console:stderr)"
    option_names = frozenset()

    def setup(self) -> None:
        """Check the options; see the module docstring."""
        super().setup()
        if self.target not in ("", "-", "stdout", "stderr"):
            raise ConfigError(
                f"console:{self.target}: use console, console:stdout or console:stderr"
            )
        stream = sys.stderr if self.target == "stderr" else sys.stdout
        self.console = log_console(stream, soft_wrap=True)
        self._terminal = stream.isatty()

    def send(self, finding: Incident) -> None:
        """Print one line, flushed at once: above the live view when one is up."""
        live = live_console() if self._terminal else None
        console = live or self.console
        console.print(render(finding), soft_wrap=True)  # one line, wrapped by the terminal
        console.file.flush()


def render(incident: Incident) -> Text:
    """The rich line for an incident record; every piece from the log is plain, cleaned text."""
    style = STYLES.get(incident.severity, "")
    if incident.state is IncidentState.RESOLVED:
        style = "green"
    line = Text()
    line.append(incident.time.strftime("%Y-%m-%d %H:%M:%S "), style="dim")
    line.append(f"{str(incident.severity).upper():8} ", style=style)
    line.append(f"{incident.state!s:9} ", style=style)
    line.append(label(incident), style="bold")
    if incident.hosts:
        line.append(f" on {clean(', '.join(incident.hosts))}", style="dim")
    line.append(": ")
    line.append(clean(incident.summary))
    return line
