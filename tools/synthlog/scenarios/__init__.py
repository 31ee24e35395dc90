"""The scenarios: one incident or benign look-alike each, as a stream of records to merge."""
