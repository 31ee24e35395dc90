"""Fixtures of the end-to-end suite: a real Postfix, Dovecot and "internet".

The whole suite shares one private mail system (session scope): starting
Postfix costs seconds, and scenario 6 needs the log all scenarios wrote.
Nothing here touches the machine's own mail setup (see postfix_harness).
Set SPAMWATCH_E2E_KEEP=1 to keep the temporary directory (logs) for a look.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from postfix_harness import (
    Dovecot,
    Postfix,
    RelaySink,
    free_port,
    install_packages,
    pid_alive,
    unavailable_reason,
    which,
)
from smtp_traffic import Account

PASSWORDS = {
    "alice": "alice-pw-1",
    "bob": "bob-pw-2",
    "carol": "carol-pw-3",
    "news": "news-pw-4",
    "dave": "dave-pw-5",  # scenario 2: the compromised account
    "erin": "erin-pw-6",  # scenario 5: compromised while follow restarts
    "frank": "frank-pw-7",  # scenario 3: brute-forced
    "gina": "gina-pw-8",  # scenario 4: sends while the internet is down
}
"""Dovecot's accounts; the SASL username is the local part at example.com."""

SYSTEM_PID_FILES = {
    "postfix": Path("/var/spool/postfix/pid/master.pid"),
    "dovecot": Path("/run/dovecot/master.pid"),
}


@dataclass
class MailSystem:
    """Everything a scenario needs to send mail and watch what Postfix logs."""

    root: Path
    postfix: Postfix
    dovecot: Dovecot
    relay: RelaySink

    @property
    def maillog(self) -> Path:
        return self.postfix.maillog

    @property
    def port(self) -> int:
        """The submission port (SASL required)."""
        return self.postfix.submission_port

    def account(self, username: str, source_ip: str) -> Account:
        return Account(username, PASSWORDS[username], source_ip)


def _stop_what_install_started(before: dict[str, int | None]) -> None:
    """A package's postinst may start the system services; they are ours to stop."""
    if before["postfix"] is None and pid_alive(SYSTEM_PID_FILES["postfix"]):
        subprocess.run([which("postfix") or "postfix", "stop"], check=False, capture_output=True)
    pid = pid_alive(SYSTEM_PID_FILES["dovecot"])
    if before["dovecot"] is None and pid is not None:
        os.kill(pid, 15)


@pytest.fixture(scope="session")
def mail_system() -> Iterator[MailSystem]:
    """Install (when absent) and start Postfix, Dovecot and the relay sink."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    before = {name: pid_alive(path) for name, path in SYSTEM_PID_FILES.items()}
    if install_packages():
        _stop_what_install_started(before)
    root = Path(tempfile.mkdtemp(prefix="spamwatch-e2e-"))
    root.chmod(0o755)  # the postfix user must reach its queue below it
    relay = RelaySink(free_port())
    postfix = Postfix(root, relay.port)
    dovecot = Dovecot(root, postfix.auth_socket, PASSWORDS)
    try:
        relay.start()
        postfix.configure()
        dovecot.start()
        postfix.start()
        yield MailSystem(root, postfix, dovecot, relay)
    finally:
        postfix.stop()
        dovecot.stop()
        relay.stop()
        if os.environ.get("SPAMWATCH_E2E_KEEP"):
            print(f"\ne2e files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
