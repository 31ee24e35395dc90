"""What do the detectors cost on top of parsing and correlating? (prints figures)

    python bench/bench_detectors.py                       # 300k lines, every detector
    python bench/bench_detectors.py --lines 1000000 --each --repeat 3
    python bench/bench_detectors.py --file FILE --each    # e.g. genlog --incidents

Builds a synthetic normal-server log with bench/genlog.py (same seed, same
bytes; ``--incidents`` adds genlog's compromised accounts, brute force and
relay outage) or reads ``--file``, parses it once (every event, as ``follow``
reads), then pushes the events through a Pipeline with no detector, with
every built-in detector at its defaults, and (``--each``) with each detector
alone. Prints CPU seconds (best of ``--repeat``) of correlating and
detecting, lines/s, the detectors' share, and the findings the defaults raise
(on the normal log: a heavy-tailed mix of 200 users, the busiest send
hundreds an hour; nothing above info is expected).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spamwatch.config import Config  # noqa: E402
from spamwatch.correlate import Correlator  # noqa: E402
from spamwatch.detectors import build_detectors  # noqa: E402
from spamwatch.detectors.base import Detector  # noqa: E402
from spamwatch.incidents.engine import IncidentEngine  # noqa: E402
from spamwatch.model import Event, Finding  # noqa: E402
from spamwatch.parse import Parser  # noqa: E402
from spamwatch.pipeline import Pipeline  # noqa: E402


def run_once(events: list[Event], detectors: list[Detector]) -> tuple[float, list[Finding]]:
    """CPU seconds to push every event through a fresh pipeline, and its findings."""
    records: list[Finding] = []
    engine = IncidentEngine(on_finding=records.append)
    pipeline = Pipeline(Parser(), Correlator(), detectors, engine, lambda _incident: None)
    start = time.process_time()
    for event in events:
        pipeline.feed_event(event)
    pipeline.finish()
    return time.process_time() - start, records


def best_of(events: list[Event], only: str | None, repeat: int) -> tuple[float, list[Finding]]:
    """Best CPU time of ``repeat`` runs (fresh detectors each run)."""
    best, found = float("inf"), []
    for _ in range(repeat):
        detectors = [] if only == "none" else build_detectors(Config())
        if only not in (None, "none"):
            detectors = [d for d in detectors if d.name == only]
        seconds, found = run_once(events, detectors)
        best = min(best, seconds)
    return best, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--each", action="store_true", help="also time each detector alone")
    parser.add_argument("--incidents", action="store_true", help="genlog's incidents too")
    parser.add_argument("--file", type=Path, help="read this log instead of generating one")
    args = parser.parse_args()
    if args.file:
        lines = args.file.read_bytes().splitlines()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "mail.log"
            subprocess.run(
                [sys.executable, str(ROOT / "bench" / "genlog.py"), "--lines", str(args.lines),
                 "--seed", str(args.seed), "--out", str(log),
                 *(["--incidents"] if args.incidents else [])],
                check=True, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            lines = log.read_bytes().splitlines()
    reader = Parser()
    events = [e for e in map(reader.parse, lines) if e is not None]
    names = ["none", None]
    if args.each:
        names += sorted(d.name for d in build_detectors(Config()))
    base = 0.0
    source = args.file or f"genlog seed {args.seed}"
    print(f"{len(lines):,} lines ({source}), best CPU time of {args.repeat} after parsing")
    for name in names:
        seconds, found = best_of(events, name, args.repeat)
        label = {None: "all detectors", "none": "no detector"}.get(name, name)
        if name == "none":
            base = seconds
        extra = f"  detectors +{(seconds - base) / base:.0%}" if name != "none" else ""
        print(f"{label:14s} {seconds:7.2f} s {len(lines) / seconds:10,.0f} lines/s{extra}")
        if name is None:
            raised = Counter(f"{f.detector}/{f.severity}" for f in found if f.state == "raised")
            print("  raised on this log:", dict(sorted(raised.items())) or "nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
