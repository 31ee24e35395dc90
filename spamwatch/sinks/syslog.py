"""``syslog`` / ``syslog:FACILITY`` (local, /dev/log) and ``syslog+udp://host:514``.

Local messages use the BSD format (RFC 3164) that /dev/log readers expect;
remote ones RFC 5424 with the incident's detectors, severity, state, id and key
as structured data (``format`` switches either). The message text is cleaned:
no control character reaches the syslog daemon, so a crafted sender can
neither forge a second log line nor colour a terminal tailing the log.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from spamwatch.config.schema import Options
from spamwatch.errors import ConfigError, SinkError
from spamwatch.model import Incident, IncidentState, Severity
from spamwatch.sinks.delivery import RETRY_OPTIONS, QueuedSink
from spamwatch.sinks.text import headline
from spamwatch.textsafe import clean

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
    **{f"local{n}": 16 + n for n in range(8)},
}  # fmt: skip
LEVELS = {Severity.CRITICAL: 2, Severity.WARNING: 4, Severity.INFO: 6}
NOTICE = 5  # a resolved incident
MAX_TEXT = 1024  # characters of message text; fits a UDP datagram with headers
SD_ID = "spamwatch@32473"  # 32473: the enterprise number reserved for examples


def priority(facility: int, finding: Incident) -> int:
    """The PRI value: facility * 8 + level (resolved incidents are notices)."""
    level = NOTICE if finding.state is IncidentState.RESOLVED else LEVELS[finding.severity]
    return facility * 8 + level


def message_text(finding: Incident) -> str:
    """Headline and summary on one cleaned line."""
    return clean(f"{headline(finding)}: {finding.summary}", limit=MAX_TEXT)


def rfc3164(finding: Incident, facility: int, tag: str, now: datetime) -> bytes:
    """``<PRI>Mmm dd hh:mm:ss tag[pid]: text`` (what libc's syslog() sends)."""
    stamp = f"{now:%b} {now.day:2d} {now:%H:%M:%S}"
    head = f"<{priority(facility, finding)}>{stamp} {tag}[{os.getpid()}]: "
    return (head + message_text(finding)).encode("utf-8", "replace")


def rfc5424(finding: Incident, facility: int, tag: str, host: str, now: datetime) -> bytes:
    """``<PRI>1 TIME HOST APP PID MSGID [SD] text`` with escaped SD params."""
    params = {
        "detectors": ",".join(finding.detectors),
        "severity": str(finding.severity),
        "state": str(finding.state),
        "id": finding.id,
        "key": finding.key,
    }
    sd = " ".join(f'{name}="{_sd_escape(value)}"' for name, value in params.items())
    head = (
        f"<{priority(facility, finding)}>1 {now.isoformat(timespec='milliseconds')} "
        f"{_token(host)} {_token(tag)} {os.getpid()} incident [{SD_ID} {sd}] "
    )
    return (head + message_text(finding)).encode("utf-8", "replace")


def _sd_escape(value: str) -> str:
    """RFC 5424 PARAM-VALUE: escape ``"``, ``\\`` and ``]``; clean and bound it."""
    text = clean(value, limit=256)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _token(text: str) -> str:
    """A header field: printable ASCII without spaces, or "-" (the NILVALUE)."""
    out = "".join(ch for ch in text if 33 <= ord(ch) <= 126)[:48]
    return out or "-"


class _SyslogBase(QueuedSink):
    """What both syslog sinks share: facility, tag, format; delivery is queued."""

    default_format = "rfc3164"
    option_names = RETRY_OPTIONS | {"tag", "format", "facility", "socket"}

    @classmethod
    def read_options(cls, opts: Options) -> dict[str, Any]:
        """``tag``, ``format``, ``facility`` and ``socket`` (the Unix one's path)."""
        form = opts.string("format", cls.default_format)
        if form not in ("rfc3164", "rfc5424"):
            raise opts.error("format", "use rfc3164 or rfc5424")
        facility = opts.string("facility", "daemon") or "daemon"
        try:
            code = _facility(facility)
        except ConfigError as exc:
            raise opts.error("facility", str(exc)) from None
        return {
            **super().read_options(opts),
            "tag": opts.string("tag", "spamwatch") or "spamwatch",
            "format": form,
            "facility": code,
            "socket": opts.string("socket", "/dev/log") or "/dev/log",
        }

    def setup(self) -> None:
        """Check the options; see the module docstring."""
        super().setup()
        self.tag: str = self.settings["tag"]
        self.format: str = self.settings["format"]
        self.facility: int = self.settings["facility"]
        self.hostname = socket.gethostname()

    def encode(self, finding: Incident) -> bytes:
        """The datagram for one finding in the configured format."""
        now = datetime.now().astimezone()
        if self.format == "rfc5424":
            return rfc5424(finding, self.facility, self.tag, self.hostname, now)
        return rfc3164(finding, self.facility, self.tag, now)


def _facility(name: str) -> int:
    try:
        return FACILITIES[name.lower()]
    except KeyError:
        raise ConfigError(
            f"unknown syslog facility {name!r} (use one of {', '.join(FACILITIES)})"
        ) from None


class SyslogSink(_SyslogBase):
    """Local syslog through the Unix datagram socket (``socket`` option, default /dev/log)."""

    scheme = "syslog"
    description = "local syslog via /dev/log; syslog:FACILITY picks the facility"

    def setup(self) -> None:
        """Check the options; see the module docstring."""
        super().setup()
        if self.target:
            self.facility = _facility(self.target)
        self.path: str = self.settings["socket"]
        self.sock = self._connect()

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.connect(self.path)
        except OSError as exc:
            sock.close()
            raise SinkError(f"syslog: cannot connect to {self.path}: {exc.strerror}") from None
        return sock

    def deliver(self, findings: list[Incident]) -> None:
        """Send each finding; reconnect once if the syslog daemon was restarted."""
        for finding in findings:
            data = self.encode(finding)
            try:
                self.sock.send(data)
            except OSError:
                self.sock.close()
                self.sock = self._connect()
                self.sock.send(data)

    def close(self) -> None:
        """Drain the queue, then close the socket."""
        super().close()
        self.sock.close()


class SyslogUdpSink(_SyslogBase):
    """Remote syslog over UDP, ``syslog+udp://host[:port]`` (RFC 5424 by default)."""

    scheme = "syslog+udp"
    description = "remote syslog over UDP (RFC 5424; format = rfc3164 for old daemons)"
    default_format = "rfc5424"

    def setup(self) -> None:
        """Check the options; see the module docstring."""
        super().setup()
        self.address = _resolve(self.target)
        self.sock = socket.socket(self.address[0], socket.SOCK_DGRAM)

    def deliver(self, findings: list[Incident]) -> None:
        """One datagram per finding."""
        for finding in findings:
            self.sock.sendto(self.encode(finding), self.address[1])

    def close(self) -> None:
        """Drain the queue, then close the socket."""
        super().close()
        self.sock.close()


def _resolve(target: str) -> tuple[socket.AddressFamily, Any]:
    """``//host:port`` -> (family, sockaddr); a bad or unknown host is fatal at start."""
    try:
        parts = urlsplit(f"syslog+udp:{target}")
        host, port = parts.hostname, parts.port or 514
    except ValueError as exc:
        raise ConfigError(f"syslog+udp:{target}: {exc}") from None
    if not host or parts.path not in ("", "/"):
        raise ConfigError(f"syslog+udp:{target}: use syslog+udp://HOST[:PORT]")
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise SinkError(f"syslog+udp://{host}:{port}: cannot resolve: {exc}") from None
    family, _, _, _, sockaddr = info[0]
    return family, sockaddr
