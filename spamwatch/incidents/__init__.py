"""Incidents: Signals from the detectors -> Findings with a lifecycle (raised .. resolved)."""
