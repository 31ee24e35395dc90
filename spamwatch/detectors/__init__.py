"""Detectors: sliding windows in log time that turn events into Signals."""
