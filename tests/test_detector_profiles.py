"""Detectors judge against learned profiles: the same traffic, with and without history.

Each test feeds a realistic stream through the real Pipeline twice: detectors
bound to no profile (a new installation, ``--no-db``) and to a profile that
says what is normal for the login or host. The Signals (with their facts)
are what the incident engine grades.
"""

from __future__ import annotations

from collections.abc import Iterable

from builders import HOST, ScriptedCorrelator, Stream, at, detectors_for

from spamwatch.incidents.engine import IncidentEngine
from spamwatch.model import Incident, Severity, Signal
from spamwatch.parse import Parser
from spamwatch.pipeline import Pipeline
from spamwatch.profiles.view import HostProfile, ProfileView, login_profile

USER = "helpdesk@example.com"
HOME = "192.0.2.10"


class SignalLog(IncidentEngine):
    """The real incident engine, keeping every Signal it is shown."""

    def __init__(self) -> None:
        super().__init__()
        self.signals: list[Signal] = []

    def observe(self, signal: Signal) -> list[Incident]:
        self.signals.append(signal)
        return super().observe(signal)


def signals(
    stream: Stream, view: ProfileView | None = None, only: Iterable[str] = ()
) -> list[Signal]:
    detectors = detectors_for(None, only)
    for detector in detectors:
        detector.bind_profiles(view or ProfileView())  # type: ignore[attr-defined]
    log = SignalLog()
    ordered = stream.ordered()
    updates = {id(ev): ups for ev, ups in ordered}
    pipeline = Pipeline(Parser(), ScriptedCorrelator(updates), detectors, log, lambda f: None)  # type: ignore[arg-type]
    for event, _ in ordered:
        pipeline.feed_event(event)
    return log.signals


def of(found: list[Signal], detector: str) -> list[Signal]:
    return [s for s in found if s.detector == detector]


def learned(
    per_hour: int,
    networks: Iterable[str] = ("192.0.2.0/24",),
    senders: Iterable[str] = ("example.com",),
    days: int = 1,
) -> ProfileView:
    """A profile of USER: ``per_hour`` messages in every hour of ``days`` days."""
    rows = [(hour, per_hour) for _ in range(days) for hour in range(24)]
    profile = login_profile(rows, dict.fromkeys(networks, days), dict.fromkeys(senders, days))
    return ProfileView({USER: profile})


def ticketing(stream: Stream, start: float, count: int, gap: float, ip: str = HOME) -> None:
    for n in range(count):
        stream.submission(at(start + n * gap), USER, ip, rcpts=[f"customer{n}@example.net"])


def test_a_ticketing_system_is_quiet_once_its_usual_hour_is_known() -> None:
    stream = Stream()
    ticketing(stream, 0, 60, 60)  # 60 single-recipient messages an hour
    cold = of(signals(stream), "burst")
    assert cold and cold[0].facts == {"volume", "no_history"}
    assert of(signals(stream, learned(55)), "burst") == []


def test_above_its_usual_hour_from_a_new_network_says_so() -> None:
    stream = Stream()
    ticketing(stream, 0, 200, 9, ip="203.0.113.7")  # 200 in 30 minutes, from elsewhere
    warm = of(signals(stream, learned(55)), "burst")
    assert warm, "three times the usual hour is a burst"
    assert warm[-1].facts == {"volume", "above_usual", "new_network"}
    assert warm[-1].evidence["thresholds"]["usual_per_hour"] == 55


def test_the_fixed_thresholds_stay_the_floor_for_a_quiet_login() -> None:
    stream = Stream()
    ticketing(stream, 0, 40, 20)  # 40 in 13 minutes: over the 30-in-10 minutes floor
    warm = of(signals(stream, learned(2)), "burst")
    assert warm and warm[0].evidence["thresholds"]["short"] == 30


def test_too_little_history_is_no_history() -> None:
    stream = Stream()
    ticketing(stream, 0, 40, 20)
    profile = login_profile([(10, 50)] * 3, {"192.0.2.0/24": 1}, {"example.com": 1})
    found = of(signals(stream, ProfileView({USER: profile}, min_hours=4)), "burst")
    assert found and "no_history" in found[0].facts


def test_networks_used_before_count_less_than_networks_never_seen() -> None:
    known = [f"198.51.{n}.0/24" for n in range(6)]
    stream = Stream()
    for n in range(6):  # office, home, phone...: six networks the login always uses
        stream.submission(at(n * 300), USER, f"198.51.{n}.20", rcpts=["a@example.net", "b@x.org"])
    assert of(signals(stream), "addresses")  # without a profile six networks are many
    assert of(signals(stream, learned(3, networks=known)), "addresses") == []
    bots = Stream()
    for n in range(5):
        bots.submission(at(n * 60), USER, f"203.0.{n}.9", rcpts=["a@example.net", "b@x.org"])
    found = of(signals(bots, learned(3, networks=known)), "addresses")
    assert found and found[0].facts == {"many_networks", "new_network"}
    assert found[0].counts["new_networks"] == 5


def test_a_foreign_domain_used_every_day_is_quiet_a_new_one_is_a_signal_at_once() -> None:
    habit, forged = Stream(), Stream()
    for n in range(12):
        habit.submission(at(n * 240), USER, HOME, sender="helpdesk@partner-brand.example")
    forged.submission(at(0), USER, HOME, sender="service@paypa1-secure.example")
    assert of(signals(habit), "sender")  # without a profile: 12 foreign senders in an hour
    daily = learned(3, senders=("example.com", "partner-brand.example"))
    assert of(signals(habit, daily), "sender") == []
    first = of(signals(forged, daily), "sender")
    assert len(first) == 1 and first[0].severity is Severity.WARNING
    assert first[0].facts == {"foreign_sender", "new_sender_domain"}
    assert of(signals(forged), "sender") == []  # one message is not enough without history


def scanners(stream: Stream, per_window: int, minutes: int, start: int = 0) -> None:
    """``per_window`` different addresses failing once each every 10 minutes."""
    for window in range(minutes // 10):
        for n in range(per_window):
            t = start + window * 600 + n * (600 / per_window)
            stream.sasl_failure(at(t), f"185.{window % 200}.{n}.{window % 250 + 1}")


def test_background_scanners_are_quiet_against_the_hosts_ambient_level() -> None:
    stream = Stream()
    scanners(stream, 18, 120)
    assert of(signals(stream, only=["auth"]), "auth")  # 18 addresses > 10 without a profile
    ambient = ProfileView(hosts={HOST: HostProfile(2000, 20, 24, None, None)})
    assert of(signals(stream, ambient, only=["auth"]), "auth") == []


def test_a_distributed_attack_over_the_ambient_level_is_raised_within_minutes() -> None:
    stream = Stream()
    scanners(stream, 15, 60)
    for n in range(300):  # 45 addresses, 300 attempts in 10 minutes, from minute 20
        stream.sasl_failure(at(1200 + n * 2), f"45.9.{n % 45}.3", user=f"u{n % 30}@example.com")
    ambient = ProfileView(hosts={HOST: HostProfile(2000, 20, 24, None, None)})
    spray = [s for s in of(signals(stream, ambient, only=["auth"]), "auth") if "spray" in s.facts]
    assert spray, "a spray over twice the ambient level"
    assert (spray[0].time - at(1200)).total_seconds() < 600
    assert spray[0].evidence["ambient"] == {"addresses": 20, "failures": 24}
    assert spray[0].summary.endswith("(usually up to 20 addresses, 24 failures)")


def test_few_addresses_many_attempts_over_the_ambient_failures_are_a_spray() -> None:
    stream = Stream()
    for n in range(240):  # 4 addresses, 240 attempts in 8 minutes, against many logins
        stream.sasl_failure(at(n * 2), f"45.9.1.{n % 4}", user=f"u{n % 40}@example.com")
    ambient = ProfileView(hosts={HOST: HostProfile(2000, 20, 24, None, None)})
    spray = [s for s in of(signals(stream, ambient, only=["auth"]), "auth") if "spray" in s.facts]
    assert spray and spray[0].counts["addresses"] == 4


def test_one_address_brute_forcing_one_login_amid_the_scanners_is_not_a_spray() -> None:
    """Day 27 of the bench month: 93 failures from one address against info@ and the
    weather's 32 addresses made 142 failures, over twice the ambient 70, and the host got a
    "password spraying" incident besides the login's brute force: one attacker, told twice."""
    stream = Stream()
    scanners(stream, 15, 10)  # the weather: 15 addresses, once each
    for n in range(100):  # one address, 100 attempts on one login in 10 minutes
        stream.sasl_failure(at(n * 6), "203.0.113.66", user="info@example.com")
    ambient = ProfileView(hosts={HOST: HostProfile(2000, 20, 24, None, None)})
    found = of(signals(stream, ambient, only=["auth"]), "auth")
    brute = [s for s in found if "brute_force" in s.facts]
    assert brute and brute[-1].evidence["logins"] == ["info@example.com"]
    assert brute[-1].counts["failures"] == 100
    assert [s for s in found if "spray" in s.facts] == []


def test_many_addresses_brute_forcing_one_login_are_still_a_spray_of_the_host() -> None:
    """Only the window's busiest addresses are checked (``MAX_TOLD``, 20): thirty of them,
    thirty attempts each on one login in 9 minutes, are a distributed attack, a spray
    (900 failures, 300 past the 20 busiest; twice the ambient 150 is 300)."""
    stream = Stream()
    for n in range(900):
        stream.sasl_failure(at(n * 0.6), f"45.9.2.{n % 30}", user="info@example.com")
    ambient = ProfileView(hosts={HOST: HostProfile(2000, 50, 150, None, None)})
    found = of(signals(stream, ambient, only=["auth"]), "auth")
    assert [s for s in found if "brute_force" in s.facts]
    assert [s for s in found if "spray" in s.facts]


def test_a_success_after_a_spray_stays_critical_with_a_profile() -> None:
    stream = Stream()
    for n in range(300):
        stream.sasl_failure(at(n * 2), f"45.9.{n % 45}.3", user=f"u{n % 30}@example.com")
    stream.login(at(700), "u7@example.com", "45.9.7.3")
    ambient = ProfileView(hosts={HOST: HostProfile(2000, 20, 24, None, None)})
    found = of(signals(stream, ambient, only=["auth"]), "auth")
    breach = [s for s in found if "success_after_failures" in s.facts]
    assert breach and breach[-1].severity is Severity.CRITICAL


def test_a_relay_outage_is_nobodys_bounces() -> None:
    stream = Stream()
    reason = "connect to relay.example.net[198.51.100.9]:25: Connection timed out"
    for n in range(150):  # five ordinary users, 30 messages each, all waiting for the relay
        user = f"user{n % 5}@example.com"
        stream.submission(
            at(n * 20), user, f"192.0.2.{n % 5}", rcpts=[f"r{n}@example.net"],
            status="deferred", dsn="4.4.1", reason=reason, relay="none",
        )  # fmt: skip
    assert of(signals(stream, only=["bounces"]), "bounces") == []


def test_a_spam_run_that_got_the_host_throttled_is_still_its_own() -> None:
    stream = Stream()
    reason = "421 4.7.0 Try again later, closing connection"
    for n in range(30):  # three users' ordinary mail deferred now and then
        stream.submission(
            at(n * 100), f"user{n % 3}@example.com", "192.0.2.1", rcpts=[f"r{n}@gmail.com"],
            status="deferred", dsn="4.7.0", reason=reason,
        )  # fmt: skip
    for n in range(120):  # and the compromised account's flood
        stream.submission(
            at(n * 20), "victim@example.com", "203.0.113.5", rcpts=[f"s{n}@gmail.com"],
            status="deferred", dsn="4.7.0", reason=reason,
        )  # fmt: skip
    found = of(signals(stream, only=["bounces"]), "bounces")
    assert {s.key for s in found} == {"victim@example.com"}


def test_a_spray_explains_the_failures_against_its_usernames_on_every_host() -> None:
    """One spray, one finding: not one more per username, on this host or another."""
    stream = Stream()
    for n in range(240):  # 40 addresses x 24 role names, 10 minutes
        stream.sasl_failure(at(n * 2.5), f"45.9.{n % 40}.3", user=f"{ROLES[n % 24]}@example.com")
    other = Stream(host="mx2.example.com")
    for n in range(15):  # the next half hour on the other host: scanners try admin@
        other.sasl_failure(at(700 + n * 120), f"185.7.{n}.9", user="admin@example.com")
    stream.items.extend(other.items)
    found = of(signals(stream, only=["auth"]), "auth")
    assert any("spray" in s.facts for s in found)
    assert [s.key for s in found if s.key_kind == "sasl_username"] == []


ROLES = [f"role{n}" for n in range(24)]
