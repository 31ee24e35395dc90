"""Configuration: the TOML file (load), what each table may hold (schema), the effective view.

``Config`` and ``load_config`` are what every stage needs; the checks live in
``spamwatch.config.schema`` and ``spamwatch config show/check`` in
``spamwatch.config.view``.
"""

from spamwatch.config.load import Config, load_config

__all__ = ["Config", "load_config"]
