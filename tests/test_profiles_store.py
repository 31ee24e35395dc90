"""The profile database: a real SQLite file, schema versions, errors, sharing, pruning."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from spamwatch.errors import ProfileError
from spamwatch.profiles.partial import Limits, Partial
from spamwatch.profiles.schema import APPLICATION_ID, SCHEMA_VERSION
from spamwatch.profiles.store import CACHE_KIB, ProfileStore
from spamwatch.profiles.view import login_profile

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday


def day_of_mail(
    partial: Partial, login: str, day: int, hours: range, per_hour: int, net: str = "192.0.2.0/24"
) -> None:
    """``per_hour`` messages of ``login`` in each of ``hours`` on day ``day`` after T0."""
    for hour in hours:
        for n in range(per_hour):
            when = T0 + timedelta(days=day, hours=hour - 9, minutes=n % 60)
            partial.message(login, when, net, "example.com", single=True)
            partial.recipient(login, when, f"d{n}.example")
            partial.cover("mx", when.timestamp())


def test_a_new_database_is_marked_versioned_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    ProfileStore(str(path)).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_page_cache_is_small(tmp_path: Path) -> None:
    """SQLite's default 2 MB page cache a connection filled over days of report or follow."""
    store = ProfileStore(str(tmp_path / "p.db"))
    try:
        assert store._db.execute("PRAGMA cache_size").fetchone()[0] == -CACHE_KIB
    finally:
        store.close()
    assert CACHE_KIB <= 512


def test_writes_add_up_and_days_are_counted_once(tmp_path: Path) -> None:
    store = ProfileStore(str(tmp_path / "p.db"))
    first, second = Partial(), Partial()
    day_of_mail(first, "alice@example.com", 0, range(9, 12), 5)
    day_of_mail(second, "alice@example.com", 0, range(12, 14), 5)  # same day, later
    day_of_mail(second, "alice@example.com", 1, range(9, 10), 5)  # and the next day
    store.write(first)
    store.write(second)
    (messages,) = store.rows("SELECT messages FROM logins")[0]
    assert messages == 30
    assert store.rows("SELECT network, messages, days FROM login_networks") == [
        ("192.0.2.0/24", 30, 2)
    ]
    assert store.rows("SELECT count(*) FROM login_hours") == [(6,)]
    (rcpt,) = store.rows("SELECT max(rcpt_domains) FROM login_hours")[0]
    assert rcpt == 5
    profile = store.view().login("alice@example.com")
    assert profile is not None and profile.usual(10) == 5 and profile.active_hours == 6


def test_the_view_holds_only_what_was_learned_before_a_time(tmp_path: Path) -> None:
    store = ProfileStore(str(tmp_path / "p.db"))
    partial = Partial()
    day_of_mail(partial, "alice@example.com", 0, range(9, 17), 3)
    day_of_mail(partial, "alice@example.com", 1, range(9, 17), 30)
    store.write(partial)
    before = (T0 + timedelta(days=1)).timestamp()
    assert store.view(before).login("alice@example.com").usual(12) == 3  # type: ignore[union-attr]
    assert store.view().login("alice@example.com").usual(12) == 30  # type: ignore[union-attr]
    assert store.view(T0.timestamp()).login("alice@example.com") is None


def test_a_login_with_too_little_history_is_not_judged(tmp_path: Path) -> None:
    store = ProfileStore(str(tmp_path / "p.db"))
    partial = Partial()
    day_of_mail(partial, "new@example.com", 0, range(9, 12), 2)  # 3 active hours
    store.write(partial)
    assert store.view(min_hours=4).login("new@example.com") is None
    assert store.view(min_hours=3).login("new@example.com") is not None


def test_garbage_is_a_corrupt_database_never_an_empty_profile(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    path.write_bytes(b"this is not sqlite\n" * 100)
    with pytest.raises(ProfileError) as caught:
        ProfileStore(str(path))
    text = str(caught.value)
    assert str(path) in text and "corrupt" in text and "move it away" in text


def learned_day(path: Path) -> Path:
    """A database that learned one day of alice's mail, closed."""
    store = ProfileStore(str(path))
    partial = Partial()
    day_of_mail(partial, "alice@example.com", 0, range(0, 24), 40)
    store.write(partial)
    store.close()
    return path


def test_a_damaged_page_is_reported_when_read(tmp_path: Path) -> None:
    path = learned_day(tmp_path / "p.db")
    sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    data = bytearray(path.read_bytes())
    data[4096 * 2 : 4096 * 4] = b"\xff" * 8192  # two pages of the tables
    path.write_bytes(bytes(data))
    with pytest.raises(ProfileError, match="corrupt profile database"):
        ProfileStore(str(path)).view()


def test_another_programs_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(ProfileError, match="not a spamwatch profile database"):
        ProfileStore(str(path))


def test_a_newer_schema_is_refused_not_downgraded(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    ProfileStore(str(path)).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(ProfileError, match="newer spamwatch"):
        ProfileStore(str(path))


def test_an_unwritable_directory_names_the_file_and_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        ProfileStore(str(tmp_path / "missing" / "p.db"))
    assert "cannot open profile database" in str(caught.value)
    assert "--db" in str(caught.value)


WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime, timedelta
    from spamwatch.profiles.partial import Partial
    from spamwatch.profiles.store import CACHE_KIB, ProfileStore
    store = ProfileStore(sys.argv[1])
    t0 = datetime(2026, 11, 23, tzinfo=UTC)
    batches = int(sys.argv[2])
    n = 0
    while n < batches:
        partial = Partial()
        for user in range(200):
            when = t0 + timedelta(minutes=n)
            partial.message(f"u{user}@example.com", when, "192.0.2.0/24", "example.com", True)
            partial.cover("mx", when.timestamp())
        store.write(partial)
        n += 1
    print(n)
    """
)


def test_readers_and_a_second_writer_never_see_a_locked_database(tmp_path: Path) -> None:
    """``follow`` writing all the time while ``report`` reads and another learner writes.

    Counted in batches, not seconds: on a loaded machine a writer given 3 s once
    wrote 3 batches and the test failed for it."""
    path = str(tmp_path / "p.db")
    ProfileStore(path).close()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, path, "20"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    reads = 0
    while reads < 4 or any(w.poll() is None for w in writers):  # read while they write
        reader = ProfileStore(path, readonly=True)
        reader.view()
        reader.close()
        reads += 1
    outputs = [w.communicate(timeout=60) for w in writers]
    assert [w.returncode for w in writers] == [0, 0], outputs
    assert [int(out) for out, _ in outputs] == [20, 20]  # no batch was refused
    (logins,) = ProfileStore(path).rows("SELECT count(*) FROM logins")[0]
    assert logins == 200


def test_retention_and_caps_prune_the_oldest(tmp_path: Path) -> None:
    store = ProfileStore(str(tmp_path / "p.db"))
    old, new = Partial(), Partial()
    day_of_mail(old, "gone@example.com", 0, range(9, 12), 2)
    day_of_mail(old, "alice@example.com", 0, range(9, 12), 2, net="198.51.100.0/24")
    store.write(old)
    for n in range(5):  # alice moves through five networks 70 days later
        day_of_mail(new, "alice@example.com", 70, range(9 + n, 10 + n), 1, net=f"10.{n}.0.0/24")
    day_of_mail(new, "bob@example.com", 70, range(9, 10), 1)
    day_of_mail(new, "carol@example.com", 71, range(9, 10), 1)
    store.write(new, retention=timedelta(days=60), limits=Limits(2, 3, 50))
    logins = [name for (name,) in store.rows("SELECT login FROM logins ORDER BY login")]
    assert logins == ["alice@example.com", "carol@example.com"]  # max_logins 2: bob was oldest
    nets = store.rows("SELECT network FROM login_networks WHERE login = 'alice@example.com'")
    assert sorted(n for (n,) in nets) == ["10.2.0.0/24", "10.3.0.0/24", "10.4.0.0/24"]
    (old_hours,) = store.rows(
        "SELECT count(*) FROM login_hours WHERE start < ?", (T0.timestamp() + 86400,)
    )[0]
    assert old_hours == 0


def test_forget_drops_every_row_of_a_login(tmp_path: Path) -> None:
    store = ProfileStore(str(tmp_path / "p.db"))
    partial = Partial()
    day_of_mail(partial, "alice@example.com", 0, range(9, 12), 2)
    day_of_mail(partial, "bob@example.com", 0, range(9, 12), 2)
    store.write(partial)
    assert store.forget("alice@example.com")
    assert not store.forget("alice@example.com")
    for table in ("logins", "login_hours", "login_networks", "login_senders"):
        names = {n for (n,) in store.rows(f"SELECT DISTINCT login FROM {table}")}
        assert names == {"bob@example.com"}, table


def test_partials_of_parts_merge_into_the_partial_of_the_whole(tmp_path: Path) -> None:
    """What lets files be learned in parallel: per-file partials add up."""
    whole, first, second = Partial(), Partial(), Partial()
    day_of_mail(whole, "alice@example.com", 0, range(9, 15), 3)
    day_of_mail(first, "alice@example.com", 0, range(9, 12), 3)
    day_of_mail(second, "alice@example.com", 0, range(12, 15), 3)
    first.merge(second)
    one, two = ProfileStore(str(tmp_path / "1.db")), ProfileStore(str(tmp_path / "2.db"))
    one.write(whole)
    two.write(first)
    for sql in (
        "SELECT * FROM logins",
        "SELECT * FROM login_hours ORDER BY start",
        "SELECT * FROM login_networks",
        "SELECT * FROM login_senders",
        "SELECT * FROM learned",
    ):
        assert one.rows(sql) == two.rows(sql), sql


def test_a_reader_without_write_access_reads_the_shared_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An admin's ad-hoc report as another user judges against what the service learned."""
    from followutil import as_nobody, open_dir

    from spamwatch.config import Config
    from spamwatch.follow import state
    from spamwatch.profiles import options

    with open_dir() as base:
        shared = base / "lib"
        shared.mkdir(mode=0o755)
        store = ProfileStore(str(shared / "profiles.db"))
        partial = Partial()
        day_of_mail(partial, "alice@example.com", 0, range(9, 15), 3)
        store.write(partial)
        store.close()  # the -wal and -shm files go with the last connection
        assert not (shared / "profiles.db-shm").exists()
        monkeypatch.setattr(state, "DEFAULT_DIR", str(shared))
        monkeypatch.setattr(options, "DEFAULT_DIR", str(shared))
        monkeypatch.delenv("SPAMWATCH_DB")
        said: list[str] = []

        def reader() -> None:
            chosen = options.profile_options(Config(), notify=said.append)
            assert chosen.path == str(shared / "profiles.db") and not chosen.learn, chosen
            assert said == [
                f"profile database: {chosen.path}, read only (not writable by this user)"
            ]
            view = ProfileStore(chosen.path, readonly=True).view()
            assert view.login("alice@example.com") is not None

        as_nobody(reader)


def test_root_learning_in_the_service_directory_leaves_the_files_to_its_owner() -> None:
    """QA P1: ``spamwatch learn`` by hand as root (README: a new installation) in the
    service's directory left a root-owned profiles.db, -wal and -shm: the service could
    never write its profiles again."""
    from followutil import as_nobody, open_dir

    with open_dir() as base:
        service = base / "lib"
        service.mkdir(mode=0o755)
        os.chown(service, 65534, 65534)
        path = service / "profiles.db"
        store = ProfileStore(str(path))  # root, by hand
        partial = Partial()
        day_of_mail(partial, "alice@example.com", 0, range(9, 15), 3)
        store.write(partial)
        owners = {p.name: p.stat().st_uid for p in service.iterdir()}
        assert owners == {"profiles.db": 65534, "profiles.db-wal": 65534, "profiles.db-shm": 65534}

        def service_learns() -> None:  # while root's connection is open: -wal and -shm too
            other = ProfileStore(str(path))
            more = Partial()
            day_of_mail(more, "bob@example.com", 1, range(9, 15), 3)
            other.write(more)
            other.close()

        as_nobody(service_learns)
        store.close()
        reader = ProfileStore(str(path), readonly=True)
        assert reader.view().login("bob@example.com") is not None
        reader.close()


def test_a_database_this_user_cannot_write_is_one_error_when_opened_to_learn() -> None:
    """SQLite opens it read only without a word; the first write failed after the log."""
    from followutil import as_nobody, open_dir

    with open_dir() as base:
        path = base / "profiles.db"
        ProfileStore(str(path)).close()  # root's, 0644, in a directory root owns: kept
        assert path.stat().st_uid == 0
        said = base / "said"

        def service_learns() -> None:
            try:
                ProfileStore(str(path))
            except ProfileError as exc:
                said.write_text(str(exc))

        as_nobody(service_learns)
        assert said.read_text() == (
            f"{path}: profile database is not writable ({path} belongs to uid 0, mode 0644);"
            " fix its permissions or choose another with --db (report and follow can only read"
            " it: --no-learn)"
        )


def test_a_directory_is_named_as_one_not_as_a_corrupt_database(tmp_path: Path) -> None:
    """``--db /var/lib/spamwatch`` (the directory, not the file): SQLite says "disk I/O
    error", which read as "corrupt ... move it away" would have the admin move the state
    directory."""
    for readonly in (False, True):
        with pytest.raises(ProfileError) as caught:
            ProfileStore(str(tmp_path), readonly=readonly)
        text = str(caught.value)
        assert text.startswith(f"{tmp_path}: is a directory, not a profile database")
        assert "corrupt" not in text and "move it away" not in text


def _next_version(monkeypatch: pytest.MonkeyPatch, step: object) -> None:
    """Pretend this spamwatch knows one schema version more, reached by ``step``."""
    from spamwatch.profiles import schema, store

    monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(store, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(schema.MIGRATIONS, SCHEMA_VERSION, step)


def test_an_older_database_is_migrated_in_place_keeping_what_it_learned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9 "a schema version with migrations": the step runs once, in the transaction
    that bumps the version; a reader asks for the upgrade instead of doing it."""
    path = learned_day(tmp_path / "p.db")
    ran: list[int] = []

    def step(db: sqlite3.Connection) -> None:
        ran.append(1)
        db.execute("CREATE TABLE added_later (x INTEGER)")

    _next_version(monkeypatch, step)
    with pytest.raises(ProfileError, match="needs an upgrade"):
        ProfileStore(str(path), readonly=True)
    ProfileStore(str(path)).close()
    ProfileStore(str(path)).close()
    assert ran == [1]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert db.execute("SELECT count(*) FROM added_later").fetchone() == (0,)
    db.close()
    assert ProfileStore(str(path)).view(min_hours=1).login("alice@example.com") is not None


def test_a_migration_that_fails_leaves_the_old_version_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.db"
    ProfileStore(str(path)).close()

    def step(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (x INTEGER)")
        raise sqlite3.OperationalError("disk I/O error")

    _next_version(monkeypatch, step)
    with pytest.raises(ProfileError):
        ProfileStore(str(path))
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "half_done" not in tables


@pytest.mark.parametrize("name", ["p.db", "p.db-wal", "p.db-shm"])
@pytest.mark.parametrize("readonly", [False, True])
def test_a_symlink_as_the_database_or_its_companions_is_refused(
    tmp_path: Path, name: str, readonly: bool
) -> None:
    """Whoever may write the service's directory must not make root's ``learn`` write
    through a planted link (SQLite follows it, and creates the -wal/-shm it names)."""
    path = tmp_path / "p.db"
    if name != "p.db":
        ProfileStore(str(path)).close()
    target = tmp_path / "elsewhere"
    target.write_bytes(b"precious\n")
    (tmp_path / name).symlink_to(target)
    with pytest.raises(ProfileError) as caught:
        ProfileStore(str(path), readonly=readonly)
    assert str(caught.value).startswith(f"{tmp_path / name}: is a symbolic link")
    assert target.read_bytes() == b"precious\n"


def test_loading_the_view_of_months_of_history_peaks_at_one_logins_rows(tmp_path: Path) -> None:
    """report and follow load the view at start: a busy server's months are millions of
    login-hours, reduced to 24 numbers a login; they are read login by login, not all
    fetched into Python first (issue 11 memory: the peak must not grow with the months)."""
    path = tmp_path / "p.db"
    store = ProfileStore(str(path))
    logins, days, hours = 300, 60, 10
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO login_hours (login, start, day, hour, messages, single, rcpt_domains)"
            " VALUES (?, ?, ?, ?, ?, 0, 1)",
            (
                (f"user{n}@example.com", T0.timestamp() + d * 86400 + h * 3600, "x", h, 1 + n % 7)
                for d in range(days)
                for n in range(logins)
                for h in range(hours)
            ),
        )
    db.close()
    tracemalloc.start()
    try:
        view = store.view()
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert view.login("user3@example.com").usual(12) == 4  # type: ignore[union-attr]
    assert view.login("user299@example.com").active_hours == days * hours  # type: ignore[union-attr]
    # 180,000 rows fetched whole were some 25 MB; one login's 600 are a few tens of kB
    assert peak - kept < 2_000_000


def test_a_logins_profile_in_the_view_is_compact() -> None:
    """The view keeps a profile for every login of the retention (up to 20,000): what
    judging needs, 24 usual volumes in one array, not 24 float objects."""
    rows = [(hour, 3 + hour % 5) for hour in range(24) for _ in range(3)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        profiles = [login_profile(rows, {}, {}) for _ in range(2000)]
        each = (tracemalloc.get_traced_memory()[0] - before) / len(profiles)
    finally:
        tracemalloc.stop()
    assert [profiles[0].usual(h) for h in (0, 1, 23)] == [6.0, 5.0, 6.0]  # 0.9 of 3 hours
    assert each < 800  # a tuple of 24 floats alone was 824 bytes
