"""``spamwatch contain --check``: would a lock actually lock? Say what is missing.

A map nobody reads locks nobody. Postfix consults the map only where a
restriction list says ``check_sasl_access TYPE:PATH``, and a service in
master.cf may override main.cf's lists with its own ``-o`` (the submission
service usually does), so the check reads Postfix's own view: ``postconf
-nx`` (main.cf), ``postconf -Fx`` (which services run smtpd) and ``postconf
-Px`` (their ``-o`` overrides). For every smtpd service with SASL turned on it
looks for the map in one of its restriction lists, ahead of
``permit_sasl_authenticated`` in that list, and names the exact line to add
when it is not there. It also checks the map file and its database, the
rights ``hold`` needs (root, or ``sudo -n`` allowed to run postsuper), the
hook, and the state directory. It changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from spamwatch.contain.commands import NO_NEW_PRIVILEGES, Runner, no_new_privileges
from spamwatch.contain.settings import MAP_TYPES, ContainSettings
from spamwatch.errors import ContainError

RESTRICTIONS = (
    "smtpd_client_restrictions",
    "smtpd_helo_restrictions",
    "smtpd_sender_restrictions",
    "smtpd_relay_restrictions",
    "smtpd_recipient_restrictions",
)
"""The lists evaluated for a submission, where check_sasl_access can stand."""

SUGGESTED = "smtpd_sender_restrictions"
"""Where README's one main.cf line puts the map (rarely overridden in master.cf)."""

PERMITS = frozenset({"permit", "permit_sasl_authenticated", "permit_mynetworks"})


@dataclass(frozen=True)
class Line:
    """One finding of the check: ``ok``, ``missing`` (fails the check) or ``note``."""

    kind: str
    text: str


def parse_params(text: str) -> dict[str, str]:
    """``name = value`` lines (postconf's output) as a mapping."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(" = ")
        if sep:
            out[name.strip()] = value.strip()
        elif line.rstrip().endswith(" ="):
            out[line.rstrip()[:-2].strip()] = ""
    return out


def tokens(value: str) -> list[str]:
    """A restriction list's words (commas and whitespace separate them)."""
    return [t for t in re.split(r"[\s,]+", value) if t]


def has_map(value: str, spec: str) -> str | None:
    """None when ``value`` consults ``spec`` in time, else why not."""
    words = tokens(value)
    for i, word in enumerate(words):
        if word == "check_sasl_access" and i + 1 < len(words) and words[i + 1] == spec:
            earlier = [w for w in words[:i] if w in PERMITS]
            if earlier:
                return f"check_sasl_access {spec} comes after {earlier[0]}, which permits first"
            return None
    return "not consulted"


def smtpd_services(fields: Mapping[str, str]) -> list[str]:
    """``service/type`` of every master.cf entry whose command is smtpd."""
    out = []
    for key, value in fields.items():
        if key.endswith("/command") and tokens(value)[:1] == ["smtpd"]:
            out.append(key[: -len("/command")])
    return sorted(out)


def service_lines(
    spec: str, main: Mapping[str, str], overrides: Mapping[str, str], service: str
) -> Line:
    """Whether ``service`` consults the map, and the exact fix when it does not."""

    def param(name: str) -> tuple[str, bool]:
        key = f"{service}/{name}"
        if key in overrides:
            return overrides[key], True
        return main.get(name, ""), False

    problems = []
    for name in RESTRICTIONS:
        value, _ = param(name)
        why = has_map(value, spec)
        if why is None:
            return Line("ok", f"{service}: {name} consults check_sasl_access {spec}")
        if why != "not consulted":
            problems.append(f"{name}: {why}")
    value, overridden = param(SUGGESTED)
    # The admin's list as written: a restriction and its table stay together.
    fixed = f"check_sasl_access {spec}, {value}" if value else f"check_sasl_access {spec}"
    if overridden:
        packed = ",".join(tokens(fixed))
        fix = f"in master.cf, service {service}, change its option to -o {SUGGESTED}={packed}"
    else:
        fix = f"add to main.cf: {SUGGESTED} = {fixed}"
    detail = f" ({'; '.join(problems)})" if problems else ""
    return Line("missing", f"{service}: does not consult {spec}{detail}; {fix}")


def check(settings: ContainSettings, runner: Runner) -> list[Line]:
    """Every check line for this configuration (see the module docstring)."""
    lines: list[Line] = []
    if not settings.actions:
        lines.append(Line("missing", "no action is on: set lock, hold or hook in [contain]"))
    if settings.dry_run:
        lines.append(
            Line("note", "dry_run = true: contain and release only print what they would do")
        )
    if settings.lock:
        lines += _postfix_lines(settings, runner)
        lines += _map_lines(settings, runner)
    if settings.hold:
        lines += _hold_lines(settings, runner)
    for key, argv in (("hook", settings.hook), ("release_hook", settings.release_hook)):
        if argv:
            ok = os.path.isfile(argv[0]) and os.access(argv[0], os.X_OK)
            lines.append(
                Line(
                    "ok" if ok else "missing",
                    f"{key}: {argv[0]}" + ("" if ok else " is not an executable file"),
                )
            )
    lines.append(_writable(settings.state_dir, "state_dir (ledger, evidence)"))
    lines.append(_writable(os.path.dirname(settings.audit_log), f"audit log {settings.audit_log}"))
    return lines


def _postfix_lines(settings: ContainSettings, runner: Runner) -> list[Line]:
    spec = settings.map_spec
    try:
        main = parse_params(runner.run(runner.argv("postconf", "-n", "-x")).stdout)
        fields = parse_params(runner.run(runner.argv("postconf", "-F", "-x")).stdout)
        overrides = parse_params(runner.run(runner.argv("postconf", "-P", "-x")).stdout)
    except ContainError as exc:
        return [Line("missing", f"cannot read Postfix's configuration: {exc}")]
    out = []
    sasl = [
        s
        for s in smtpd_services(fields)
        if overrides.get(f"{s}/smtpd_sasl_auth_enable", main.get("smtpd_sasl_auth_enable", "no"))
        == "yes"
    ]
    if not sasl:
        out.append(
            Line(
                "missing",
                "no smtpd service has smtpd_sasl_auth_enable = yes: there is no SASL login to lock",
            )
        )
    for service in sasl:
        out.append(service_lines(spec, main, overrides, service))
    local = main.get("smtpd_sasl_local_domain", "")
    if local:
        out.append(
            Line(
                "note",
                f"smtpd_sasl_local_domain = {local}: Postfix looks up 'login@{local}';"
                " lock logins in that form",
            )
        )
    return out


def _map_lines(settings: ContainSettings, runner: Runner) -> list[Line]:
    out = []
    path, suffix = settings.map_path, MAP_TYPES[settings.map_type]
    directory = os.path.dirname(path)
    out.append(_writable(directory, f"map directory {directory}"))
    if not os.path.exists(path):
        create = f"touch {path}" + (f" && postmap {settings.map_spec}" if suffix else "")
        out.append(
            Line(
                "missing",
                f"{path} does not exist: create it before Postfix reads it ({create});"
                " a missing map makes smtpd defer all mail",
            )
        )
    elif suffix and not os.path.exists(path + suffix):
        out.append(
            Line("missing", f"{path + suffix} does not exist: run postmap {settings.map_spec}")
        )
    elif suffix and os.path.getmtime(path + suffix) < os.path.getmtime(path):
        out.append(
            Line(
                "missing", f"{path + suffix} is older than {path}: run postmap {settings.map_spec}"
            )
        )
    else:
        out.append(Line("ok", f"{settings.map_spec} exists"))
    if suffix:
        out.append(_command(runner, "postmap"))
    if settings.reload or settings.map_type == "texthash":
        out.append(_command(runner, "postfix"))
    if settings.map_type == "texthash" and not settings.reload:
        out.append(
            Line("missing", "texthash maps are read when a daemon starts: set reload = true")
        )
    return out


def _hold_lines(settings: ContainSettings, runner: Runner) -> list[Line]:
    out = [_command(runner, "postqueue"), _command(runner, "postsuper")]
    if os.geteuid() != 0 and no_new_privileges():
        out.append(Line("missing", f"hold cannot work: {NO_NEW_PRIVILEGES}"))
    if os.geteuid() == 0:
        out.append(Line("ok", "running as root: postsuper may hold mail"))
    elif not settings.sudo:
        out.append(
            Line(
                "missing",
                "hold needs root for postsuper: run as root, or set sudo = true with"
                " the sudoers line of README 'Minimum rights'",
            )
        )
    else:
        try:
            argv = runner.argv("postsuper", "-h", "-")
            runner.run([argv[0], "-n", "-l", *argv[2:]])
            out.append(Line("ok", "sudo -n may run postsuper"))
        except ContainError as exc:
            out.append(
                Line(
                    "missing",
                    f"sudo -n may not run postsuper ({exc}); add the sudoers line of"
                    " README 'Minimum rights'",
                )
            )
    return out


def _command(runner: Runner, name: str) -> Line:
    try:
        return Line("ok", f"{name}: {runner.find(name)}")
    except ContainError as exc:
        return Line("missing", str(exc))


def _writable(directory: str, what: str) -> Line:
    probe = directory
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    readonly = False
    with contextlib.suppress(OSError):
        readonly = bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
    if probe and os.access(probe, os.W_OK | os.X_OK) and not readonly:
        return Line("ok", f"{what} is writable")
    return Line("missing", f"{what} is not writable by this user")
