"""One escaping policy (spamwatch.textsafe) for every output: log text never drives a reader.

What Python calls unprintable (C0, NUL, DEL, C1, line separators, bidi controls
and other format characters) becomes a visible escape; everything printable,
non-ASCII letters included, is shown as it is. Each output keeps its own escape
syntax (plain, JSON, TOML) and its own format valid.
"""

from __future__ import annotations

import io
import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from spamwatch.config.load import dump_toml
from spamwatch.follow.live import LiveStats, LiveView
from spamwatch.parse import Parser
from spamwatch.sources.queue import QueueProbe
from spamwatch.textsafe import clean, json_line, toml_string

UNSAFE = {
    "NUL": "\x00",
    "BEL": "\x07",
    "tab": "\t",
    "LF": "\n",
    "CR": "\r",
    "ESC": "\x1b",
    "DEL": "\x7f",
    "C1 CSI": "\x9b",
    "C1 NEL": "\x85",
    "line separator": "\u2028",
    "paragraph separator": "\u2029",
    "right-to-left override": "\u202e",
    "left-to-right embedding": "\u202a",
    "first strong isolate": "\u2068",
    "pop directional isolate": "\u2069",
    "right-to-left mark": "\u200f",
    "arabic letter mark": "\u061c",
    "zero width space": "\u200b",
    "language tag (astral)": "\U000e0001",
}


@pytest.mark.parametrize("char", UNSAFE.values(), ids=UNSAFE.keys())
def test_each_unprintable_character_is_escaped_in_every_form(char: str) -> None:
    text = f"a{char}b"
    shown = clean(text)
    assert char not in shown and shown.startswith("a\\") and shown.endswith("b")
    line = json_line({"v": text})
    assert char not in line and json.loads(line) == {"v": text}
    toml = toml_string(text)
    assert char not in toml and tomllib.loads(f"v = {toml}") == {"v": text}


def test_the_escapes_are_the_documented_ones() -> None:
    assert clean("\x1b[31m\x00\u202e\U000e0001") == "\\x1b[31m\\x00\\u202e\\U000e0001"
    assert json_line({"v": "\x9b\U000e0001"}) == '{"v":"\\u009b\\udb40\\udc01"}'
    assert toml_string('q"\\\u202e') == '"q\\"\\\\\\u202e"'


def test_printable_text_is_untouched() -> None:
    for text in ["müller@exämple.de", "Ярослав", "田中", "naïve café", "x\\x41", "emoji 😀"]:
        assert clean(text) == text
        assert json.loads(json_line({"v": text})) == {"v": text}


def test_clean_cuts_to_a_limit() -> None:
    assert clean("abcdefghij", limit=6) == "abc..."
    assert clean("abc", limit=6) == "abc"


@given(st.text())
def test_any_text_comes_out_printable_and_round_trips_in_json_and_toml(text: str) -> None:
    assert clean(text).isprintable()
    line = json_line({"v": text})
    assert line.isprintable() and json.loads(line) == {"v": text}
    toml = toml_string(text)
    assert toml.isprintable() and tomllib.loads(f"v = {toml}") == {"v": text}


def test_the_parser_escapes_a_bidi_override_in_a_log_line() -> None:
    line = (
        "2026-11-26T09:05:15+01:00 mail postfix/smtpd[1]: 3A1F2C4D5E: "
        "client=evil[192.0.2.1], sasl_method=PLAIN, sasl_username=exe.\u202egpj\x1b[2J"
    ).encode()
    event = Parser().parse(line)
    assert event is not None
    user = event.fields["sasl_username"]
    assert user == "exe.\\u202egpj\\x1b[2J"


def test_config_show_writes_escaped_valid_toml() -> None:
    data = {"alerts": {"note": "a\u202eb\x1b"}, "x\u2028y": {"k": 1}}
    text = dump_toml(data)
    assert all(line.isprintable() for line in text.splitlines())
    assert tomllib.loads(text) == data


def test_the_queue_probe_shows_the_commands_controls_escaped(tmp_path: Path) -> None:
    command = tmp_path / "postqueue"
    command.write_text("#!/bin/sh\nprintf 'no \\342\\200\\256way\\033[2J\\n' >&2; exit 75\n")
    command.chmod(0o755)
    warnings: list[str] = []
    QueueProbe(command=str(command), warn=warnings.append).take()
    assert "\u202e" not in warnings[0] and "no \\u202eway\\x1b[2J" in warnings[0]


def test_the_live_view_escapes_a_bidi_override() -> None:
    stats = LiveStats()
    view = LiveView(stats, ["/var/log/mail\u202eexe.log"])
    out = io.StringIO()
    Console(file=out, force_terminal=True, width=200).print(view.render())
    assert "\u202e" not in out.getvalue() and "\\u202e" in out.getvalue()
