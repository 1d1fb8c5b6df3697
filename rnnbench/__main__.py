"""`python -m rnnbench` is the `rnnbench` command."""

from rnnbench.cli import main

if __name__ == "__main__":
    main()
