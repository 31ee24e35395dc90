"""The parser stage: a byte line of the log -> an Event.

``header`` cuts the syslog header, ``grammar`` reads the Postfix message text,
``kinds`` documents every kind of Event and its fields, and ``parser`` ties
them together (``Parser``); ``options`` turns the ``[parse]`` table and the
command line into ``ParseOptions``.
"""

from spamwatch.parse.parser import ParseOptions, Parser

__all__ = ["ParseOptions", "Parser"]
