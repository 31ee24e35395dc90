"""The effective configuration: every stage's defaults merged with the file.

``spamwatch config show`` prints it and ``spamwatch config check`` validates
it. Each stage keeps its own defaults beside its code (a detector's
``defaults``, ``FindingTracker.defaults``, ``IncidentEngine.defaults``,
``FOLLOW_DEFAULTS``...); this module only gathers them, so a new option shows
up here without being listed twice.
"""

from __future__ import annotations

from typing import Any

from spamwatch.config import Config
from spamwatch.config.load import check_top_level
from spamwatch.contain.settings import CONTAIN_DEFAULTS, ContainSettings
from spamwatch.correlate import Correlator
from spamwatch.detectors import build_detectors, detector_classes
from spamwatch.detectors.allow import load_site
from spamwatch.follow.options import FOLLOW_DEFAULTS, check_follow
from spamwatch.incidents.engine import IncidentEngine
from spamwatch.incidents.tracker import FindingTracker
from spamwatch.parse.options import PARSE_DEFAULTS, build_parse_options
from spamwatch.profiles.options import check_profiles
from spamwatch.sinks import check_alerts, default_alert_uris
from spamwatch.sinks.secrets import redact


def effective_config(config: Config) -> dict[str, Any]:
    """Defaults overlaid with the file, secrets hidden: what spamwatch will use."""
    detectors = {
        name: {"enabled": True, **cls.defaults, **config.section("detectors", name)}
        for name, cls in detector_classes().items()
    }
    allow = {"users": [], "networks": [], "senders": [], **config.section("allow")}
    out: dict[str, Any] = {
        "local_domains": list(config.data.get("local_domains", [])),
        "parse": {**PARSE_DEFAULTS, **config.section("parse")},
        "correlate": {**Correlator.defaults, **config.section("correlate")},
        "allow": allow,
        "findings": {**FindingTracker.defaults, **config.section("findings")},
        "incidents": {**IncidentEngine.defaults, **config.section("incidents")},
        "detectors": detectors,
        "users": dict(config.section("users")),
        "alerts": {
            "uris": default_alert_uris(config, interactive=False),
            "spool_dir": "",  # "": the default (sinks.uri.default_spool_dir)
            **_alerts(config),
        },
        "sinks": dict(config.section("sinks")),
        "follow": {**FOLLOW_DEFAULTS, **config.section("follow")},
        "contain": {**CONTAIN_DEFAULTS, **config.section("contain")},
        "profiles": check_profiles(config),
    }
    return redact(out)


def _alerts(config: Config) -> dict[str, Any]:
    return {k: v for k, v in config.section("alerts").items() if k != "uris"}


def validate(config: Config) -> None:
    """Raise ConfigError naming the first bad key; build nothing that talks to the world."""
    check_top_level(config)
    build_parse_options(config, None, None, ())
    Correlator.from_config(config)
    load_site(config)
    IncidentEngine.from_config(config)
    build_detectors(config)
    check_follow(config.section("follow"))
    check_profiles(config)
    check_alerts(default_alert_uris(config, interactive=False), config)
    ContainSettings.from_config(config)
