"""jsonform.dumps writes the same line with orjson as with the standard encoder alone.

orjson writes nearly every line; a line with a byte outside printable ASCII, or one
orjson refuses (a lone surrogate, an integer past 64 bits), is left to the standard
encoder, and without orjson installed that encoder writes everything. Both must give
the very same pure-ASCII text, for every event and message of the samples and for
hostile values.
"""

from __future__ import annotations

import pytest

from spamwatch import jsonform
from spamwatch.correlate import Correlator
from spamwatch.jsonform import dumps, event_to_json, message_to_json
from spamwatch.parse import ParseOptions, Parser
from tests.conftest import ROOT

HOSTILE = [
    {"text": "\x1b[31mred\x07", "del": "\x7f", "c1": "\x9b2J", "bidi": "\u202e", "ls": "\u2028"},
    {"latin": "é", "cjk": "漢字", "emoji": "😀", "surrogate": "\udcff", "quote": '"\\'},
    {"big": 2**70, "neg": -(2**63), "float": 1.25, "zero": 0.0, "none": None, "list": [1, "a"]},
]


def values() -> list[dict[str, object]]:
    parser = Parser(ParseOptions())
    correlator = Correlator()
    out: list[dict[str, object]] = list(HOSTILE)
    for path in sorted((ROOT / "samples").glob("*.log")):
        for line in path.read_bytes().splitlines():
            event = parser.parse(line)
            if event is not None:
                out.append(event_to_json(event))
                out.extend(message_to_json(u.message) for u in correlator.feed(event))
    out.extend(message_to_json(u.message) for u in correlator.flush())
    return out


def test_orjson_and_the_standard_encoder_write_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    if jsonform.orjson is None:
        pytest.skip("orjson is not installed here")
    every = values()
    assert len(every) > 100
    fast = [dumps(value) for value in every]
    monkeypatch.setattr(jsonform, "orjson", None)
    assert [dumps(value) for value in every] == fast
    assert all(line.isascii() and "\x7f" not in line for line in fast)
