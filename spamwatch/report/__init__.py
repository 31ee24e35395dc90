"""``spamwatch report``: read a span of the log once and report incidents and traffic."""
