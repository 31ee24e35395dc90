"""Does a slow, dead or hanging alert sink slow the pipeline down? (prints figures)

    python bench/bench_sinks.py                  # 20000 findings (900 to the healthy one)
    python bench/bench_sinks.py --findings 100000

Sends finding records through ``Fanout.send``, as the pipeline does, to a
jsonl file plus: (1) a healthy webhook on loopback (fewer findings than its
queue holds), (2) a webhook whose server accepts the connection and never
answers (timeout 2s) and one on a port nobody listens on. Prints the cost
per ``send`` (median, 99th percentile, worst) as the pipeline sees it, how
long ``close`` took (bounded by ``drain_timeout``), and where every record
went: the claim to check is that a send costs a fraction of a millisecond (it
writes the record to the spool before it returns: write-ahead) whatever the
sinks' state, and that nothing is lost (every record is in the jsonl file,
and delivered or in the spool for each webhook).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from sinkutil import WebhookServer, make_finding  # noqa: E402

from spamwatch.config import Config  # noqa: E402
from spamwatch.sinks import Fanout, build_sinks  # noqa: E402
from spamwatch.sinks.spool import Spool  # noqa: E402


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(label: str, uris: list[str], count: int) -> None:
    """Send ``count`` findings through a Fanout of ``uris`` and print the figures."""
    warnings: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        jsonl = Path(tmp) / "alerts.jsonl"
        webhook = {"timeout": "2s", "retries": 2, "backoff": 0.2, "drain_timeout": 3}
        config = Config(data={"sinks": {"webhook": webhook}})
        uris = [*uris, f"jsonl:{jsonl}"]
        fanout = Fanout(build_sinks(uris, config, tmp, warn=warnings.append), warn=warnings.append)
        findings = [make_finding(id=f"f{i}") for i in range(count)]
        costs = []
        started = time.perf_counter()
        for finding in findings:
            before = time.perf_counter()
            fanout.send(finding)
            costs.append(time.perf_counter() - before)
        total = time.perf_counter() - started
        closing = time.perf_counter()
        fanout.close()
        closed = time.perf_counter() - closing
        spooled = Spool(tmp).pending()
        written = len(jsonl.read_text().splitlines())
    costs.sort()
    print(f"== {label}: {count} findings to {len(uris)} sinks")
    print(f"  wall time:              {total:.3f}s ({count / total:,.0f} sends/s)")
    print(f"  send cost median:       {statistics.median(costs) * 1e6:.1f} us")
    print(f"  send cost p99:          {costs[int(len(costs) * 0.99)] * 1e6:.1f} us")
    print(f"  send cost worst:        {costs[-1] * 1e3:.2f} ms")
    print(f"  close (drain + spool):  {closed:.2f}s")
    print(f"  jsonl lines written:    {written}")
    for uri in uris[:-1]:
        print(f"  spooled for {uri}: {sum(1 for u, _ in spooled if u == uri)}")
    for text in warnings:
        print(f"  stderr: {text}")


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--findings", type=int, default=20000)
    count = args.parse_args().findings
    healthy, hanging = WebhookServer().start(), WebhookServer(mode="hang").start()
    try:
        run("healthy webhook", [f"webhook+{healthy.url}/ok"], min(count, 900))
        print(f"  delivered to the healthy webhook: {len(healthy.requests)}")
        dead = [f"webhook+{hanging.url}/hang", f"webhook+http://127.0.0.1:{closed_port()}/x"]
        run("hanging + refusing webhooks", dead, count)
    finally:
        healthy.stop()
        hanging.stop()


if __name__ == "__main__":
    main()
