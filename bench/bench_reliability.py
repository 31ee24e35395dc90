"""Never silent, never lost: a real ``spamwatch follow`` under faults (issue 14, prints figures).

    python bench/bench_reliability.py                 # every fault, sink down 30 s
    python bench/bench_reliability.py --down 600      # the sink down 10 minutes
    python bench/bench_reliability.py --only sigkill --only redirect

Each fault runs ``follow --state`` on a log holding a known incident (a
compromised account: every record ``report --all-records`` makes of it is
expected), with a webhook on loopback as the alert sink, and prints one row
(``report`` and ``follow`` run with ``--no-db``: what they judge by is the log
alone, so the records expected are exactly the records ``follow`` should send,
and the machine's profile database is left alone):

- alerted: the incident's first critical record reached the webhook;
- lost: expected records that never reached it;
- repeated: a record (its incident ``id``, ``state`` and log ``time``) delivered
  again under a DIFFERENT ``alert_id`` or ``Idempotency-Key`` than the first
  time: a repeat no receiver could recognise (must be 0);
- re-sent, same id: a record delivered again with the same ``alert_id`` and
  ``Idempotency-Key`` (at least once: a request on the wire at a kill -9 is
  sent again after the restart, and no sender can close that window), which
  the receiver can drop;
- recovery: seconds from the end of the fault (the last restart, the sink
  back) until every expected record had arrived.

Adding a fault: write a function ``def my_fault(scene: Scene) -> Row`` that
drives ``scene`` (start/kill ``follow``, switch the webhook's mode, grow or
rotate ``scene.log``) and ends with ``return scene.row(...)``; decorate it with
``@fault("name", "what it does")``. The hostile-input rows (FIFO swap,
copytruncate while behind, 200,000 lines at once, SIGTERM during a SASL spray)
write their own log (``Scene.use``: the records expected are those ``report``
makes of the same lines) and note how long SIGTERM took to end ``follow``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tools"))

from followutil import FollowProcess, attack_lines  # noqa: E402
from sinkutil import WebhookServer  # noqa: E402

from spamwatch.model import Incident  # noqa: E402
from spamwatch.sinks.record import alert_id  # noqa: E402

WAIT = 120.0
"""Seconds a row waits for every record before it counts the missing ones as lost."""


@dataclass
class Row:
    """One fault's figures."""

    fault: str
    alerted: bool
    lost: int
    repeated: int
    resent: int
    recovery: float | None
    note: str = ""


@dataclass
class Options:
    down: float
    kills: int
    seed: int


class Scene:
    """A log with a known incident, a webhook on loopback, and ``follow`` runs against them."""

    def __init__(self, workdir: Path, options: Options) -> None:
        self.dir = workdir
        self.options = options
        self.log = workdir / "mail.log"
        self.log.write_text("\n".join(attack_lines()) + "\n")
        self.state = workdir / "follow.state"
        self.spool = workdir / "spool"
        self.webhook = WebhookServer().start()
        self.expected = made(self.log)
        self.critical = next(i for i, c in self.expected if c)
        self.write_config(self.spool)

    def write_config(self, spool: Path) -> None:
        (self.dir / "spamwatch.toml").write_text(
            f'[alerts]\nspool_dir = "{spool}"\n'
            '[sinks.webhook]\nretries = 1\nbackoff = "0.2s"\nmax_backoff = "2s"\n'
            'timeout = "2s"\ndrain_timeout = "2s"\n'
            # every record kind, as report --all-records makes them (a webhook pages:
            # by default it gets no ``updated``)
            'records = ["opened", "escalated", "updated", "resolved"]\n'
        )

    def start(self, *extra: str) -> FollowProcess:
        """``follow`` from the start of the log, resuming from the state when there is one."""
        return FollowProcess(
            ["--config", str(self.dir / "spamwatch.toml"), "--from-start", "--no-db",
             "--state", str(self.state), "--format", "plain",
             "--alert", f"webhook+{self.webhook.url}/hook", *extra, str(self.log)]
        )  # fmt: skip

    def use(self, lines: list[str]) -> None:
        """The fault writes ``lines`` itself: records are expected of them; the log starts empty."""
        reference = self.dir / "reference.log"
        reference.write_text("".join(line + "\n" for line in lines))
        self.expected = made(reference)
        self.critical = next(i for i, c in self.expected if c)
        self.log.write_text("")

    def read_up_to(self, path: Path, offset: int) -> None:
        """Wait until the state says ``follow`` has read ``path`` (that very file, not a
        rotated one it finishes first) up to ``offset``."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                entry = json.loads(self.state.read_text())["files"].get(str(path))
                ino = path.stat().st_ino
                if entry is not None and entry["ino"] == ino and entry["offset"] >= offset:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"follow did not read {path} up to {offset} within {WAIT}s")

    def delivered(self) -> list[str]:
        return self.webhook.delivered_alerts()

    def wait_all(self, since: float) -> float | None:
        """Seconds from ``since`` until every expected record arrived; None: not within WAIT."""
        want = {i for i, _ in self.expected}
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if want <= set(self.delivered()):
                return time.monotonic() - since
            time.sleep(0.05)
        return None

    def row(self, name: str, recovery: float | None, note: str = "") -> Row:
        got = self.delivered()
        want = [i for i, _ in self.expected]
        repeated, resent = repeats(self.webhook)
        unexpected = len(set(got) - set(want))  # a record report does not make
        if unexpected:
            note = f"{note}; {unexpected} records report does not make".lstrip("; ")
        return Row(
            fault=name,
            alerted=self.critical in got,
            lost=len(set(want) - set(got)),
            repeated=repeated,
            resent=resent,
            recovery=recovery,
            note=note,
        )

    def close(self) -> None:
        self.webhook.stop()


def repeats(webhook: WebhookServer) -> tuple[int, int]:
    """(repeated, re-sent with the same id) among the requests the webhook answered 200.

    A record is its incident ``id``, ``state`` and log ``time``; its first delivery
    sets its ids (``alert_id`` and the ``Idempotency-Key`` header). A later delivery
    with the same ids is a re-send the receiver can drop; with any other id it is a
    repeat the receiver cannot tell from a new alert.
    """
    first: dict[tuple[str, str, str], tuple[str, str]] = {}
    repeated = resent = 0
    for request in list(webhook.requests):
        if request.mode != "ok":
            continue
        body = request.json()
        record = (body["id"], body["state"], body["time"])
        ids = (body["alert_id"], request.headers.get("Idempotency-Key", ""))
        if record not in first:
            first[record] = ids
        elif ids == first[record]:
            resent += 1
        else:
            repeated += 1
    return repeated, resent


def made(log: Path) -> list[tuple[str, bool]]:
    """(alert_id, is critical) of every record of the log, in the order they are made."""
    out = subprocess.run(
        [sys.executable, "-m", "spamwatch", "report", "--all-records", "--format", "json",
         "--fail-on", "never", "--no-db", str(log)],
        capture_output=True, text=True, check=True, cwd=ROOT, timeout=300,
    ).stdout  # fmt: skip
    records = [Incident.from_json(json.loads(line)) for line in out.splitlines()]
    return [(alert_id(r), str(r.severity) == "critical") for r in records]


FAULTS: list[tuple[str, str, Callable[[Scene], Row]]] = []


def fault(name: str, what: str) -> Callable[[Callable[[Scene], Row]], Callable[[Scene], Row]]:
    """Register a fault: a function driving a fresh Scene that returns its Row."""

    def register(func: Callable[[Scene], Row]) -> Callable[[Scene], Row]:
        FAULTS.append((name, what, func))
        return func

    return register


def finish(scene: Scene, since: float, name: str, note: str = "") -> Row:
    """A last ``follow`` with everything working: how long until all arrived, then the row."""
    last = scene.start()
    try:
        recovery = scene.wait_all(since)
    finally:
        last.stop(signal.SIGTERM)
    return scene.row(name, recovery, note)


@fault("sigkill", "SIGKILL at random points while a slow webhook holds the alerts, restarted")
def sigkill(scene: Scene) -> Row:
    rng = random.Random(scene.options.seed)
    scene.webhook.mode = "slow"
    scene.webhook.slow_for = 0.3
    for _ in range(scene.options.kills):
        run = scene.start()
        time.sleep(rng.uniform(0.3, 3.0))
        run.kill()
    scene.webhook.mode = "ok"
    return finish(scene, time.monotonic(), "sigkill", f"{scene.options.kills} kills")


@fault("restart-loop", "kill -9 and restart every 0.2-1 s, webhook fine")
def restart_loop(scene: Scene) -> Row:
    rng = random.Random(scene.options.seed + 1)
    for _ in range(2 * scene.options.kills):
        run = scene.start()
        time.sleep(rng.uniform(0.2, 1.0))
        run.kill()
    return finish(scene, time.monotonic(), "restart-loop", f"{2 * scene.options.kills} kills")


def while_broken(scene: Scene, seconds: float, *extra: str) -> tuple[FollowProcess, float | None]:
    """``follow`` runs while the webhook misbehaves ``seconds``; then it is fixed.

    Returns the run (its stderr) and the seconds from the fix until all arrived.
    """
    run = scene.start(*extra)
    try:
        time.sleep(seconds)
        scene.webhook.mode = "ok"
        recovery = scene.wait_all(time.monotonic())
    finally:
        run.stop(signal.SIGTERM)
    return run, recovery


@fault("sink-down", "the webhook answers 500 for --down seconds, then works again")
def sink_down(scene: Scene) -> Row:
    scene.webhook.mode = "fail"
    run, recovery = while_broken(scene, scene.options.down)
    said = sum("delivery failing" in line for line in run.err)
    return scene.row("sink-down", recovery, f"down {scene.options.down:g}s; outage said {said}x")


@fault("redirect", "the webhook answers 302 to another host for 10 s, then is fixed")
def redirect(scene: Scene) -> Row:
    elsewhere = WebhookServer().start()
    scene.webhook.mode = "redirect"
    scene.webhook.redirect_to = f"{elsewhere.url}/collect"
    try:
        _, recovery = while_broken(scene, 10)
    finally:
        elsewhere.stop()
    return scene.row("redirect", recovery, f"requests to the other host: {len(elsewhere.requests)}")


@fault("drip", "the webhook answers one byte every 0.5 s for 15 s, then is fixed")
def drip(scene: Scene) -> Row:
    scene.webhook.mode = "drip"
    scene.webhook.drip_every = 0.5
    run, recovery = while_broken(scene, 15)
    said = any("no answer within 2s" in line for line in run.err)
    return scene.row("drip", recovery, f"total deadline said: {said}")


@contextlib.contextmanager
def small_tmpfs(where: Path, full: bool, readonly: bool) -> Iterator[Path | None]:
    """A 64 KiB tmpfs, filled or read-only; None when it cannot be mounted (not root)."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(where)],
        capture_output=True, check=False,
    ).returncode == 0  # fmt: skip
    if not mounted:
        yield None
        return
    try:
        (where / "spool").mkdir(mode=0o700)
        if full:
            with contextlib.suppress(OSError), open(where / "filler", "wb") as handle:
                handle.write(b"\0" * (1 << 20))
        if readonly:
            subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        yield where / "spool"
    finally:
        subprocess.run(["umount", str(where)], check=False)


def spool_fault(scene: Scene, name: str, full: bool, readonly: bool) -> Row:
    with small_tmpfs(scene.dir / "fs", full, readonly) as spool:
        if spool is None:
            return Row(name, False, 0, 0, 0, None, "skipped: cannot mount a tmpfs (needs root)")
        scene.write_config(spool)
        scene.webhook.mode = "fail"
        # A jsonl file beside it: on the full one it is created, then its writes fail
        # (counted as lost for it); on the read-only one it cannot be opened (exit 6).
        extra = () if readonly else ("--alert", f"jsonl:{spool.parent}/alerts.jsonl")
        run, recovery = while_broken(scene, 5, *extra)
    said = [line for line in run.err if "spool" in line or "lost" in line]
    untrue = [line for line in said if "spooled" in line]
    note = f"{len(said)} lines about the spool/losses, {len(untrue)} claiming 'spooled'"
    return scene.row(name, recovery, note)


@fault("full-fs", "the spool on a full filesystem, the webhook down 5 s then back")
def full_fs(scene: Scene) -> Row:
    return spool_fault(scene, "full-fs", full=True, readonly=False)


@fault("readonly-fs", "the spool on a read-only filesystem, the webhook down 5 s then back")
def readonly_fs(scene: Scene) -> Row:
    return spool_fault(scene, "readonly-fs", full=False, readonly=True)


# --- hostile input and files (issue 14 §3, §4) -----------------------------------------


def filler(count: int, when: str) -> list[str]:
    """``count`` inert Postfix lines (TLS notices) at time ``when``: volume, no finding."""
    return [
        f"{when} mail.example.com postfix/smtpd[812]: Anonymous TLS connection established from"
        f" unknown[192.0.2.{n % 250}]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"
        for n in range(count)
    ]


def spray(count: int, when: str) -> list[str]:
    """``count`` SASL failures from distinct addresses at ``when`` (the speed issue's spray)."""
    return [
        f"{when} mail.example.com postfix/submission/smtpd[{1000 + n % 30000}]: warning:"
        f" unknown[10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}]: SASL LOGIN authentication"
        f" failed: (reason unavailable), sasl_username=user{n % 500}@example.com"
        for n in range(count)
    ]


def incident_in(before: int, after: int, make: Callable[[int, str], list[str]]) -> list[str]:
    """The known incident with ``before`` lines made before it and ``after`` after it."""
    attack = attack_lines()
    first, last = attack[0].split(" ", 1)[0], attack[-1].split(" ", 1)[0]
    return make(before, first) + attack + make(after, last)


def append(path: Path, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))


def lines_said(run: FollowProcess) -> int:
    """The lines ``follow`` said it read at exit (-1: it said nothing, killed)."""
    try:
        return run.lines_read()
    except StopIteration:
        return -1


def stop_seconds(run: FollowProcess, patience: float = 60.0) -> float:
    """SIGTERM, and the seconds until ``follow`` has exited (inf: not within ``patience``,
    then it is killed)."""
    started = time.monotonic()
    try:
        run.stop(signal.SIGTERM, timeout=patience)
    except subprocess.TimeoutExpired:
        run.kill()
        return float("inf")
    return time.monotonic() - started


@fault("fifo-swap", "the log renamed away and replaced by a symlink to a FIFO; 1,857 lines more")
def fifo_swap(scene: Scene) -> Row:
    lines = attack_lines()
    scene.use(lines)
    half = len(lines) // 2
    append(scene.log, lines[:half])
    run = scene.start()
    try:
        scene.read_up_to(scene.log, scene.log.stat().st_size)
        renamed = scene.dir / "mail.log.1"
        os.rename(scene.log, renamed)
        os.mkfifo(scene.dir / "trap")
        scene.log.symlink_to(scene.dir / "trap")
        time.sleep(2)  # follow looks at the path again (inotify, or within 1 s)
        since = time.monotonic()
        append(renamed, lines[half:])
        recovery = scene.wait_all(since)
        refused = any("not a regular file (a FIFO)" in line for line in run.err)
    finally:
        took = stop_seconds(run)
        run.kill()
    return scene.row("fifo-swap", recovery, f"FIFO refused: {refused}; SIGTERM exit {took:.1f}s")


@fault("copytruncate", "200,000 lines at once, copytruncate 2 s later, 50,000 more")
def copytruncate_behind(scene: Scene) -> Row:
    lines = incident_in(150_000, 250_000 - 150_000 - len(attack_lines()), filler)
    scene.use(lines)
    run = scene.start()
    try:
        append(scene.log, lines[:200_000])
        time.sleep(2)
        shutil.copyfile(scene.log, scene.dir / "mail.log.1")
        with open(scene.log, "r+b") as handle:
            handle.truncate(0)
        since = time.monotonic()
        append(scene.log, lines[200_000:])
        recovery = scene.wait_all(since)
        scene.read_up_to(scene.log, scene.log.stat().st_size)
    finally:
        took = stop_seconds(run)
        run.kill()
    behind = next(
        (line.split("while ")[1].split(";")[0] for line in run.err if "behind" in line), ""
    )
    read = lines_said(run)
    note = f"{read:,} of {len(lines):,} lines read; {behind or 'not behind'} at the truncation"
    return scene.row("copytruncate", recovery, f"{note}; SIGTERM exit {took:.1f}s")


@fault("burst-200k", "200,000 lines appended at once (the incident in the middle)")
def burst(scene: Scene) -> Row:
    lines = incident_in(100_000, 200_000 - 100_000 - len(attack_lines()), filler)
    scene.use(lines)
    run = scene.start()
    try:
        since = time.monotonic()
        append(scene.log, lines)
        recovery = scene.wait_all(since)
        scene.read_up_to(scene.log, scene.log.stat().st_size)
    finally:
        took = stop_seconds(run)
        run.kill()
    note = f"{lines_said(run):,} of {len(lines):,} lines read; SIGTERM exit {took:.1f}s"
    return scene.row("burst-200k", recovery, note)


@fault("sigterm-spray", "SIGTERM 1 s into a 100,000-line SASL spray, then a restart")
def sigterm_spray(scene: Scene) -> Row:
    lines = incident_in(100_000, 0, spray)
    scene.use(lines)
    first = scene.start()
    try:
        append(scene.log, lines)
        time.sleep(1)
    finally:
        took = stop_seconds(first)
        first.kill()
    read = lines_said(first)
    row = finish(scene, time.monotonic(), "sigterm-spray")
    row.note = f"SIGTERM exit {took:.1f}s after {read:,} of {len(lines):,} lines; restart read on"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--down", type=float, default=30.0, help="seconds the sink is down")
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs in the sigkill row")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--only", action="append", help="run only these faults (repeatable)")
    args = parser.parse_args()
    options = Options(args.down, args.kills, args.seed)
    chosen = [f for f in FAULTS if not args.only or f[0] in args.only]
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'fault':<14} {'alerted':<8} {'lost':>5} {'repeated':>9} {'re-sent, same id':>17}"
          f" {'recovery':>9}  note")  # fmt: skip
    rows: list[Row] = []
    for name, _what, run in chosen:
        workdir = Path(tempfile.mkdtemp(prefix=f"spamwatch-rel-{name}-"))
        scene = Scene(workdir, options)
        try:
            row = run(scene)
        finally:
            scene.close()
            shutil.rmtree(workdir, ignore_errors=True)
        rows.append(row)
        recovery = f"{row.recovery:.1f}s" if row.recovery is not None else "-"
        alerted = "yes" if row.alerted else "NO"
        print(f"{row.fault:<14} {alerted:<8} {row.lost:>5} {row.repeated:>9} {row.resent:>17}"
              f" {recovery:>9}  {row.note}", flush=True)  # fmt: skip
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    good = all(r.alerted and r.lost == r.repeated == 0 for r in rows if "skipped" not in r.note)
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
