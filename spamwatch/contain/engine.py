"""Contain a login and release it: lock, hold, hook; each step audited, none half-done.

``Containment.contain`` checks the allow-list and the hourly limit first,
writes a ``planned`` (or ``dry-run``) audit record before touching anything
(no audit log, no action), then runs the steps that are turned on:

1. ``lock``: the login's line in the access map (atomic, ``postmap``, optional
   ``postfix reload``); when any part fails the map is unchanged and the
   outcome says the login is NOT locked;
2. ``hold``: its queued messages known from the log, confirmed with
   ``postqueue -j``, put on hold in batches;
3. ``hook``: the external command for the identity store.

A failed step does not stop the next (holding the spam is worth doing even
when the map cannot be written); the outcome is ``contained`` only when every
step worked, else ``containment failed`` naming each failure. In a dry run
every step says exactly what it would run or write, and nothing changes.
``release`` undoes a lock and takes spamwatch's held mail off hold (or
deletes it with ``purge``).
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from spamwatch.contain.accessmap import AccessMap
from spamwatch.contain.audit import AuditLog, now_iso
from spamwatch.contain.commands import Runner, shown
from spamwatch.contain.hook import evidence_path, hook_argv, run_hook, write_evidence
from spamwatch.contain.ledger import MAX_HELD_IDS, Entry, Ledger, LedgerData
from spamwatch.contain.policy import refusal
from spamwatch.contain.queue import BatchError, Queue, confirm
from spamwatch.contain.settings import ContainSettings
from spamwatch.errors import ContainError
from spamwatch.textsafe import clean

DONE, FAILED, SKIPPED, DRY = "done", "failed", "skipped", "dry-run"


@dataclass
class Step:
    """One action of a containment or release, and how it went."""

    name: str
    status: str
    detail: str = ""
    commands: list[str] = field(default_factory=list)
    map_line: str = ""
    queue_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "status": self.status,
            "detail": self.detail,
            "commands": self.commands,
            "map_line": self.map_line.rstrip("\n"),
            "queue_ids": len(self.queue_ids),
        }


@dataclass
class Outcome:
    """What ``contain`` or ``release`` did (or would do) to one login."""

    action: str  # contain | release
    login: str
    status: str  # contained | containment failed | released | release failed | dry run | refused
    at: str
    steps: list[Step] = field(default_factory=list)
    reason: str = ""

    @property
    def ok(self) -> bool:
        """Everything worked (for a dry run: every step could be planned)."""
        if self.status == "dry run":
            return all(s.status != FAILED for s in self.steps)
        return self.status in ("contained", "released")

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def summary(self) -> str:
        """One line for the alert: "contained: locked at 03:12:05, 214 queued messages held"."""
        clock = datetime.fromisoformat(self.at).astimezone().strftime("%H:%M:%S")
        if self.status == "refused":
            return f"not contained: {self.reason}"
        if self.status == "dry run":
            planned = ", ".join(_would(s) for s in self.steps if s.status != FAILED)
            failed = [_said(s, clock) for s in self.steps if s.status == FAILED]
            text = "dry run, nothing changed: " + (f"would {planned}" if planned else "")
            return "; ".join([text.rstrip(": "), *failed])
        done = [_said(s, clock) for s in self.steps if s.status != FAILED]
        failed = [_said(s, clock) for s in self.steps if s.status == FAILED]
        return f"{self.status}: " + "; ".join([", ".join(p for p in done if p), *failed]).strip(
            "; "
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "login": clean(self.login),
            "status": self.status,
            "at": self.at,
            "reason": self.reason,
            "summary": self.summary(),
            "steps": [s.to_json() for s in self.steps],
        }


def _held(count: int) -> str:
    return f"{count} queued message{'s' if count != 1 else ''}"


def _would(step: Step) -> str:
    if step.name == "lock":
        return "lock the login in the map"
    if step.name == "hold":
        return f"hold {_held(len(step.queue_ids))}"
    if step.name == "unlock":
        return "remove the login from the map"
    if step.name in ("release_held", "purge_held"):
        verb = "delete" if step.name == "purge_held" else "release"
        return f"{verb} {_held(len(step.queue_ids))}"
    return f"run the {step.name.replace('_', ' ')}"


def _said(step: Step, clock: str) -> str:
    if step.status == FAILED:
        return f"{step.name.replace('_', ' ')} failed: {step.detail}"
    if step.status == SKIPPED:
        return ""
    if step.name == "lock":
        return f"locked at {clock}" if "already" not in step.detail else "already locked"
    if step.name == "hold":
        return f"{_held(len(step.queue_ids))} held"
    if step.name == "unlock":
        return f"unlocked at {clock}"
    if step.name == "release_held":
        return f"{_held(len(step.queue_ids))} released"
    if step.name == "purge_held":
        return f"{_held(len(step.queue_ids))} deleted"
    return f"{step.name.replace('_', ' ')} ran"


def who() -> str:
    """The person running the command (the sudo user when run through sudo)."""
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    sudo = os.environ.get("SUDO_USER")
    return f"{sudo} (via sudo as {name})" if sudo and sudo != name else name


class Containment:
    """Contain and release logins under one ``[contain]`` configuration."""

    def __init__(
        self,
        settings: ContainSettings,
        runner: Runner | None = None,
        audit: AuditLog | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.settings = settings
        self.runner = runner or Runner(settings)
        self.audit = audit or AuditLog(settings.audit_log)
        self.ledger = ledger or Ledger(settings.ledger_path)
        self.map = AccessMap(settings, self.runner)
        self.queue = Queue(self.runner, settings.hold_batch)

    # -- contain --------------------------------------------------------------

    def contain(
        self,
        login: str,
        *,
        incident: str = "",
        reason: str = "",
        queued: Mapping[str, str | None] | None = None,
        addresses: Iterable[str] = (),
        trigger: str = "manual",
        by: str | None = None,
        evidence: Mapping[str, Any] | None = None,
        dry_run: bool = False,
    ) -> Outcome:
        """Lock, hold and hook ``login`` as configured; see the module docstring."""
        if not self.settings.actions:
            raise ContainError(
                "nothing to do: [contain] lock, hold and hook are all off (see README"
                " 'Stopping an incident')"
            )
        dry = dry_run or self.settings.dry_run
        ctx = _Context(login, trigger, by or who(), incident, reason, dry)
        with self.ledger.locked() as data:
            why = refusal(self.settings, login, addresses, data, automatic=trigger == "auto")
            if why is not None:
                self._audit(ctx, "refused", "refused", detail=why)
                return Outcome("contain", login, "refused", now_iso(), reason=why)
            self._audit(ctx, "contain", DRY if dry else "planned")  # no audit log, no action
            steps = []
            if self.settings.lock:
                steps.append(self._lock(ctx))
            if self.settings.hold:
                steps.append(self._hold(ctx, dict(queued or {})))
            if self.settings.hook:
                steps.append(self._hook(ctx, "contain", self.settings.hook, evidence or {}))
            outcome = _outcome("contain", login, dry, steps)
            if not dry:
                self._remember(ctx, data, steps)
            self._audit(ctx, "contain", _audit_outcome(outcome), detail=outcome.summary())
        return outcome

    def hold_more(self, login: str, queued: Mapping[str, str | None], incident: str = "") -> Step:
        """Hold messages a locked login queued after its lock (sessions already open)."""
        dry = self.settings.dry_run
        ctx = _Context(login, "auto", "spamwatch follow", incident, "queued after the lock", dry)
        with self.ledger.locked() as data:
            if login.lower() not in data.entries:
                return Step("hold", SKIPPED, "no longer contained (released meanwhile)")
            step = self._hold(ctx, dict(queued))
            if not dry:
                self._remember(ctx, data, [step])
        return step

    def _lock(self, ctx: _Context) -> Step:
        try:
            change = self.map.plan_add(ctx.login)
            current = self.map.keys().get(change.line.split(" ", 1)[0])
            planned = [shown(c) for c in self.map.commands(self._placeholder())]
        except ContainError as exc:
            return self._step(ctx, Step("lock", FAILED, f"{exc}; {ctx.shown} is NOT locked"))
        if current == self.settings.action:
            return Step("lock", DONE, "already locked in the map", map_line=change.line)
        if ctx.dry:
            detail = f"would add the line to {self.map.path} (XXXXXXXX: a temporary name)"
            return self._step(ctx, Step("lock", DRY, detail, planned, change.line))
        try:
            ran = self.map.apply(change)
        except ContainError as exc:
            step = Step(
                "lock",
                FAILED,
                f"{exc}; the map is unchanged, {ctx.shown} is NOT locked",
                planned,
                change.line,
            )
            return self._step(ctx, step)
        step = Step("lock", DONE, f"added to {self.map.path}", ran, change.line)
        if self.settings.reload:
            try:
                step.commands.append(self.map.reload())
            except ContainError as exc:
                step.status = FAILED
                step.detail = f"the map holds the login, but {exc}" + (
                    f"; texthash maps are read only on reload: {ctx.shown} is NOT locked"
                    if self.settings.map_type == "texthash"
                    else ""
                )
        return self._step(ctx, step)

    def _placeholder(self) -> str:
        """How a dry run names the temporary map file (its real name is random)."""
        name = f".{os.path.basename(self.map.path)}.XXXXXXXX.new"
        return os.path.join(os.path.dirname(self.map.path), name)

    def _hold(self, ctx: _Context, queued: dict[str, str | None]) -> Step:
        if not queued:
            return self._step(
                ctx, Step("hold", DONE, "no queued message of this login is known from the log")
            )
        try:
            confirmed = confirm(queued, self.queue.listing())
        except ContainError as exc:
            return self._step(ctx, Step("hold", FAILED, f"{exc}; nothing was held"))
        ids = confirmed.to_hold
        note = _confirm_note(confirmed)
        try:  # postsuper or sudo missing: this step failed, the lock before it still stands
            planned = self.queue.hold_commands(ids)
        except ContainError as exc:
            return self._step(ctx, Step("hold", FAILED, f"{exc}; nothing was held"))
        if ctx.dry:
            return self._step(
                ctx,
                Step("hold", DRY, f"would hold {_held(len(ids))}{note}", planned, queue_ids=ids),
            )
        if not ids:
            return self._step(ctx, Step("hold", DONE, f"nothing left to hold{note}"))
        try:
            self.queue.hold(ids)
        except BatchError as exc:
            step = Step(
                "hold",
                FAILED,
                f"{exc}; {len(exc.done)} of {len(ids)} held",
                planned,
                queue_ids=exc.done,
            )
            return self._step(ctx, step)
        except ContainError as exc:
            return self._step(ctx, Step("hold", FAILED, f"{exc}; nothing was held", planned))
        return self._step(
            ctx, Step("hold", DONE, f"held {_held(len(ids))}{note}", planned, queue_ids=ids)
        )

    def _hook(
        self, ctx: _Context, action: str, program: tuple[str, ...], evidence: Mapping[str, Any]
    ) -> Step:
        name = "hook" if action == "contain" else "release_hook"
        path = evidence_path(self.settings.evidence_dir, ctx.login)
        argv = hook_argv(program, ctx.login, ctx.incident, path)
        if ctx.dry:
            return self._step(ctx, Step(name, DRY, "would run the hook", [shown(argv)]))
        try:
            write_evidence(
                path,
                {
                    "login": ctx.login,
                    "incident": ctx.incident,
                    "reason": ctx.reason,
                    "evidence": evidence,
                },
            )
            ran = run_hook(
                self.runner,
                program,
                action,
                ctx.login,
                ctx.incident,
                path,
                evidence,
                self.settings.hook_timeout,
            )
        except ContainError as exc:
            return self._step(ctx, Step(name, FAILED, str(exc), [shown(argv)]))
        return self._step(ctx, Step(name, DONE, "the hook exited 0", [ran]))

    def _remember(self, ctx: _Context, data: LedgerData, steps: list[Step]) -> None:
        """Note what was done in the ledger (for release, --list and the hourly limit)."""
        lock = next((s for s in steps if s.name == "lock"), None)
        held = [qid for s in steps if s.name == "hold" for qid in s.queue_ids]
        if not any(s.status == DONE for s in steps) and not held:
            return
        key = ctx.login.lower()
        entry = data.entries.get(key)
        if entry is None:
            entry = data.entries[key] = Entry(
                ctx.login, now_iso(), ctx.by, ctx.trigger, ctx.incident, ctx.reason, False
            )
            if ctx.trigger == "auto":
                data.note_auto(datetime.now(UTC))
        if lock is not None and lock.status == DONE:
            entry.locked = True
        entry.held = (entry.held + [q for q in held if q not in entry.held])[-MAX_HELD_IDS:]

    # -- release ----------------------------------------------------------------

    def release(
        self, login: str, *, purge: bool = False, dry_run: bool = False, by: str | None = None
    ) -> Outcome:
        """Remove the lock and release (or delete) the mail spamwatch held for ``login``."""
        dry = dry_run or self.settings.dry_run
        ctx = _Context(login, "manual", by or who(), "", "release", dry)
        with self.ledger.locked() as data:
            entry = data.entries.get(login.lower())
            in_map = self._in_map(login)
            if entry is None and not in_map:
                raise ContainError(
                    f"{ctx.shown} is not locked by spamwatch (see 'spamwatch contain --list')"
                )
            self._audit(ctx, "release", DRY if dry else "planned")
            steps = [self._unlock(ctx)] if in_map else []
            if entry is not None and entry.held:
                steps.append(self._release_held(ctx, entry.held, purge))
            if self.settings.release_hook:
                steps.append(self._hook(ctx, "release", self.settings.release_hook, {}))
            outcome = _outcome("release", login, dry, steps)
            if not dry:
                self._forget(data, login, steps)
            self._audit(ctx, "release", _audit_outcome(outcome), detail=outcome.summary())
        return outcome

    def _in_map(self, login: str) -> bool:
        try:
            return self.map.has(login)
        except ContainError:
            return False  # a login that cannot be a key cannot be in the map

    def _unlock(self, ctx: _Context) -> Step:
        try:
            change = self.map.plan_remove(ctx.login)
            planned = [shown(c) for c in self.map.commands(self._placeholder())]
        except ContainError as exc:
            return self._step(ctx, Step("unlock", FAILED, f"{exc}; {ctx.shown} is still locked"))
        if ctx.dry:
            detail = f"would remove from {self.map.path}: {change.line.rstrip()}"
            return self._step(ctx, Step("unlock", DRY, detail, planned, change.line))
        try:
            ran = self.map.apply(change)
            if self.settings.reload:
                ran.append(self.map.reload())
        except ContainError as exc:
            return self._step(
                ctx,
                Step("unlock", FAILED, f"{exc}; {ctx.shown} is still locked", planned, change.line),
            )
        return self._step(
            ctx, Step("unlock", DONE, f"removed from {self.map.path}", ran, change.line)
        )

    def _release_held(self, ctx: _Context, held: list[str], purge: bool) -> Step:
        name = "purge_held" if purge else "release_held"
        try:
            listing = self.queue.listing()
        except ContainError as exc:
            return self._step(ctx, Step(name, FAILED, f"{exc}; nothing was released"))
        ids = [q for q in held if q in listing and listing[q].queue_name == "hold"]
        gone = len(held) - len(ids)
        note = f" ({gone} no longer on hold)" if gone else ""
        verb = "delete" if purge else "release"
        try:  # postsuper or sudo missing: this step failed, the unlock before it still stands
            planned = self.queue.release_commands(ids, purge)
        except ContainError as exc:
            return self._step(ctx, Step(name, FAILED, f"{exc}; nothing was {verb}d"))
        if ctx.dry:
            return self._step(
                ctx,
                Step(name, DRY, f"would {verb} {_held(len(ids))}{note}", planned, queue_ids=ids),
            )
        if not ids:
            return self._step(ctx, Step(name, DONE, f"nothing left on hold{note}"))
        try:
            (self.queue.purge if purge else self.queue.release)(ids)
        except BatchError as exc:
            return self._step(
                ctx,
                Step(
                    name,
                    FAILED,
                    f"{exc}; {len(exc.done)} of {len(ids)} done",
                    planned,
                    queue_ids=exc.done,
                ),
            )
        except ContainError as exc:
            return self._step(ctx, Step(name, FAILED, str(exc), planned))
        past = "deleted" if purge else "released"
        return self._step(
            ctx, Step(name, DONE, f"{past} {_held(len(ids))}{note}", planned, queue_ids=ids)
        )

    def _forget(self, data: LedgerData, login: str, steps: list[Step]) -> None:
        key = login.lower()
        entry = data.entries.get(key)
        if entry is None:
            return
        failed = {s.name for s in steps if s.status == FAILED}
        if not failed:
            del data.entries[key]
            return
        if "unlock" not in failed:
            entry.locked = False
        done = {
            q for s in steps if s.name.endswith("_held") and s.status == DONE for q in s.queue_ids
        }
        entry.held = [q for q in entry.held if q not in done]

    # -- listing ------------------------------------------------------------------

    def entries(self) -> list[tuple[Entry, bool]]:
        """Every login spamwatch contained, with whether the map still holds it."""
        data = self.ledger.load()
        keys = self.map.keys()
        out = []
        for entry in sorted(data.entries.values(), key=lambda e: e.at):
            try:
                in_map = self.map.has(entry.login) if keys else False
            except ContainError:
                in_map = False
            out.append((entry, in_map))
        return out

    # -- audit ----------------------------------------------------------------------

    def _audit(
        self, ctx: _Context, action: str, outcome: str, detail: str = "", step: Step | None = None
    ) -> None:
        self.audit.write(
            action,
            ctx.login,
            outcome,
            dry_run=ctx.dry,
            trigger=ctx.trigger,
            by=ctx.by,
            incident=ctx.incident,
            reason=ctx.reason,
            detail=detail,
            commands=step.commands if step else (),
            map_line=step.map_line if step else "",
            queue_ids=step.queue_ids if step else (),
        )

    def _step(self, ctx: _Context, step: Step) -> Step:
        self._audit(ctx, step.name, step.status, step.detail, step)
        return step


@dataclass(frozen=True)
class _Context:
    """Who asked for what, carried through one operation's steps and audit records."""

    login: str
    trigger: str
    by: str
    incident: str
    reason: str
    dry: bool

    @property
    def shown(self) -> str:
        return repr(clean(self.login, limit=80))


def _outcome(action: str, login: str, dry: bool, steps: list[Step]) -> Outcome:
    if dry:
        status = "dry run"
    elif any(s.status == FAILED for s in steps):
        status = "containment failed" if action == "contain" else "release failed"
    else:
        status = "contained" if action == "contain" else "released"
    return Outcome(action, login, status, now_iso(), steps)


def _confirm_note(confirmed: Any) -> str:
    notes = []
    if confirmed.already_held:
        notes.append(f"{len(confirmed.already_held)} already on hold")
    if confirmed.gone:
        notes.append(f"{len(confirmed.gone)} already sent or removed")
    if confirmed.other_sender:
        notes.append(f"{len(confirmed.other_sender)} now naming other mail, left alone")
    return f" ({', '.join(notes)})" if notes else ""


def _audit_outcome(outcome: Outcome) -> str:
    """The audit log's word for a whole operation: done, failed or dry-run."""
    if outcome.status == "dry run":
        return DRY
    return DONE if outcome.ok else FAILED
