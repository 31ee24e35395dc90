"""A private Postfix + Dovecot + "internet" on loopback, for the e2e suite.

Why a private instance: the suite must prove spamwatch against the real
daemons an administrator runs, but it must never touch the machine's own mail
system. So Postfix runs as ``postfix -c TMPDIR/etc`` with its own queue, data
directory and ``maillog_file`` under a temporary directory, on non-default
loopback ports; Dovecot runs as ``dovecot -c TMPDIR/dovecot.conf`` for SASL
only. The configuration templates live in ``tests/e2e/conf/``. Everything is
stopped by its pid file, and only what this module started is stopped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from sinkutil import wait_until
from smtp_traffic import Account

CONF_DIR = Path(__file__).parent / "conf"
PACKAGES = ("postfix", "dovecot-core")
DEBCONF = (
    "postfix postfix/main_mailer_type select Local only\n"
    "postfix postfix/mailname string mail.example.com\n"
)
SBIN = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


def which(name: str) -> str | None:
    """Find a command also in sbin directories (often missing from a test PATH)."""
    found = shutil.which(name)
    if found:
        return found
    for directory in SBIN:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def run(cmd: list[str], env: Mapping[str, str] | None = None, timeout: float = 120) -> str:
    """Run a command, raise with its output when it fails (harness errors must be legible)."""
    merged = {**os.environ, **(env or {})}
    # Files, not pipes: a daemon that forks keeps a pipe open and would hang us.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=merged, timeout=timeout
        )
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stdout}\n{stderr}")
    return stdout


def missing_packages() -> list[str]:
    """Which of the needed Debian packages are not installed."""
    missing = []
    if which("postfix") is None or which("postqueue") is None:
        missing.append("postfix")
    if which("dovecot") is None:
        missing.append("dovecot-core")
    return missing


def unavailable_reason() -> str | None:
    """Why the suite cannot run here (None when it can), checked before anything."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        if missing_packages():
            return "e2e needs root to install postfix and dovecot-core (not root)"
        return "e2e needs root to start a private Postfix instance (not root)"
    if missing_packages() and which("apt-get") is None:
        return f"e2e needs {', '.join(missing_packages())} and there is no apt-get to install them"
    return None


def install_packages() -> list[str]:
    """Install postfix and dovecot-core with Debian's answers; return what was installed."""
    missing = missing_packages()
    if not missing:
        return []
    subprocess.run(
        ["debconf-set-selections"], input=DEBCONF, text=True, check=True, capture_output=True
    )
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update"], env=env, timeout=600)
    run(["apt-get", "install", "-y", *PACKAGES], env=env, timeout=900)
    still = missing_packages()
    if still:
        raise RuntimeError(f"apt-get install left {still} missing")
    return missing


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render(template: str, dest: Path, values: Mapping[str, object]) -> Path:
    """Copy a template from conf/, replacing each @NAME@ placeholder."""
    text = (CONF_DIR / template).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", str(value))
    leftover = re.findall(r"@[A-Z_]+@", text)
    if leftover:
        raise RuntimeError(f"{template}: unfilled placeholders {leftover}")
    dest.write_text(text)
    return dest


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def pid_alive(pid_file: Path) -> int | None:
    """The pid in a pid file when that process still runs."""
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


class _CountingHandler:
    """aiosmtpd handler that accepts every message and keeps its envelope."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[str, tuple[str, ...]]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        mail_from = getattr(envelope, "mail_from", "")
        rcpts = tuple(getattr(envelope, "rcpt_tos", ()))
        self.envelopes.append((mail_from, rcpts))
        return "250 2.0.0 Ok: queued as E2E"


class RelaySink:
    """The internet: an aiosmtpd server on loopback that accepts everything.

    ``stop()`` makes Postfix's deliveries defer (connection refused) so the
    queue grows; ``start()`` on the same port lets it drain again.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.handler = _CountingHandler()
        self._controller: Controller | None = None

    @property
    def received(self) -> int:
        """How many messages the internet accepted so far."""
        return len(self.handler.envelopes)

    def start(self) -> None:
        controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@dataclass
class Dovecot:
    """Dovecot as a SASL server for Postfix, with its own small config file."""

    root: Path
    auth_socket: Path
    users: Mapping[str, str]
    conf: Path = field(init=False)

    def __post_init__(self) -> None:
        self.conf = self.root / "dovecot.conf"
        self.base_dir = self.root / "dovecot-run"
        self.pid_file = self.base_dir / "master.pid"

    def start(self) -> None:
        self.base_dir.mkdir(mode=0o755, exist_ok=True)
        state_dir = self.root / "dovecot-state"
        state_dir.mkdir(mode=0o750, exist_ok=True)
        passwd = self.root / "dovecot.passwd"
        passwd.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items()))
        passwd.chmod(0o640)
        shutil.chown(passwd, group="dovecot")
        values = {
            "BASE_DIR": self.base_dir,
            "STATE_DIR": state_dir,
            "LOG_PATH": self.root / "dovecot.log",
            "PASSWD_FILE": passwd,
            "AUTH_SOCKET": self.auth_socket,
        }
        render("dovecot.conf", self.conf, values)
        run([which("dovecot") or "dovecot", "-c", str(self.conf)])
        wait_until(self.auth_socket.exists, 30, "Dovecot's auth socket")

    def stop(self) -> None:
        pid = pid_alive(self.pid_file)
        if pid is None:
            return
        subprocess.run([which("dovecot") or "dovecot", "-c", str(self.conf), "stop"], check=False)
        try:
            wait_until(lambda: pid_alive(self.pid_file) is None, 20, "Dovecot to stop")
        except AssertionError:
            os.kill(pid, 15)


@dataclass
class Postfix:
    """A private Postfix instance: own config, queue and log under ``root``."""

    root: Path
    relay_port: int
    smtpd_port: int = field(default_factory=free_port)
    submission_port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.config_dir = self.root / "etc"
        self.queue_dir = self.root / "spool"
        self.data_dir = self.root / "data"
        self.log_dir = self.root / "log"
        self.maillog = self.log_dir / "maillog"
        self.auth_socket = self.queue_dir / "private" / "auth"
        self.pid_file = self.queue_dir / "pid" / "master.pid"

    @property
    def env(self) -> dict[str, str]:
        """Environment that points Postfix commands at this instance."""
        return {"MAIL_CONFIG": str(self.config_dir)}

    def configure(self) -> None:
        for directory in (self.config_dir, self.queue_dir, self.data_dir, self.log_dir):
            directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        values = {
            "CONFIG_DIR": self.config_dir,
            "QUEUE_DIR": self.queue_dir,
            "DATA_DIR": self.data_dir,
            "MAILLOG": self.maillog,
            "MAILLOG_PREFIX": self.log_dir,
            "RELAY_PORT": self.relay_port,
            "SMTPD_PORT": self.smtpd_port,
            "SUBMISSION_PORT": self.submission_port,
        }
        render("main.cf", self.config_dir / "main.cf", values)
        render("master.cf", self.config_dir / "master.cf", values)
        shutil.chown(self.data_dir, user="postfix")
        # Creates the queue directories with Postfix's own ownership rules.
        self.postfix("check")

    def postfix(self, *args: str) -> str:
        return run([which("postfix") or "postfix", "-c", str(self.config_dir), *args])

    def start(self) -> None:
        self.postfix("start")
        wait_until(lambda: port_open(self.smtpd_port), 60, "Postfix smtpd port")
        wait_until(self.maillog.exists, 30, "Postfix's maillog_file")

    def stop(self) -> None:
        if pid_alive(self.pid_file) is None:
            return
        subprocess.run(
            [which("postfix") or "postfix", "-c", str(self.config_dir), "stop"], check=False
        )
        wait_until(lambda: pid_alive(self.pid_file) is None, 60, "Postfix to stop")

    def queue(self) -> list[dict[str, object]]:
        """The real queue, from ``postqueue -j`` (one JSON object per message)."""
        out = run([which("postqueue") or "postqueue", "-c", str(self.config_dir), "-j"])
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def flush(self) -> None:
        """``postqueue -f``: try every deferred message now."""
        run([which("postqueue") or "postqueue", "-c", str(self.config_dir), "-f"])


PASSWORDS = {
    "alice": "alice-pw-1",
    "bob": "bob-pw-2",
    "carol": "carol-pw-3",
    "news": "news-pw-4",
    "dave": "dave-pw-5",  # scenario 2: the compromised account
    "erin": "erin-pw-6",  # scenario 5: compromised while follow restarts
    "frank": "frank-pw-7",  # scenario 3: brute-forced
    "gina": "gina-pw-8",  # scenario 4: sends while the internet is down
    "mallory": "mallory-pw-9",  # test_respond_e2e: the botnet's login, locked by follow
    "oscar": "oscar-pw-10",  # test_respond_e2e: keeps sending while mallory is locked
    "trent": "trent-pw-11",  # test_respond_e2e: contained by hand, then purged
    "walter": "walter-pw-12",  # test_respond_e2e: attacked while follow only dry-runs
}
"""Dovecot's accounts; the SASL username is the local part at example.com."""


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
