"""Sinks: where findings are delivered (console, JSON Lines, syslog, mail, ...)."""
