"""Learned profiles: what is normal for each SASL login and each host, kept in SQLite.

    store.py    the database (WAL, schema versions, one transaction per checkpoint)
    partial.py  profiles learned in memory, mergeable (per file, per hour, per process)
    learner.py  the pipeline tap that learns, holding back what an incident explains
    view.py     the read-only, in-memory view detectors judge against
    spans.py    which stretches of each host's log were learned (never twice)
    history.py  ``spamwatch learn``: history files, oldest first, fingerprinted
    options.py  ``[profiles]``, ``--db``, ``--no-db``, ``--no-learn``

``Profiles.open`` is what a command calls: it opens (or, when learning,
creates) the database, loads the view, and hands out the learner.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spamwatch.errors import ProfileError
from spamwatch.profiles.options import ProfileOptions, profile_options
from spamwatch.profiles.store import ProfileStore
from spamwatch.profiles.view import EMPTY_VIEW, ProfileView

if TYPE_CHECKING:  # the learner imports detectors, whose base imports the view from here
    from spamwatch.profiles.learner import Learner, OpenKeys


def bind_view(detectors: Iterable[object], view: ProfileView) -> None:
    """Give every detector that takes one (``bind_profiles``) the view."""
    for detector in detectors:
        bind = getattr(detector, "bind_profiles", None)
        if callable(bind):
            bind(view)


@dataclass
class Profiles:
    """One command's profile database (or none), the view its detectors read."""

    options: ProfileOptions
    store: ProfileStore | None
    view: ProfileView

    @classmethod
    def open(cls, options: ProfileOptions, before: float | None = None) -> Profiles:
        """Open the database named by ``options`` and load what was learned before ``before``.

        Learning creates the database; reading only (``--no-learn``) a database
        that does not exist yet knows nothing, and creates nothing.
        """
        path = options.path
        if path is None or (not options.learn and not os.path.exists(path)):
            return cls(options, None, ProfileView(min_hours=options.min_hours))
        store = ProfileStore(path, readonly=not options.learn)
        try:
            view = store.view(before, options.min_hours)
        except BaseException:
            store.close()
            raise
        return cls(options, store, view)

    def reload(self, before: float | None = None) -> None:
        """Load the view afresh from the database (``learn``, between two files).

        A new object: detectors built before keep judging against the old one.
        """
        if self.store is not None:
            self.view = self.store.view(before, self.options.min_hours)

    def bind(self, detectors: Iterable[object]) -> None:
        """Give every detector that takes one (``bind_profiles``) this view."""
        bind_view(detectors, self.view)

    def learner(
        self,
        open_keys: OpenKeys,
        refresh: bool = True,
        on_error: Callable[[ProfileError], None] | None = None,
        batch: bool = False,
    ) -> Learner | None:
        """The learner to tap into the pipeline, or None when not learning."""
        if self.store is None or not self.options.learn:
            return None
        from spamwatch.profiles.learner import Learner  # see the import note above

        return Learner(self.store, self.view, self.options, open_keys, refresh, on_error, batch)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    def size_bytes(self) -> int | None:
        """The database's size on disk (the metrics' health); None without a database."""
        return self.store.size_bytes() if self.store is not None else None


__all__ = [
    "EMPTY_VIEW",
    "ProfileOptions",
    "ProfileView",
    "Profiles",
    "bind_view",
    "profile_options",
]
