"""The sink extension point: where incident records go.

A sink is chosen by an alert URI (``--alert jsonl:-``, ``--alert
mailto:admin@example.com``); the URI's scheme names the entry point in the
``spamwatch.sinks`` group. Built-in and third-party sinks load the same way.

``send`` must not block the pipeline for long: network sinks write each
record to the spool and deliver from there in their own thread
(spamwatch.sinks.delivery), so no record is silently lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from spamwatch.model import Incident, IncidentState, Severity

if TYPE_CHECKING:
    from spamwatch.config.schema import Options
    from spamwatch.sinks.spool import Spool


PAGING = frozenset({IncidentState.OPENED, IncidentState.ESCALATED, IncidentState.RESOLVED})
"""The record kinds of sinks that reach a person (mail, webhook, exec): no ``updated``."""


@dataclass(frozen=True)
class SinkContext:
    """What ``build_sinks`` hands a sink before its first ``send``.

    ``uri`` is the alert URI without its ``min`` query (the spool's key);
    ``spool`` keeps what could not be delivered; ``warn`` reports a problem
    on stderr (one line, the caller decides how often); ``secret_variables``
    names the environment variables the config reads secrets from (a sink
    that starts programs keeps them from the children); ``postfix_config`` is
    ``[contain] postfix_config``, the Postfix instance that the next steps a sink
    words name (``postqueue -c DIR -p``).
    """

    uri: str
    spool: Spool
    warn: Callable[[str], None]
    secret_variables: frozenset[str] = frozenset()
    postfix_config: str | None = None


class Sink:
    """Base class for alert sinks.

    ``target`` is the URI without its scheme (``/var/log/spamwatch.jsonl`` for
    ``jsonl:/var/log/spamwatch.jsonl``); ``options`` comes from the config
    section ``[sinks.SCHEME]``; records below ``min_severity`` are not sent.
    """

    scheme: ClassVar[str] = "base"
    description: ClassVar[str] = ""
    option_names: ClassVar[frozenset[str] | None] = None
    """The ``[sinks.SCHEME]`` keys this sink reads (``config check`` rejects others);
    None: not declared, not checked. ``min_severity`` is always allowed."""
    default_records: ClassVar[frozenset[IncidentState]] = frozenset(IncidentState)
    """The incident record kinds this sink gets unless ``records`` says otherwise
    (sinks that page a person leave out ``updated``)."""
    target_query: ClassVar[bool] = False
    """True when the target is a URL with a query of its own (webhook): URI query keys
    other than ``min`` and ``records`` stay in the target. False: they are errors."""
    records: frozenset[IncidentState] | None = None
    """The kinds chosen by the URI's ``records=`` or ``[sinks.SCHEME] records`` (set by
    ``build_sinks``); None: ``default_records``."""

    def __init__(
        self,
        target: str,
        options: Mapping[str, Any] | None = None,
        min_severity: Severity = Severity.INFO,
    ) -> None:
        self.target = target
        self.options: Mapping[str, Any] = options or {}
        self.min_severity = min_severity
        self.setup()

    @classmethod
    def read_options(cls, opts: Options) -> dict[str, Any]:
        """The ``[sinks.SCHEME]`` values read and checked, nothing opened or looked up.

        ``setup`` takes its option values from here and ``config check`` calls
        it alone, so the check and the command cannot disagree about a value.
        ConfigError naming the key (``sinks.webhook.timeout: ...``). Secrets are
        read by ``setup`` (their variables may be set only in the service's
        environment).
        """
        return {}

    @classmethod
    def check_target(cls, target: str) -> None:
        """What can be said of the target without opening or looking anything up
        (``config check``, and ``setup`` before it opens): ConfigError when wrong."""

    def setup(self) -> None:
        """Check options and open resources (called by ``__init__``).

        Override this rather than ``__init__``; raise ConfigError for a bad
        option and SinkError when the sink cannot work at all.
        """

    def accepts(self, incident: Incident) -> bool:
        """True for a record of a kind this sink gets, at or above its minimum severity.

        A record saying what spamwatch did (``response``: a login contained)
        goes to every sink that gets ``opened`` records, whatever its kind.
        """
        kinds = self.default_records if self.records is None else self.records
        wanted = incident.state in kinds or (
            bool(incident.response) and IncidentState.OPENED in kinds
        )
        return wanted and incident.severity >= self.min_severity

    @property
    def label(self) -> str:
        """How messages name this sink; sinks whose target holds secrets override it."""
        return f"{self.scheme}:{self.target}" if self.target else self.scheme

    def start(self, context: SinkContext) -> None:
        """Called once by ``build_sinks`` before the first ``send`` (optional).

        Queued sinks (spamwatch.sinks.delivery.QueuedSink) start their worker
        here and first deliver what earlier runs left in the spool.
        """

    def send(self, incident: Incident) -> Any:
        """Deliver one record (a synchronous sink returns None once it has it).

        Queued sinks return their spool ``Entry`` (spamwatch.sinks.spool): the
        record is on disk, or, when ``path`` is None, in memory only.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Flush and release resources; called once at exit."""
