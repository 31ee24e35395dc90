"""``spamwatch report``: read a span of the log once and report findings and traffic."""
