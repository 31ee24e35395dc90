"""Wake the follow loop when a followed file changes (watchdog/inotify on its directory)."""

from __future__ import annotations

import os
import threading

from spamwatch.sources.base import Notify


class DirectoryWatcher:
    """Wake the reader when anything happens to the followed paths.

    watchdog (inotify) watches the *directories*, so a rename or a delete and
    re-create of the file is seen. Without inotify (``--poll``, or no inotify
    watches left) the reader simply polls; either way it also wakes every
    ``safety`` seconds, so a lost event can only delay, never stall, reading.
    """

    def __init__(self, paths: list[str], wake: threading.Event, notify: Notify) -> None:
        self._paths = {os.path.abspath(p) for p in paths}
        self._wake = wake
        self._notify = notify
        self._observer = None

    def start(self) -> bool:
        """Start watching; False (after a notice) when inotify is not available."""
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError as exc:  # pragma: no cover - watchdog is a dependency
            self._notify("watchdog", f"watchdog unavailable ({exc}); polling")
            return False
        watcher = self

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: object) -> None:
                watcher.on_event(event)

        observer = Observer()
        try:
            for directory in sorted({os.path.dirname(p) for p in self._paths}):
                if os.path.isdir(directory):
                    observer.schedule(_Handler(), directory, recursive=False)
            observer.daemon = True
            observer.start()
        except OSError as exc:
            self._notify("inotify", f"cannot watch directories ({exc}); polling every second")
            return False
        self._observer = observer
        return True

    def on_event(self, event: object) -> None:
        """Wake only for events about a followed path (a busy /var/log is noisy)."""
        for attr in ("src_path", "dest_path"):
            value = getattr(event, attr, None)
            if value:
                text = os.fsdecode(value)
                if text in self._paths:
                    self._wake.set()
                    return

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
