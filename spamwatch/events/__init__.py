"""``spamwatch events``: the log as JSON Lines of events or messages, or each line explained."""
