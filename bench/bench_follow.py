#!/usr/bin/env python3
"""Benchmarks of ``spamwatch follow`` as a real process; prints figures, asserts nothing.

    python3 bench/bench_follow.py latency      # append an attack; line -> incident delay
    python3 bench/bench_follow.py throughput   # append 20,000 lines/s; CPU %, lag
    python3 bench/bench_follow.py memory       # RSS after 1M and 10M lines
    python3 bench/bench_follow.py lag          # how far behind during a 6,000-message burst
    python3 bench/bench_follow.py all

Log lines come from ``synthlog`` (a normal server's traffic, plus the
compromised-account incident for the latency run), deterministic from a seed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import synthlog

START = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def follow(args: list[str], stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("SPAMWATCH_CONFIG", None)  # ^ this checkout's spamwatch, as bench_job.measure runs
    cmd = [sys.executable, "-m", "spamwatch", "follow", "--format", "json", *args]
    return subprocess.Popen(
        cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )


def wait_ready(proc: subprocess.Popen[bytes]) -> list[str]:
    """Read stderr until the child says it is following; keep reading it in a thread."""
    assert proc.stderr is not None
    lines: list[str] = []
    while True:
        raw = proc.stderr.readline()
        if not raw:
            raise SystemExit("follow exited early:\n" + "".join(lines))
        lines.append(raw.decode())
        if "following" in lines[-1]:
            break
    threading.Thread(target=_collect, args=(proc.stderr, lines), daemon=True).start()
    return lines


def _collect(stream: object, sink: list[str]) -> None:
    for raw in stream:  # type: ignore[attr-defined]
        sink.append(raw.decode())


def drain_stdout(proc: subprocess.Popen[bytes]) -> list[int]:
    """Read (and count) the findings in a thread, so follow never blocks on stdout."""
    count = [0]

    def run() -> None:
        assert proc.stdout is not None
        for _ in proc.stdout:
            count[0] += 1

    threading.Thread(target=run, daemon=True).start()
    return count


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / (1 << 20)


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(120)


# -- latency ---------------------------------------------------------------


def latency(workdir: Path) -> None:
    """Append an attack mixed into normal traffic; time from the crossing line to stdout."""
    log, state = workdir / "latency.log", workdir / "latency.state"
    attack_at = START + timedelta(hours=2)
    history = synthlog.background(start=START, end=attack_at, seed=11)
    log.write_text("".join(line + "\n" for line in synthlog.render(history, "rfc3339")))
    live = synthlog.merge(
        synthlog.background(start=attack_at, end=attack_at + timedelta(minutes=20), seed=12),
        synthlog.compromised_account(attack_at, messages=1500, duration=timedelta(minutes=15)),
    )
    proc = follow(["--state", str(state), str(log)])
    wait_ready(proc)
    written: dict[str, float] = {}
    received: list[tuple[float, dict[str, object]]] = []
    reader = threading.Thread(target=_findings, args=(proc, received), daemon=True)
    reader.start()
    with open(log, "a") as handle:
        for batch in _batches(synthlog.render(live, "rfc3339"), 50):
            handle.write("".join(line + "\n" for line in batch))
            handle.flush()
            now = time.monotonic()
            for line in batch:
                written[line.split(" ", 1)[0]] = now
            time.sleep(0.01)  # about 5,000 lines/s
    time.sleep(2)
    stop(proc)
    reader.join(10)
    delays = []
    for got, finding in received:
        if finding["state"] != "opened":
            continue
        at = written.get(str(finding["opened_at"]))
        if at is not None:
            delays.append(got - at)
            print(f"  {finding['key_kind']:>13} {finding['key']}: {1000 * (got - at):.0f} ms")
    if delays:
        delays.sort()
        print(
            f"latency (append of the opening line -> incident on stdout), {len(delays)} incidents: "
            f"median {1000 * delays[len(delays) // 2]:.0f} ms, max {1000 * delays[-1]:.0f} ms"
        )
    else:
        print("latency: no incident matched a written line (unexpected)")


def _findings(proc: subprocess.Popen[bytes], out: list[tuple[float, dict[str, object]]]) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        out.append((time.monotonic(), json.loads(raw)))


def _batches(lines: Iterator[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- throughput --------------------------------------------------------------


def throughput(workdir: Path, rate: int, seconds: int) -> None:
    """Append ``rate`` lines/s for ``seconds``; CPU % of follow and how far it lags."""
    log, state = workdir / "throughput.log", workdir / "throughput.state"
    log.write_text("")
    proc = follow(["--state", str(state), "--warmup", "0", str(log)])
    wait_ready(proc)
    drain_stdout(proc)
    lines = synthlog.generate(START, lines=rate * seconds, seed=21)
    cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
    step = rate // 20
    with open(log, "a") as handle:
        for n, batch in enumerate(_batches(lines, step)):
            handle.write("".join(line + "\n" for line in batch))
            handle.flush()
            pause = wall0 + (n + 1) / 20 - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    written_at = time.monotonic()
    cpu_write = cpu_seconds(proc.pid) - cpu0
    caught = _idle(proc.pid)  # the reader went idle: it has read everything
    total_cpu = cpu_seconds(proc.pid) - cpu0
    _caught_up(state, str(log), log.stat().st_size)  # check: the state says so too
    rss = rss_mib(proc.pid)
    stop(proc)
    wall = written_at - wall0
    print(
        f"throughput: {rate * seconds:,} lines appended in {wall:.1f} s "
        f"({rate * seconds / wall:,.0f} lines/s); follow CPU while appending "
        f"{100 * cpu_write / wall:.0f} % of one core; caught up "
        f"{max(0.0, caught - written_at):.1f} s after the last append; "
        f"effective {rate * seconds / (caught - wall0):,.0f} lines/s; "
        f"CPU {total_cpu / (rate * seconds) * 1e6:.0f} µs/line; RSS {rss:.0f} MiB"
    )


def _idle(pid: int) -> float:
    """When the process stopped using CPU (less than 2 % over half a second)."""
    last = cpu_seconds(pid)
    while True:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - last < 0.01:
            return time.monotonic() - 0.5
        last = now


def _caught_up(state: Path, log: str, size: int) -> float:
    while True:
        try:
            if json.loads(state.read_text())["files"][log]["offset"] >= size:
                return time.monotonic()
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)


# -- lag during an incident ---------------------------------------------------

SEED_BURST = timedelta(minutes=48)
"""The seed incident: 6,000 single-recipient messages in 48 minutes."""


def lag(workdir: Path, speedups: list[float], backgrounds: list[int], minutes: float) -> None:
    """follow during a 6,000-message burst appended in real time: how far behind it reads.

    Each line is written with the wall-clock time of its append as its log time
    (RFC 3339), the burst at ``speedup`` times the seed incident's rate, with a
    normal server's traffic and ``background`` extra lines/s. follow saves its
    state (the position up to which it has handed every line to the pipeline)
    every 5 s and after each alert; the state file is read every 20 ms, and at
    each save the lag is how long ago the first byte beyond that position was
    appended (0 when it had read everything). At most ``minutes`` per run.
    """
    for speedup in speedups:
        for rate in backgrounds:
            _lag_run(workdir, speedup, rate, minutes)


def _lag_run(workdir: Path, speedup: float, rate: int, minutes: float) -> None:
    name = f"lag-{speedup:g}x-{rate}"
    log, state, db = workdir / f"{name}.log", workdir / f"{name}.state", workdir / f"{name}.db"
    history = synthlog.background(start=START, end=START + timedelta(minutes=30), seed=41)
    log.write_text("".join(line + "\n" for line in synthlog.render(history, "rfc3339")))
    proc = follow(["--state", str(state), "--db", str(db), str(log)])
    wait_ready(proc)
    drain_stdout(proc)
    key = str(log.resolve())
    begin = START + timedelta(minutes=30)
    burst = SEED_BURST / speedup
    streams = [
        synthlog.background(start=begin, end=begin + burst, seed=42),
        synthlog.compromised_account(begin, messages=6000, duration=burst),
    ]
    if rate:
        mix = synthlog.TrafficMix(rate=rate / 7.6, flat=True, lane=9)
        streams.append(synthlog.background(mix, begin, begin + burst, 43))
    appends: list[tuple[int, float]] = []  # (end offset, wall time of the append)
    samples: list[float] = []
    done = threading.Event()
    poller = threading.Thread(
        target=_poll_lag, args=(state, key, appends, samples, done), daemon=True
    )
    cpu0 = cpu_seconds(proc.pid)
    wall0 = time.monotonic()
    log0 = begin.timestamp()
    stop_at = wall0 + minutes * 60
    poller.start()
    written = 0
    with open(log, "ab") as handle:
        offset = handle.tell()
        pending: list[bytes] = []
        for t, host, text in synthlog.merge(*streams):
            due = wall0 + (t - log0)
            now = time.monotonic()
            if due > now + 0.01 or len(pending) >= 2000:
                offset = _append(handle, pending, offset, appends)
                written += len(pending)
                pending = []
                if due > now:
                    time.sleep(due - now)
                if time.monotonic() > stop_at:
                    break
            stamp = datetime.now(UTC).isoformat(timespec="microseconds")
            pending.append(f"{stamp} {host} {text}\n".encode())
        written += len(pending)
        _append(handle, pending, offset, appends)
    wall = time.monotonic() - wall0
    time.sleep(2)
    done.set()
    poller.join()
    cpu = cpu_seconds(proc.pid) - cpu0
    stop(proc)
    if os.environ.get("LAG_TRACE"):
        print(" ".join(f"{max(samples[i : i + 20]):.1f}" for i in range(0, len(samples), 20)))
    samples.sort()
    median, p99, worst = (_quantile(samples, q) for q in (0.5, 0.99, 1.0))
    print(
        f"lag: burst at {speedup:g}x the seed rate, +{rate:,} lines/s: {written:,} lines in"
        f" {wall:.0f} s ({written / wall:,.0f} lines/s), follow {100 * cpu / (wall + 2):.0f} %"
        f" of a core; lag median {median:.2f} s, p99 {p99:.2f} s, max {worst:.2f} s;"
        f" load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


def _append(
    handle: object, pending: list[bytes], offset: int, appends: list[tuple[int, float]]
) -> int:
    if not pending:
        return offset
    data = b"".join(pending)
    handle.write(data)  # type: ignore[attr-defined]
    handle.flush()  # type: ignore[attr-defined]
    offset += len(data)
    appends.append((offset, time.monotonic()))
    return offset


def _poll_lag(
    state: Path,
    key: str,
    appends: list[tuple[int, float]],
    out: list[float],
    done: threading.Event,
) -> None:
    """At each state save: since when the first byte beyond its position waits (0: none)."""
    seen = b""
    while not done.is_set():
        time.sleep(0.02)
        try:
            raw = state.read_bytes()
            if raw == seen:
                continue
            seen = raw
            position = json.loads(raw)["files"][key]["offset"]
        except (OSError, ValueError, KeyError):
            continue
        now = time.monotonic()
        waiting = [at for end, at in appends[-5000:] if end > position]
        out.append(now - waiting[0] if waiting else 0.0)


# -- memory ------------------------------------------------------------------


def memory(workdir: Path, marks: list[int]) -> None:
    """Feed lines through ``follow -`` (a pipe: the writer waits for the reader); RSS at marks."""
    state = workdir / "memory.state"
    read_fd, write_fd = os.pipe()
    proc = follow(["--state", str(state), "-"], stdin=read_fd)
    os.close(read_fd)
    wait_ready(proc)
    drain_stdout(proc)
    out = os.fdopen(write_fd, "w", buffering=1 << 20)
    lines = synthlog.generate(START, lines=max(marks), seed=31)
    t0 = time.monotonic()
    done = 0
    for mark in sorted(marks):
        for batch in _batches(_take(lines, mark - done), 5000):
            out.write("".join(line + "\n" for line in batch))
        out.flush()
        done = mark
        elapsed = time.monotonic() - t0
        print(
            f"memory: RSS {rss_mib(proc.pid):.0f} MiB after {mark:,} lines "
            f"({elapsed:.0f} s, {mark / elapsed:,.0f} lines/s through follow)",
            flush=True,
        )
    out.close()
    proc.wait(600)


def _take(lines: Iterator[str], count: int) -> Iterator[str]:
    for _ in range(count):
        yield next(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["latency", "throughput", "memory", "lag", "all"])
    parser.add_argument("--rate", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--marks", default="1000000,10000000")
    parser.add_argument("--speedups", default="1,10", help="lag: burst rates (x the seed's)")
    parser.add_argument("--backgrounds", default="0,20000", help="lag: extra lines/s")
    parser.add_argument("--minutes", type=float, default=3.0, help="lag: at most, per run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-follow-") as tmp:
        work = Path(tmp)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs", flush=True)
        if args.what in ("latency", "all"):
            latency(work)
        if args.what in ("throughput", "all"):
            throughput(work, args.rate, args.seconds)
        if args.what in ("lag", "all"):
            lag(
                work,
                [float(x) for x in args.speedups.split(",")],
                [int(x) for x in args.backgrounds.split(",")],
                args.minutes,
            )
        if args.what in ("memory", "all"):
            memory(work, [int(m) for m in args.marks.split(",")])


if __name__ == "__main__":
    main()
