"""syslog sinks against a real Unix datagram socket and a real UDP socket."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sinkutil import FAST, build_one, make_incident

from spamwatch.errors import ConfigError, SinkError
from spamwatch.model import IncidentState, Severity
from spamwatch.sinks.spool import Spool

RFC3164 = re.compile(rb"<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d spamwatch\[\d+\]: (.*)")
RFC5424 = re.compile(
    rb"<(\d+)>1 (\S+) (\S+) spamwatch (\d+) incident \[spamwatch@32473 (.*?)\] (.*)", re.S
)


@pytest.fixture
def devlog(tmp_path: Path) -> Iterator[tuple[socket.socket, Path]]:
    """A Unix datagram socket standing in for /dev/log."""
    path = tmp_path / "log.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.settimeout(10)
    yield server, path
    server.close()


def test_local_syslog_rfc3164_with_facility_and_level(
    devlog: tuple[socket.socket, Path], tmp_path: Path
) -> None:
    server, path = devlog
    sink = build_one("syslog:local3", tmp_path, [], syslog={"socket": str(path), **FAST})
    sink.send(make_incident())
    sink.send(make_incident(severity=Severity.WARNING))
    sink.send(make_incident(state=IncidentState.RESOLVED))
    datagrams = [server.recv(4096) for _ in range(3)]
    sink.close()
    pris = [int(RFC3164.fullmatch(d).group(1)) for d in datagrams]  # type: ignore[union-attr]
    assert pris == [19 * 8 + 2, 19 * 8 + 4, 19 * 8 + 5]  # local3: crit, warning, notice
    text = RFC3164.fullmatch(datagrams[0]).group(2).decode()  # type: ignore[union-attr]
    assert text.startswith("CRITICAL opened: login alice@example.com on mx1: ")
    assert "480 messages" in text


def test_default_facility_is_daemon_and_config_facility_applies(
    devlog: tuple[socket.socket, Path], tmp_path: Path
) -> None:
    server, path = devlog
    sink = build_one("syslog", tmp_path, [], syslog={"socket": str(path), "facility": "mail"})
    sink.send(make_incident(severity=Severity.INFO))
    assert server.recv(4096).startswith(b"<22>")  # mail(2) * 8 + info(6)
    sink.close()


def test_reconnects_after_the_syslog_daemon_restarts(
    devlog: tuple[socket.socket, Path], tmp_path: Path
) -> None:
    server, path = devlog
    sink = build_one("syslog", tmp_path, [], syslog={"socket": str(path), **FAST})
    sink.send(make_incident(id="before"))
    assert b"alice" in server.recv(4096)
    server.close()
    path.unlink()
    again = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    again.bind(str(path))
    again.settimeout(10)
    try:
        sink.send(make_incident(key="bob@example.com"))
        assert b"bob@example.com" in again.recv(4096)
    finally:
        sink.close()
        again.close()


def test_missing_socket_is_a_sink_error(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="cannot connect"):
        build_one("syslog", tmp_path, [], syslog={"socket": str(tmp_path / "none")})


def test_unknown_facility_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="facility"):
        build_one("syslog:local9", tmp_path, [])


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(10)
    yield server
    server.close()


def test_udp_rfc5424_with_escaped_structured_data(udp: socket.socket, tmp_path: Path) -> None:
    port = udp.getsockname()[1]
    sink = build_one(f"syslog+udp://127.0.0.1:{port}", tmp_path, [], syslog={"facility": "auth"})
    sink.send(make_incident(key='we"ird]\\user'))
    datagram = udp.recv(65536)
    sink.close()
    match = RFC5424.fullmatch(datagram)
    assert match is not None, datagram
    assert int(match.group(1)) == 4 * 8 + 2
    assert match.group(3) == socket.gethostname().encode()
    assert b'detectors="burst"' in match.group(5)
    assert b'key="we\\"ird\\]\\\\user"' in match.group(5)
    assert match.group(6).startswith(b"CRITICAL opened: login")


def test_udp_rfc3164_option(udp: socket.socket, tmp_path: Path) -> None:
    port = udp.getsockname()[1]
    sink = build_one(f"syslog+udp://127.0.0.1:{port}", tmp_path, [], syslog={"format": "rfc3164"})
    sink.send(make_incident())
    assert RFC3164.fullmatch(udp.recv(65536))
    sink.close()


def test_udp_sends_one_datagram_per_finding(udp: socket.socket, tmp_path: Path) -> None:
    """Many findings through UDP: each is one datagram; nothing is spooled."""
    port = udp.getsockname()[1]
    sink = build_one(f"syslog+udp://127.0.0.1:{port}", tmp_path, [])
    for i in range(50):
        sink.send(make_incident(id=f"f{i}"))
    got = [udp.recv(65536) for _ in range(50)]
    sink.close()
    assert len({re.search(rb'id="([^"]+)"', d).group(1) for d in got}) == 50  # type: ignore[union-attr]
    assert Spool(tmp_path).pending() == []


@pytest.mark.parametrize(
    "uri", ["syslog+udp://", "syslog+udp://host:notaport", "syslog+udp://host:514/path"]
)
def test_bad_udp_uris_are_config_errors(uri: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        build_one(uri, tmp_path, [])


def test_unresolvable_host_is_a_sink_error(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="cannot resolve"):
        build_one("syslog+udp://no-such-host.invalid:514", tmp_path, [])
