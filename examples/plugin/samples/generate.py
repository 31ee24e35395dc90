"""Write night.log: a login queueing 30 messages between 02:00 and 02:40 (log time).

The ``night`` detector's sample log (tests/test_detector_samples.py runs every
registered detector over the sample logs and expects each to be raised by one).
Same bytes every time: ``python examples/plugin/samples/generate.py``.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "tools"))

import synthlog  # noqa: E402

ZONE = timezone(timedelta(hours=1))
START = datetime(2026, 11, 26, 1, 30, tzinfo=ZONE)


def main() -> None:
    records = synthlog.merge(
        synthlog.background(synthlog.TrafficMix(rate=0.01), START, START + timedelta(hours=2), 201),
        synthlog.newsletter(
            START + timedelta(minutes=30), user="night.owl@example.com", messages=30,
            recipients=(1, 2), interval=(40.0, 90.0), seed=202,
        ),
    )  # fmt: skip
    lines = synthlog.render(records, "rfc3339", tz=ZONE)
    (HERE / "night.log").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


if __name__ == "__main__":
    main()
