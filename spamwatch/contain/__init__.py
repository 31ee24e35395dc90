"""Containment: stop an abused login, not just report it (issue 10).

The response stage of the pipeline. When ``follow`` raises a critical record
about a SASL login (or an admin types ``spamwatch contain LOGIN``), the login
is locked in a Postfix access map read by ``check_sasl_access``, the mail it
already queued is put on hold, and an external hook can lock the account in
the identity store. Everything is opt-in, dry-run first, allow-listed,
limited per hour, audited, and undone by ``spamwatch release``.

    settings.py   the [contain] table (CONTAIN_DEFAULTS, ContainSettings)
    policy.py     when: ContainPolicy.decide(record); allow-list, hourly limit
    engine.py     what: Containment.contain / release / hold_more
    accessmap.py  the access map: safe keys, atomic write, postmap
    queue.py      postqueue -j confirmation, postsuper -h/-H/-d in batches
    hook.py       the external command (no shell, timeout, evidence file)
    audit.py      the append-only JSON Lines audit log
    ledger.py     what spamwatch locked and held (release, --list, the limit)
    commands.py   running Postfix's commands: found, no shell, timeout, sudo
    check.py      contain --check: is Postfix set up to honour the map?
    responder.py  the follow stage: queue ids per login, auto-lock, late holds
"""
