"""``spamwatch profile``: one login as a table or JSON, --list, --forget, and the mistakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result

from spamwatch.cli import cli
from spamwatch.profiles.partial import Partial
from spamwatch.profiles.store import ProfileStore

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday
HOSTILE = "[bold red]x[/]\x1b[2J@example.com"


def profile(db: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["profile", "--config", "/dev/null", "--db", str(db), *args])


def filled(tmp_path: Path) -> Path:
    """A database with alice (two days, two networks), bob (little) and a hostile name."""
    db = tmp_path / "p.db"
    partial = Partial()
    for day in range(2):
        for hour in range(6):
            for n in range(4):
                when = T0 + timedelta(days=day, hours=hour, minutes=n)
                net = "192.0.2.0/24" if n else "2001:db8:1:2::/64"
                partial.message("alice@example.com", when, net, "example.com", single=n > 0)
                partial.recipient("alice@example.com", when, f"r{n}.example")
                partial.cover("mx1", when.timestamp())
                partial.window("mx1", when.timestamp())
    partial.message("bob@example.com", T0, "198.51.100.0/24", "example.net", True)
    partial.message(HOSTILE.lower(), T0, "203.0.113.0/24", "evil.example", True)
    store = ProfileStore(str(db))
    store.write(partial)
    store.close()
    return db


def test_one_login_as_json_says_what_is_known(tmp_path: Path) -> None:
    result = profile(filled(tmp_path), "--format", "json", "Alice@Example.com")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["login"] == "alice@example.com"
    assert data["messages"] == 48 and data["single_recipient_share"] == 0.75
    assert data["active_hours"] == 12 and data["days"] == 2 and data["judged"] is True
    assert data["usual_per_hour"]["10"] == 4
    assert data["messages_by_weekday"]["mon"] == 24 and data["messages_by_weekday"]["tue"] == 24
    assert data["recipient_domains_per_hour"] == {"usual": 4, "most": 4}
    nets = {n["network"]: (n["messages"], n["days"]) for n in data["networks"]}
    assert nets == {"192.0.2.0/24": (36, 2), "2001:db8:1:2::/64": (12, 2)}
    assert [s["domain"] for s in data["sender_domains"]] == ["example.com"]


def test_one_login_as_a_table(tmp_path: Path) -> None:
    result = profile(filled(tmp_path), "bob@example.com")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("bob@example.com: too little history to judge by (1 of 4 active hours)")
    assert "198.51.100.0/24" in out and "example.net" in out and "usual" in out


def test_list_and_hostile_names_stay_text(tmp_path: Path) -> None:
    db = filled(tmp_path)
    table = profile(db, "--list")
    assert table.exit_code == 0, table.output
    assert "[bold red]x[/]" in table.stdout and "\x1b[2J" not in table.stdout
    assert "mx1" in table.stdout and "busiest logins (3 known)" in table.stdout
    data = json.loads(profile(db, "--list", "--format", "json", "--limit", "1").stdout)
    assert [row["login"] for row in data["logins"]] == ["alice@example.com"]
    assert data["logins_known"] == 3 and data["hosts"][0]["host"] == "mx1"
    assert data["hosts"][0]["sasl_failing_addresses_per_10m"] is None  # under a day
    assert data["hosts"][0]["deferral_rate"] is None  # nothing delivered


def test_forget_drops_a_login(tmp_path: Path) -> None:
    db = filled(tmp_path)
    result = profile(db, "--forget", "ALICE@example.com")
    assert result.exit_code == 0 and result.stdout == "forgot alice@example.com\n"
    again = profile(db, "alice@example.com")
    assert again.exit_code == 2
    assert (
        again.stderr
        == f"spamwatch: error: alice@example.com: no profile in {db} (2 logins known)\n"
    )


def test_mistakes_are_one_line(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    cases = [
        ((), "give a LOGIN, or --list for the busiest logins"),
        (("--list", "x@example.com"), "give a LOGIN or --list, not both"),
        (("--forget", "--list"), "--forget needs a LOGIN"),
        (("--forget",), "--forget needs a LOGIN"),  # not "give a LOGIN or --list"
        (("x@example.com",), "no profile database yet (spamwatch learn builds it)"),
    ]
    for args, message in cases:
        result = profile(db, *args)
        assert result.exit_code == 2, args
        (line,) = result.stderr.splitlines()
        assert message in line
    assert not db.exists()  # looking never creates a database


def test_config_show_and_check_cover_the_profiles_table(tmp_path: Path) -> None:
    shown = CliRunner().invoke(cli, ["config", "show", "--config", "/dev/null"])
    assert shown.exit_code == 0
    section = shown.stdout.split("[profiles]\n", 1)[1]
    for line in ('retention = "60d"', 'hold = "1h"', "min_hours = 4", "max_logins = 20000"):
        assert line in section
    bad = tmp_path / "bad.toml"
    for text, key in (
        ('hold = "30m"', "profiles.hold"),
        ("max_logins = 0", "profiles.max_logins"),
        ('retention = "0"', "profiles.retention"),  # every profile pruned at once, silently
        ('retention = "12h"', "profiles.retention"),  # less than a day: no "usual for this hour"
        ('path = "profiles.db"', "profiles.path"),  # relative: wherever the service runs
    ):
        bad.write_text(f"[profiles]\n{text}\n")
        result = CliRunner().invoke(cli, ["config", "check", "--config", str(bad)])
        assert result.exit_code == 3 and result.stderr.startswith(f"spamwatch: error: {key}:")
