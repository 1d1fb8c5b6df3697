"""The manager side: the matrix of cases, the processes that run them, the run folder they fill.

``options`` (what the user asked for) becomes ``Case``s (``case``); ``runner``
runs them through an executor (``executors``: this machine or a Ray cluster),
each in a fresh worker process started by ``process``, after the conformance
pre-check (``precheck``) and the device query (``probe``), describing the
machine (``machine``) and showing progress (``progress``).
"""
