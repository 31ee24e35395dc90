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
from pathlib import Path

import pytest
from postfix_harness import (
    PASSWORDS,
    Dovecot,
    MailSystem,
    Postfix,
    RelaySink,
    free_port,
    install_packages,
    pid_alive,
    unavailable_reason,
    which,
)

SYSTEM_PID_FILES = {
    "postfix": Path("/var/spool/postfix/pid/master.pid"),
    "dovecot": Path("/run/dovecot/master.pid"),
}


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
    # In /tmp itself (not $TMPDIR or pytest's private tmp_path): the postfix user must
    # reach its queue below it, and unix socket paths must stay short.
    root = Path(tempfile.mkdtemp(prefix="spamwatch-e2e-", dir="/tmp"))
    root.chmod(0o755)
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
