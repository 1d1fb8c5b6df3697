"""Built-in task plugins, installed as ``rnnbench.tasks``."""
