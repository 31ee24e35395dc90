"""The one exception hierarchy of spamwatch.

Everything below the CLI raises a ``SpamwatchError`` subclass for a problem the
user can fix (a missing file, a bad option value, a bad config); the CLI's single
``main()`` turns it into one line on stderr and the class's ``exit_status``. Any
other exception is a bug and is reported as an internal error.

Exit statuses (documented in README.md and man/spamwatch.1):

=== ====================================================================
0   success; no finding at or above ``--fail-on``
1   findings at or above ``--fail-on`` (``report``)
2   usage error: bad command line option or argument
3   bad configuration file or alert URI
4   input cannot be read: missing file, permission denied, bad gzip, directory
5   state file or profile database cannot be read or written (``follow --state``, ``--db``)
6   an alert sink failed hard at start (cannot open, cannot connect at all);
    ``alert test``: a sink did not deliver the test record
7   containment (``contain``, ``release``) failed or is not set up: a command
    failed, a right is missing, or ``contain --check`` found something missing
70  internal error (a bug: please report it)
74  the output cannot be written (disk full, I/O error)
130 interrupted (SIGINT) during ``report`` or ``events``
=== ====================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_INPUT = 4
EXIT_STATE = 5
EXIT_SINK = 6
EXIT_CONTAIN = 7
EXIT_INTERNAL = 70
EXIT_OUTPUT = 74
EXIT_INTERRUPTED = 130


class SpamwatchError(Exception):
    """Base of every error the user can act on; carries its exit status."""

    exit_status: int = EXIT_INTERNAL


class UsageError(SpamwatchError):
    """A command-line value that cannot be understood (e.g. ``--since tomorrowish``)."""

    exit_status = EXIT_USAGE


class ConfigError(SpamwatchError):
    """The config file (or an alert URI) is invalid; the message names the key."""

    exit_status = EXIT_CONFIG


class InputError(SpamwatchError):
    """A log source cannot be read: missing, not permitted, a directory, bad gzip, a FIFO."""

    exit_status = EXIT_INPUT


class StateError(SpamwatchError):
    """The ``--state`` file cannot be read or written, or is not safe to use (a FIFO, a
    symlink, a directory another user may write to)."""

    exit_status = EXIT_STATE


class OutputError(SpamwatchError):
    """Standard output cannot be written (disk full, I/O error): not a bug, not a finding."""

    exit_status = EXIT_OUTPUT


class SinkError(SpamwatchError):
    """An alert sink cannot be set up at all (delivery failures are spooled, not raised)."""

    exit_status = EXIT_SINK


class ContainError(SpamwatchError):
    """Containment could not be done (or is not set up): nothing was left half-done.

    The message names the step and the command's own error (``postmap: fatal:
    ...``), so the admin knows exactly what to fix.
    """

    exit_status = EXIT_CONTAIN


class ProfileError(SpamwatchError):
    """The profile database (``--db``) cannot be opened, read or written, or is corrupt.

    The message names the file and the way out (move it away, ``--no-db``);
    a profile that cannot be read is never silently taken as empty.
    """

    exit_status = EXIT_STATE
