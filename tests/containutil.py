"""Stand-in Postfix commands for the containment tests: real programs, real files.

``FakePostfix(tmp)`` writes small executable scripts (``postmap``,
``postqueue``, ``postsuper``, ``postfix``, ``postconf``) into ``tmp/bin`` and
keeps a fake queue in ``tmp/queue.jsonl``. Each script appends its argv and
stdin to ``tmp/calls.jsonl``, so a test can assert exactly what ran (and that
a hostile login never reached a command line). ``fail(name, message)`` makes
one command exit 1 with that message on stderr; ``remove(name)`` deletes it.
The scripts run under the test's interpreter; nothing touches the real Postfix.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from spamwatch.config import Config
from spamwatch.contain.settings import ContainSettings

SCRIPT = """#!{python}
import json, os, shutil, sys
base = {base!r}
name = os.path.basename(sys.argv[0])
data = sys.stdin.read() if name == "postsuper" else ""
with open(os.path.join(base, "calls.jsonl"), "a") as log:
    log.write(json.dumps({{"argv": sys.argv, "stdin": data}}) + "\\n")
fail = os.path.join(base, "fail-" + name)
if os.path.exists(fail):
    sys.stderr.write(open(fail).read())
    sys.exit(1)
args = [a for a in sys.argv[1:]]
if "-c" in args:
    i = args.index("-c"); del args[i:i + 2]
queue_file = os.path.join(base, "queue.jsonl")
def load():
    if not os.path.exists(queue_file):
        return []
    return [json.loads(l) for l in open(queue_file) if l.strip()]
def save(items):
    with open(queue_file, "w") as out:
        for item in items:
            out.write(json.dumps(item) + "\\n")
if name == "postmap":
    kind, path = args[-1].split(":", 1)
    text = open(path).read()
    for line in text.splitlines():
        if line.strip() and not line.startswith("#") and len(line.split()) < 2:
            sys.stderr.write("postmap: warning: bad line\\n")
    suffix = {{"hash": ".db", "btree": ".db", "cdb": ".cdb", "lmdb": ".lmdb"}}[kind]
    with open(path + suffix, "w") as db:
        db.write("DB:" + text)
elif name == "postqueue":
    for item in load():
        print(json.dumps(item))
elif name == "postsuper":
    ids = [l.strip() for l in data.splitlines() if l.strip()]
    items = load()
    flag = args[0]
    count = 0
    for item in items[:]:
        if item["queue_id"] not in ids:
            continue
        if flag == "-h" and item["queue_name"] != "hold":
            item["queue_name"] = "hold"; count += 1
        elif flag == "-H" and item["queue_name"] == "hold":
            item["queue_name"] = "deferred"; count += 1
        elif flag == "-d" and item["queue_name"] == "hold":
            items.remove(item); count += 1
    save(items)
    words = {{"-h": "Placed on hold", "-H": "Released from hold", "-d": "Deleted"}}[flag]
    plural = "" if count == 1 else "s"
    if count:
        sys.stderr.write("postsuper: %s: %d message%s\\n" % (words, count, plural))
elif name == "postconf":
    flag = [a for a in args if a in ("-n", "-F", "-P")][0]
    path = os.path.join(base, "postconf" + flag)
    if os.path.exists(path):
        sys.stdout.write(open(path).read())
elif name == "postfix":
    pass
"""

COMMANDS = ("postmap", "postqueue", "postsuper", "postfix", "postconf")


class FakePostfix:
    """Fake Postfix commands and queue under ``base`` (see the module docstring)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.bin = base / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        for name in COMMANDS:
            path = self.bin / name
            path.write_text(SCRIPT.format(python=sys.executable, base=str(base)))
            path.chmod(0o755)
        self.map_dir = base / "postfix"
        self.map_dir.mkdir(exist_ok=True)
        self.map = self.map_dir / "spamwatch_sasl_access"

    def settings(self, **changes: Any) -> ContainSettings:
        """Settings with every action on, not a dry run, all paths under ``base``."""
        table: dict[str, Any] = {
            "dry_run": False,
            "lock": True,
            "hold": True,
            "map": f"hash:{self.map}",
            "command_directory": str(self.bin),
            "state_dir": str(self.base / "state"),
            "auto": "critical",
        }
        table.update(changes)
        return ContainSettings.from_config(Config({"contain": table}))

    def queue(self, *items: tuple[str, str, str]) -> None:
        """Set the queue: (queue_id, queue_name, sender) per message."""
        with open(self.base / "queue.jsonl", "w") as out:
            for qid, name, sender in items:
                record = {"queue_id": qid, "queue_name": name, "sender": sender, "recipients": []}
                out.write(json.dumps(record) + "\n")

    def listing(self) -> dict[str, str]:
        """queue id -> queue name, as the fake queue holds it now."""
        path = self.base / "queue.jsonl"
        if not path.exists():
            return {}
        items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return {item["queue_id"]: item["queue_name"] for item in items}

    def calls(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every command run so far (argv, stdin), optionally of one command."""
        path = self.base / "calls.jsonl"
        if not path.exists():
            return []
        calls = [json.loads(line) for line in path.read_text().splitlines()]
        return [c for c in calls if name is None or os.path.basename(c["argv"][0]) == name]

    def fail(self, name: str, message: str) -> None:
        (self.base / f"fail-{name}").write_text(message + "\n")

    def remove(self, name: str) -> None:
        (self.bin / name).unlink()

    def postconf(self, flag: str, text: str) -> None:
        """What ``postconf FLAG`` prints (-n, -F or -P)."""
        (self.base / f"postconf{flag}").write_text(text)
