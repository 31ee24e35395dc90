"""``spamwatch follow``: the live loop (follower), its state file and the live view."""
