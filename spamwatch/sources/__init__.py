"""Sources: where log lines come from (files, rotated archives, stdin, journald)."""
