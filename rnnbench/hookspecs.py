"""Every hook of rnnbench: the contract between the core and its plugins.

Plugins implement these with ``from rnnbench import hookimpl``. Hooks return
classes; the classes do the work. The core calls each hook with keyword
arguments only, through ``rnnbench.plugins.registry.Registry``, and never from a
timed loop. Hooks may gain arguments later; none is ever renamed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import pandas as pd

    from rnnbench.backend import Backend
    from rnnbench.report.section import ReportSection
    from rnnbench.task import Task

PROJECT = "rnnbench"
hookspec = pluggy.HookspecMarker(PROJECT)


# -- registration: called once when a Registry is first asked for plugins --


@hookspec
def rnnbench_register_backends() -> list[type[Backend]]:
    """Return the backend classes this plugin provides.

    Called by ``Registry`` (``rnnbench plugins``, ``check``, ``run`` ...) the
    first time backends are listed or looked up, once per plugin, with no
    arguments. Each class must subclass ``rnnbench.backend.Backend`` and set
    a ``name`` unique across all plugins; the class must not import its
    framework at import time.

    :return: a list of ``Backend`` subclasses (may be empty).
    """


@hookspec
def rnnbench_register_tasks() -> list[type[Task]]:
    """Return the task classes this plugin provides.

    Called by ``Registry`` the first time tasks are listed or looked up, once
    per plugin, with no arguments. Each class must subclass
    ``rnnbench.task.Task`` and set a ``name`` unique across all plugins.

    :return: a list of ``Task`` subclasses (may be empty).
    """


# -- output: called while a run describes its machine, and while a report is made --


@hookspec
def rnnbench_update_machine_info(info: dict[str, Any]) -> None:
    """Add facts about the machine a run runs on, in place (pytest-benchmark's machine-info hook).

    Called once per run folder (and once per node under ``--executor ray``),
    after rnnbench has collected its own facts into ``info``, which is then
    written to ``environment.json`` and shown in every report's environment
    table. Values must be JSON (str, numbers, bools, None, lists, dicts); a
    plugin that raises, or leaves ``info`` unserialisable, is a fault named in
    one line and its changes are dropped. Do not remove or change rnnbench's
    own keys (``machine`` identifies the machine in every record).
    """


@hookspec
def rnnbench_report_sections(frame: pd.DataFrame) -> list[ReportSection]:
    """Return sections to add to every report of ``frame`` (the records, one row each, as
    ``rnnbench.load_results`` gives them).

    Called once per report, each plugin on its own: a plugin that raises or
    returns anything but a list of ``rnnbench.report.section.ReportSection``
    is a fault named in one line, and the report goes on without its sections.

    :return: a list of ``ReportSection`` (may be empty).
    """
