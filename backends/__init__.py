"""Built-in backend plugins, installed as ``rnnbench.backends``."""
