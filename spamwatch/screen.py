"""The terminal's live display, and printing for a person while it is up.

``follow``'s live view is a rich ``Live`` region at the bottom of the terminal;
at each redraw rich moves the cursor back up over it and draws it again. Text
that another rich ``Console`` prints goes straight to the terminal (rich
unwraps the ``sys.stdout`` proxy that ``Live`` installs), lands where the cursor
happens to be, glued to the region's last border, and the next redraw then
overwrites it or leaves a stale copy of the region above it. So whatever is
printed for a person while the view is up is printed through the view's own
Console: rich then draws it above the region, whole, and the region below it.
"""

from __future__ import annotations

from rich.console import Console

_live: Console | None = None


def set_live_console(console: Console | None) -> None:
    """Say which Console a live display is drawing on (``None`` when it stops)."""
    global _live
    _live = console


def live_console() -> Console | None:
    """The Console of the live display that is up on the terminal, if one is."""
    return _live
