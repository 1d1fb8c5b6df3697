"""The worker side: what runs inside one case's fresh process.

``main`` (``python -m rnnbench.worker``) reads a case, prepares it and runs its
mode (``modes``: throughput, memory, accuracy) under the timing protocol
(``timing``), the memory tracker (``memory``) or the training loop
(``training``), with the process settings of ``parity``, and writes one
document. Nothing here imports the manager side.
"""
