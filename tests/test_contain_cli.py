"""``spamwatch contain`` (LOGIN, --check, --list) and ``release`` as a user types them."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from containutil import FakePostfix

from spamwatch.cli import cli
from spamwatch.contain.check import service_lines
from spamwatch.contain.settings import CONTAIN_DEFAULTS
from spamwatch.errors import EXIT_CONFIG, EXIT_CONTAIN, EXIT_OK, EXIT_USAGE

SPEC = "hash:{map}"
MAIN_OK = """smtpd_sasl_auth_enable = yes
smtpd_sender_restrictions = check_sasl_access {spec}, permit_sasl_authenticated, reject
"""
FIELDS = (
    "smtp/inet/command = smtpd\nsubmission/inet/command = smtpd\npickup/unix/command = pickup\n"
)


def run(*args: str):
    return CliRunner().invoke(cli, list(args), env={"SPAMWATCH_CONFIG": ""})


def write_config(tmp_path: Path, fake: FakePostfix, **extra: object) -> str:
    table = {
        "dry_run": False,
        "lock": True,
        "hold": True,
        "map": f"hash:{fake.map}",
        "command_directory": str(fake.bin),
        "state_dir": str(tmp_path / "state"),
        **extra,
    }
    path = tmp_path / "spamwatch.toml"
    path.write_text("[contain]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items()))
    return str(path)


@pytest.fixture
def fake(tmp_path: Path) -> FakePostfix:
    fake = FakePostfix(tmp_path)
    fake.postconf("-F", FIELDS)
    fake.postconf("-P", "")
    return fake


def test_check_names_the_missing_main_cf_line(tmp_path: Path, fake: FakePostfix) -> None:
    fake.postconf(
        "-n", "smtpd_sasl_auth_enable = yes\nsmtpd_sender_restrictions = reject_non_fqdn_sender\n"
    )
    conf = write_config(tmp_path, fake)
    result = run("contain", "--check", "--config", conf)
    assert result.exit_code == EXIT_CONTAIN
    spec = f"hash:{fake.map}"
    assert (
        f"missing: smtp/inet: does not consult {spec}; add to main.cf: smtpd_sender_restrictions"
        f" = check_sasl_access {spec}, reject_non_fqdn_sender"
    ) in result.stdout
    assert f"missing: {fake.map} does not exist" in result.stdout
    assert "spamwatch: error: contain --check: 3 thing(s) missing" in result.stderr


def test_check_keeps_a_restriction_and_its_table_together_in_the_fix() -> None:
    """The suggested line keeps the admin's list as written: ``check_client_access TABLE``
    must not come out as ``check_client_access, TABLE`` (it read as a broken list)."""
    spec = "hash:/etc/postfix/spamwatch_sasl_access"
    value = "check_client_access hash:/etc/postfix/client_access, reject_non_fqdn_sender"
    main = {"smtpd_sender_restrictions": value}
    line = service_lines(spec, main, {}, "submission/inet")
    assert line.kind == "missing"
    assert line.text.endswith(
        f"add to main.cf: smtpd_sender_restrictions = check_sasl_access {spec}, {value}"
    )


def test_check_passes_when_postfix_consults_the_map(tmp_path: Path, fake: FakePostfix) -> None:
    spec = f"hash:{fake.map}"
    fake.postconf("-n", MAIN_OK.format(spec=spec))
    fake.map.write_text("")
    Path(str(fake.map) + ".db").write_text("")
    conf = write_config(tmp_path, fake)
    result = run("contain", "--check", "--config", conf)
    assert result.exit_code == EXIT_OK, result.stdout
    assert (
        f"ok: submission/inet: smtpd_sender_restrictions consults check_sasl_access {spec}"
        in result.stdout
    )
    assert "missing" not in result.stdout


def test_check_sees_a_master_cf_override_and_a_late_permit(
    tmp_path: Path, fake: FakePostfix
) -> None:
    spec = f"hash:{fake.map}"
    fake.postconf("-n", MAIN_OK.format(spec=spec))
    fake.postconf(
        "-P",
        "submission/inet/smtpd_sender_restrictions = permit_sasl_authenticated,"
        f" check_sasl_access {spec}\n",
    )
    fake.map.write_text("")
    Path(str(fake.map) + ".db").write_text("")
    result = run("contain", "--check", "--config", write_config(tmp_path, fake))
    assert result.exit_code == EXIT_CONTAIN
    assert (
        f"ok: smtp/inet: smtpd_sender_restrictions consults check_sasl_access {spec}"
        in result.stdout
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("missing: submission/inet"))
    assert "comes after permit_sasl_authenticated" in line
    assert (
        "in master.cf, service submission/inet, change its option to"
        " -o smtpd_sender_restrictions=check_sasl_access," in line
    )


def test_contain_by_hand_dry_run_prints_commands_and_line(
    tmp_path: Path, fake: FakePostfix
) -> None:
    log = tmp_path / "mail.log"
    log.write_text(
        "2026-11-28T03:00:00+00:00 mx postfix/submission/smtpd[1]: 4A1B2C3D4E:"
        " client=x[203.0.113.5], sasl_method=PLAIN, sasl_username=dave\n"
        "2026-11-28T03:00:01+00:00 mx postfix/qmgr[2]: 4A1B2C3D4E: from=<dave@example.com>,"
        " size=300, nrcpt=1 (queue active)\n"
    )
    fake.queue(("4A1B2C3D4E", "deferred", "dave@example.com"))
    conf = write_config(tmp_path, fake, dry_run=True)
    result = run("contain", "dave", "--config", conf, "--log", str(log))
    assert result.exit_code == EXIT_OK, result.output
    out = result.stdout
    assert out.startswith("dry run: nothing is changed")
    assert "  map line: dave REJECT 5.7.1 account locked, contact support" in out
    assert f"  $ {fake.bin}/postmap hash:{fake.map_dir}/.spamwatch_sasl_access.XXXXXXXX.new" in out
    assert f"  $ {fake.bin}/postsuper -h - < (1 queue ids)" in out
    assert "  queue ids: 4A1B2C3D4E" in out
    assert not fake.map.exists() and fake.listing() == {"4A1B2C3D4E": "deferred"}


def test_contain_list_and_release_by_hand(tmp_path: Path, fake: FakePostfix) -> None:
    log = tmp_path / "mail.log"
    log.write_text("")
    fake.queue(("4A1B2C3D4E", "deferred", "dave@example.com"))
    conf = write_config(tmp_path, fake)
    result = run("contain", "dave", "--config", conf, "--log", str(log), "--reason", "botnet")
    assert result.exit_code == EXIT_OK, result.output
    assert "dave: contained: locked at" in result.stdout
    listed = run("contain", "--list", "--config", conf)
    assert listed.stdout.startswith("dave: locked, 0 held; ") and "why: botnet" in listed.stdout
    data = json.loads(run("contain", "--list", "--format", "json", "--config", conf).stdout)
    assert data["login"] == "dave" and data["in_map"] is True and data["trigger"] == "manual"
    released = run("release", "dave", "--config", conf)
    assert released.exit_code == EXIT_OK, released.output
    assert released.stdout.startswith("will touch:\nunlock: would remove from")
    assert "dry" not in released.stdout  # the preview of a real release is not a dry run
    assert "dave: released: unlocked at" in released.stdout
    assert (
        run("contain", "--list", "--config", conf).stdout == "No login is contained by spamwatch.\n"
    )
    again = run("release", "dave", "--config", conf)
    assert again.exit_code == EXIT_CONTAIN and "is not locked by spamwatch" in again.stderr


def test_contain_failures_are_exit_7_with_the_reason(tmp_path: Path, fake: FakePostfix) -> None:
    fake.fail("postmap", "postmap: fatal: open /x: Permission denied")
    conf = write_config(tmp_path, fake, hold=False)
    result = run("contain", "dave", "--config", conf, "--log", "/nonexistent")
    assert result.exit_code == EXIT_CONTAIN
    assert "lock: failed:" in result.stdout and "Permission denied" in result.stdout
    assert "spamwatch: error: dave: containment failed: lock failed:" in result.stderr
    assert "/nonexistent: not read (no such file)" in result.stderr
    refused = run("contain", "postmaster", "--config", conf)
    assert (
        refused.exit_code == EXIT_CONTAIN and "not contained: on the allow-list" in refused.stderr
    )


def test_nothing_turned_on_says_so(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[contain]\nstate_dir = "{tmp_path}"\n')
    result = run("contain", "dave", "--config", str(path), "--log", "/dev/null")
    assert result.exit_code == EXIT_CONTAIN
    assert "nothing to do: [contain] lock, hold and hook are all off" in result.stderr


@pytest.mark.parametrize("args", [(), ("dave", "--check"), ("--list", "--check")])
def test_contain_wants_exactly_one_thing_to_do(args: tuple[str, ...]) -> None:
    result = run("contain", "--config", "/dev/null", *args)
    assert result.exit_code == EXIT_USAGE and "give a LOGIN, or --check, or --list" in result.stderr


def test_a_bad_contain_table_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[contain]\nmap = "dbm:/etc/postfix/x"\n')
    for argv in (("contain", "--list"), ("config", "check"), ("release", "dave")):
        result = run(*argv, "--config", str(path))
        assert result.exit_code == EXIT_CONFIG and "contain.map: map type 'dbm'" in result.stderr


def test_config_show_lists_every_contain_option() -> None:
    result = run("config", "show", "--config", "/dev/null")
    data = tomllib.loads(result.stdout)
    assert set(data["contain"]) == set(CONTAIN_DEFAULTS)
    assert data["contain"]["dry_run"] is True and data["contain"]["auto"] == "off"
