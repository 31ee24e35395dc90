"""build_detectors: config tables, per-user overrides, allow-lists, errors naming the key."""

from __future__ import annotations

from typing import Any

import pytest

from spamwatch.config import Config
from spamwatch.config.schema import is_duration_default
from spamwatch.detectors import build_detectors, detector_classes
from spamwatch.detectors.allow import AllowList, load_site, network_of
from spamwatch.errors import ConfigError
from spamwatch.timeutil import parse_duration

BUILTIN = {"addresses", "auth", "bounces", "burst", "queue", "reputation", "sender"}


def test_the_built_ins_load_through_entry_points_with_flat_defaults() -> None:
    classes = detector_classes()
    assert set(classes) >= BUILTIN
    for name in BUILTIN:
        defaults = classes[name].defaults
        assert defaults, name
        for key, value in defaults.items():
            # flat values; a table (reputation's lists) is checked by the detector's setup
            assert isinstance(value, bool | int | float | str | list | dict), (name, key)
            assert not isinstance(value, dict) or not value, (name, key)
            if isinstance(value, str):
                assert is_duration_default(value), (name, key)
                parse_duration(value)
            assert f"``{key}``" in (classes[name].__doc__ or ""), f"{name}.{key} undocumented"


def test_options_and_user_overrides_are_applied() -> None:
    config = Config(
        data={
            "detectors": {"burst": {"short_threshold": 99, "long_window": "2h"}},
            "users": {"Alice@Example.com": {"detectors": {"burst": {"short_threshold": 7}}}},
        }
    )
    burst = next(d for d in build_detectors(config) if d.name == "burst")
    assert burst.option("short_threshold") == 99
    assert burst.option("short_threshold", "alice@example.com") == 7
    assert burst.option("long_threshold", "alice@example.com") == 60
    assert burst.span("long_window").total_seconds() == 7200  # type: ignore[attr-defined]


def test_typed_options_are_read_once_per_user_with_overrides_only() -> None:
    """number()/span() are asked on every message: remembered, and per user only for
    users the config names (a log of a million logins cannot grow what is kept)."""
    config = Config(
        data={
            "detectors": {"burst": {"short_threshold": 99}},
            "users": {"alice@example.com": {"detectors": {"burst": {"short_window": "5m"}}}},
        }
    )
    burst: Any = next(d for d in build_detectors(config) if d.name == "burst")
    for n in range(10_000):
        assert burst.number("short_threshold", f"user{n}@example.com") == 99
        assert burst.span("short_window", f"user{n}@example.com").total_seconds() == 600
    assert burst.span("short_window", "alice@example.com").total_seconds() == 300
    assert burst.number("short_threshold", "alice@example.com") == 99  # not overridden
    kept = [*burst._numbers, *burst._durations]
    assert sorted(user for _, user in kept if user) == ["alice@example.com"]


def test_enabled_false_turns_a_detector_off() -> None:
    config = Config(data={"detectors": {"queue": {"enabled": False}}})
    assert {d.name for d in build_detectors(config)} == BUILTIN - {"queue"}


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"detectors": {"burst": {"short_treshold": 5}}}, "detectors.burst.short_treshold"),
        ({"detectors": {"burst": {"short_window": "soon"}}}, "detectors.burst.short_window"),
        ({"detectors": {"burst": {"short_threshold": "many"}}}, "detectors.burst.short_threshold"),
        ({"detectors": {"burst": {"short_window": "0s"}}}, "detectors.burst.short_window"),
        ({"detectors": {"queue": {"window": 0}}}, "detectors.queue.window"),
        (
            {"users": {"a@x.org": {"detectors": {"bounces": {"window": "0m"}}}}},
            'users."a@x.org".detectors.bounces.window',
        ),
        ({"detectors": {"burst": {"short_threshold": -1}}}, "detectors.burst.short_threshold"),
        ({"detectors": {"burst": {"max_users": 2.5}}}, "detectors.burst.max_users"),
        ({"detectors": {"burst": {"enabled": "no"}}}, "detectors.burst.enabled"),
        ({"detectors": {"sender": {"domains": "example.com"}}}, "detectors.sender.domains"),
        ({"detectors": {"addresses": {"ipv4_prefix": 40}}}, "detectors.addresses"),
        ({"detectors": {"nosuch": {}}}, "detectors.nosuch"),
        (
            {"users": {"a@x.org": {"detectors": {"burst": {"bogus": 1}}}}},
            'users."a@x.org".detectors.burst.bogus',
        ),
        ({"users": {"a@x.org": {"detectors": {"nosuch": {}}}}}, 'users."a@x.org".detectors.nosuch'),
        ({"users": 5}, "users"),
        ({"users": {"alice": 5}}, 'users."alice"'),
        ({"users": {"a@x.org": {"detectors": 5}}}, 'users."a@x.org".detectors'),
        ({"users": {"a@x.org": {"detektors": {}}}}, 'users."a@x.org".detektors'),
        ({"users": {"a@x.org": {"detectors": {"burst": 5}}}}, 'users."a@x.org".detectors.burst'),
        ({"allow": {"networks": ["10.0.0.0/33"]}}, "allow.networks"),
        ({"allow": {"users": "alice"}}, "allow.users"),
        ({"allow": {"hosts": []}}, "allow.hosts"),
        ({"local_domains": "example.com"}, "local_domains"),
    ],
)
def test_bad_config_names_the_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_detectors(Config(data=data))
    assert str(info.value).startswith(key)


def test_allow_list_matching() -> None:
    site = load_site(
        Config(
            data={
                "local_domains": ["Example.COM"],
                "allow": {
                    "users": ["CRM@example.com"],
                    "networks": ["192.0.2.0/24", "2001:db8::/32"],
                    "senders": ["noreply@shop.example", "@lists.example.org"],
                },
            }
        )
    )
    allow = site.allow
    assert site.local_domains == {"example.com"}
    assert allow.user("crm@EXAMPLE.com") and not allow.user("alice@example.com")
    assert allow.address("192.0.2.200") and allow.address("2001:db8:5::1")
    assert not allow.address("198.51.100.1") and not allow.address("garbage")
    assert allow.sender("NoReply@shop.example") and not allow.sender("sales@shop.example")
    assert allow.sender("x@lists.example.org") and allow.sender("x@a.lists.example.org")
    assert not allow.sender("") and not AllowList().allows("a", "192.0.2.1", "b@c")


def test_network_grouping() -> None:
    assert network_of("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert network_of("203.0.113.77") == "203.0.113.77"
    assert network_of("203.0.113.77", ipv4_prefix=24) == "203.0.113.0/24"
    assert network_of("IPv6:2001:db8::1", ipv6_prefix=48) == "2001:db8::/48"
    assert network_of("not-an-address") == "not-an-address"


def test_every_option_is_in_the_man_page() -> None:
    from pathlib import Path

    from spamwatch.incidents.tracker import FindingTracker

    man = (Path(__file__).resolve().parents[1] / "man" / "spamwatch.1").read_text()
    section = man[man.index('.\\" BEGIN detectors') : man.index('.\\" END detectors')]
    classes = detector_classes()
    for name in BUILTIN:
        part = section.split(f".SS {name}\n", 1)[1].split(".SS ", 1)[0]
        for key in classes[name].defaults:
            assert f' {key} "' in part or f".BR {key} " in part, f"{name}.{key} not in man"
    for key in FindingTracker.defaults:
        assert key in section, f"findings.{key}"
