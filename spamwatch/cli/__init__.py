"""The command line: thin click commands that parse options and wire stages.

``SpamwatchGroup.main`` is the single place where exceptions become exit
statuses (httpie's rule): everything below raises ``SpamwatchError``
subclasses, and a user never sees a traceback for a mistake they can fix. Set
``SPAMWATCH_DEBUG=1`` to see the traceback of an internal error. Because the
conversion lives in the group's ``main``, click's CliRunner sees exactly what a
user sees.

Each command lives in a module of its own (events.py, report.py, ...).
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
import traceback
from typing import Any

import click

from spamwatch import __version__
from spamwatch.cli.common import silence_stdout
from spamwatch.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    OutputError,
    SpamwatchError,
)

NO_ARGS_IS_HELP: type[click.ClickException] | tuple[()] = getattr(
    click.exceptions, "NoArgsIsHelpError", ()
)
"""click >= 8.2 raises this for a group run without a command (older click exits 0)."""

OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG})
"""Write errors that are the system's, not a bug: reported as OutputError (exit 74)."""


COMMAND_MODULES: dict[str, str] = {
    "events": "events",
    "report": "report",
    "follow": "follow",
    "learn": "learn",
    "profile": "profile",
    "contain": "contain",
    "release": "contain",
    "alert": "alert_cmd",
    "config": "config_cmd",
    "plugins": "plugins_cmd",
}
"""Each command's module under spamwatch.cli, imported when the command is run (or listed).

A cron job's ``report --since 1h`` or a pipe's ``events`` should not pay for
importing containment, follow's sinks and the alert tests before its first
line: each command loads only its own module (tests/test_cli_modules.py
keeps this table and the modules' ``COMMANDS`` in step).
"""


class SpamwatchGroup(click.Group):
    """A click group whose ``main`` maps every exception to an exit status."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMAND_MODULES, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, its module imported on first use (``COMMAND_MODULES``)."""
        module = COMMAND_MODULES.get(cmd_name)
        if cmd_name not in self.commands and module is not None:
            for command in importlib.import_module(f"spamwatch.cli.{module}").COMMANDS:
                self.add_command(command)
        return self.commands.get(cmd_name)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Give the group's own ``--help`` and ``--version`` the output handling of a command.

        They print while the arguments are parsed, before ``invoke``: without this
        ``spamwatch --help > /dev/full`` was an internal error (70) and
        ``spamwatch --help | true`` exit 1.
        """
        try:
            context = super().make_context(info_name, args, parent, **extra)
        except click.exceptions.Exit:
            _flush_stdout()
            raise
        except OSError as exc:
            _output_failed(exc)
            raise click.exceptions.Exit(EXIT_OK) from None  # the reader went away: help was given
        return context

    def invoke(self, ctx: click.Context) -> Any:
        """Catch a vanished stdout reader or a full disk before click turns them into status 1.

        stdout is flushed here, inside the handling: when it is a pipe or a
        file it is block-buffered, and what the interpreter flushes at exit
        fails outside any handler (``> /dev/full`` exit 1 with no message,
        ``| true`` exit 120).
        """
        status: Any = EXIT_OK
        try:
            status = super().invoke(ctx)
            sys.stdout.flush()
        except OSError as exc:
            # A vanished reader (``| head``) is not an error: the verdict stands.
            _output_failed(exc)
        return status

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:
        extra["standalone_mode"] = False
        try:
            status = super().main(args=args, prog_name=prog_name or "spamwatch", **extra)
        except click.exceptions.Exit as exc:  # --help, --version
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("spamwatch: aborted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except NO_ARGS_IS_HELP as exc:  # bare ``spamwatch``: the help is the answer
            exc.show()
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"spamwatch: error: {_one_line(exc)}", err=True)
            sys.exit(exc.exit_code)
        except SpamwatchError as exc:
            click.echo(f"spamwatch: error: {exc}", err=True)
            sys.exit(exc.exit_status)
        except KeyboardInterrupt:
            sys.exit(EXIT_INTERRUPTED)
        except Exception as exc:  # a bug: say so in one line unless debugging
            if os.environ.get("SPAMWATCH_DEBUG"):
                traceback.print_exc()
            click.echo(
                f"spamwatch: internal error: {type(exc).__name__}: {exc} "
                "(set SPAMWATCH_DEBUG=1 for a traceback)",
                err=True,
            )
            sys.exit(EXIT_INTERNAL)
        sys.exit(status if isinstance(status, int) else EXIT_OK)


def _flush_stdout() -> None:
    """Flush what is buffered for stdout, with the handling of ``_output_failed``."""
    try:
        sys.stdout.flush()
    except OSError as exc:
        _output_failed(exc)


def _output_failed(exc: OSError) -> None:
    """A write to stdout failed: return for a closed pipe, OutputError for a full disk.

    Anything else is re-raised (a bug). Either way stdout is silenced: what is
    still buffered cannot be written and must not fail again at exit.
    """
    if not isinstance(exc, BrokenPipeError) and exc.errno not in OUTPUT_ERRNOS:
        raise exc
    silence_stdout()
    if not isinstance(exc, BrokenPipeError):
        raise OutputError(f"cannot write the output: {exc.strerror}") from None


def _one_line(exc: click.ClickException) -> str:
    """click's message without its usage block, plus where to read more.

    click prints four lines (usage, "Try ...", blank, "Error: ..."); a mistake
    gets the same single ``spamwatch: error:`` line as every other one.
    """
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return message


@click.group(cls=SpamwatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="spamwatch")
def cli() -> None:
    """Watch a Postfix mail log for taken-over mailboxes sending spam.

    \b
    Exit statuses: 0 ok, 1 findings (report), 2 usage, 3 bad config,
    4 unreadable input, 5 state file or profile database, 6 sink setup (or alert test
    failed), 7 containment, 70 internal error,
    74 output not writable, 130 interrupted.
    See spamwatch(1).
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv)
