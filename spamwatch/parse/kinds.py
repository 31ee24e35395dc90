"""The event kinds the parser emits and the fields each carries.

This table is the contract between the parser and everything downstream
(correlator, detectors, ``spamwatch events`` JSON): a consumer may rely on
the fields listed without ``?``; those with ``?`` appear only when the line
says them. Addresses have their angle brackets stripped and the null sender
``<>`` is "". ``client_name``/``client_ip`` come from ``name[ip]`` (an
``IPv6:`` prefix is dropped). Numbers are int or float. man/spamwatch.1
(EVENT JSON) documents the same table for users.
"""

from __future__ import annotations

from typing import Final

KINDS: Final[dict[str, tuple[str, ...]]] = {
    "connect": ("client_name", "client_ip", "client_port?"),
    "disconnect": ("client_name", "client_ip", "client_port?", "commands", "auth?"),
    "client": (
        "client_name", "client_ip", "client_port?", "sasl_method?", "sasl_username?",
        "sasl_sender?", "orig_queue_id?", "orig_client_name?", "orig_client_ip?",
    ),
    "reject": (
        "action", "stage", "client_name?", "client_ip?", "client_port?", "code?", "dsn?",
        "reason", "from?", "to?", "proto?", "helo?",
    ),
    "sasl_failure": ("client_name", "client_ip", "client_port?", "method", "reason",
                     "sasl_username?"),
    "message_id": ("message_id",),
    "content": (
        "action", "part", "text", "client_name", "client_ip", "client_port?", "from?", "to?",
        "proto?", "helo?", "reason?",
    ),
    "pickup": ("uid", "from"),
    "queued": ("from", "size", "nrcpt"),
    "removed": (),
    "expired": ("from", "status"),
    "delivery": (
        "to", "orig_to?", "relay?", "delay?", "delays?", "dsn?", "status", "reason",
        "queued_as?", "forwarded_as?", "conn_use?", "tls?",
    ),
    "notification": ("notice", "notify", "new_queue_id"),
    "postsuper": ("action", "count?"),
    "anvil": ("stat", "value", "period?", "service?", "client_ip?", "at"),
    "postscreen": ("verdict", "text", "client_ip?", "client_port?", "rank?", "after?"),
    "warning": ("text", "client_name?", "client_ip?", "client_port?", "relay?"),
    "error": ("text", "client_name?", "client_ip?", "client_port?", "relay?"),
    "fatal": ("text", "client_name?", "client_ip?", "client_port?", "relay?"),
    "panic": ("text", "client_name?", "client_ip?", "client_port?", "relay?"),
    "lost_connection": ("after", "client_name", "client_ip", "client_port?"),
    "timeout": ("after", "client_name", "client_ip", "client_port?"),
    "generic": ("text", "client_name?", "client_ip?", "client_port?", "relay?",
                "resent_message_id?"),
}  # fmt: skip
"""kind -> its field names (``?`` = only when logged)."""
