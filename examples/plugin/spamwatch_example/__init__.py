"""Example spamwatch plugin: ``csv`` sink and ``night`` detector (see pyproject.toml)."""
