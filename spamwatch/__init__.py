"""spamwatch: notice a taken-over mailbox in a Postfix log within minutes.

The package is one pipeline (see README "Architecture"):
source -> parse -> correlate -> detectors -> findings -> sinks.
"""

__version__ = "0.1.0"
