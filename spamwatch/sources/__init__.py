"""Sources: where log lines come from (files, rotated archives, stdin, journald), and queue samples.

``follow`` reads through the ``Source`` protocol (``base.py``); ``report`` and
``events`` read files with ``files.py``, ``seek.py`` and ``rotated.py``;
``queue.py`` samples the real queue (``postqueue -j``) for the pipeline.
"""
