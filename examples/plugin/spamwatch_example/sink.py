"""``csv:/path/incidents.csv``: one spreadsheet row per incident record.

A minimal synchronous sink: subclass ``Sink``, check options in ``setup``
(raise SinkError when it cannot work at all), write in ``send``, release in
``close``. Options come from ``[sinks.csv]`` in the spamwatch config. Text
from the log goes through ``clean`` (no control characters) and cells that a
spreadsheet would run as a formula get a leading quote.
"""

from __future__ import annotations

import csv
import os
from typing import TextIO

from spamwatch.errors import SinkError
from spamwatch.model import Incident
from spamwatch.sinks.base import Sink
from spamwatch.textsafe import clean

COLUMNS = ("time", "severity", "state", "key_kind", "key", "host", "reason", "summary")


class CsvSink(Sink):
    """Append incident records to a CSV file (header written when the file is new)."""

    scheme = "csv"
    description = "append one CSV row per incident record (example plugin)"

    def setup(self) -> None:
        """Open the file for appending; ``delimiter`` option (default ",")."""
        if not self.target:
            raise SinkError("csv: needs a file, e.g. csv:/var/log/spamwatch.csv")
        self.delimiter = str(self.options.get("delimiter", ","))
        try:
            fresh = not os.path.exists(self.target) or os.path.getsize(self.target) == 0
            self.handle: TextIO = open(self.target, "a", newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise SinkError(f"csv:{self.target}: {exc.strerror}") from None
        self.writer = csv.writer(self.handle, delimiter=self.delimiter)
        if fresh:
            self.writer.writerow(COLUMNS)
            self.handle.flush()

    def send(self, incident: Incident) -> None:
        """Write one row and flush it."""
        data = incident.to_json()
        self.writer.writerow([cell(data[column] or "") for column in COLUMNS])
        self.handle.flush()

    def close(self) -> None:
        """Close the file."""
        self.handle.close()


def cell(value: object) -> str:
    """A cleaned cell that no spreadsheet evaluates (``=cmd|...`` stays text)."""
    text = clean(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
