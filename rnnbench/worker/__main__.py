"""`python -m rnnbench.worker CASE_JSON OUT_JSON`: the worker process (see ``rnnbench.worker.main``)."""

import sys

from rnnbench.worker.main import exit_now, main

if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
