"""The external hook: lock (or unlock) the login where the password lives.

Postfix's map stops submission, but the stolen password still opens IMAP and
webmail; only the identity store (a Dovecot passwd-file, LDAP, SQL, a ticket
system) can lock the account itself, and spamwatch cannot know which one a
site runs. So ``[contain] hook = ["/usr/local/sbin/lock-user", ...]`` names a
program, run without a shell, with three more arguments: the login, the
incident id and the path of the evidence file (the triggering record as
JSON), and the same as one JSON object on standard input::

    {"action": "contain", "login": "...", "incident": "...",
     "evidence_file": "...", "evidence": {...}}

The environment is spamwatch's less its secrets, plus ``SPAMWATCH_ACTION``.
The program runs in its own process group and is killed with it after
``hook_timeout``; a non-zero exit is a failed step. ``release_hook`` is run
the same way by ``spamwatch release`` (action "release").
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from spamwatch.contain.audit import now_iso
from spamwatch.contain.commands import Runner, shown
from spamwatch.errors import ContainError
from spamwatch.safefiles import make_service_dir


def hook_argv(program: Sequence[str], login: str, incident: str, evidence_file: str) -> list[str]:
    """The hook's command line: the configured argv, then login, incident, evidence file."""
    return [*program, login, incident, evidence_file]


def evidence_path(directory: str, login: str) -> str:
    """A file name for one containment's evidence that no login text can steer.

    The login is hashed, never used as a path: ``../../etc/passwd`` is a
    possible SASL username.
    """
    digest = hashlib.sha256(login.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    stamp = now_iso().replace(":", "").replace("+0000", "Z")
    return os.path.join(directory, f"{stamp}-{digest}.json")


def write_evidence(path: str, evidence: Mapping[str, Any]) -> None:
    """Write the evidence file (0600: it names logins and addresses)."""
    try:
        make_service_dir(os.path.dirname(path))
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(evidence, handle, ensure_ascii=True, indent=1, default=str)
            handle.write("\n")
    except OSError as exc:
        raise ContainError(f"{path}: cannot write the evidence file: {exc.strerror}") from None


def run_hook(
    runner: Runner,
    program: Sequence[str],
    action: str,
    login: str,
    incident: str,
    evidence_file: str,
    evidence: Mapping[str, Any],
    timeout: float,
) -> str:
    """Run the hook once; returns the command as shown; ContainError when it fails."""
    argv = hook_argv(program, login, incident, evidence_file)
    payload = {
        "action": action,
        "login": login,
        "incident": incident,
        "evidence_file": evidence_file,
        "evidence": evidence,
    }
    env = {**runner.environment(), "SPAMWATCH_ACTION": action}
    stdin = json.dumps(payload, ensure_ascii=True, default=str) + "\n"
    runner.run(argv, stdin=stdin, timeout=timeout, env=env, bounded=True)
    return shown(argv)
