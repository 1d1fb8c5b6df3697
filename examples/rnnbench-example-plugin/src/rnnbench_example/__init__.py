"""Example third-party rnnbench plugin."""
