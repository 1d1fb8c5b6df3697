"""Every hook of rnnbench: the contract between the core and its plugins.

Plugins implement these with ``from rnnbench import hookimpl``. Hooks return
classes; the classes do the work. The core calls each hook with keyword
arguments only, through ``rnnbench.plugins.registry.Registry``, and never from a
timed loop. Hooks may gain arguments later; none is ever renamed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from rnnbench.backend import Backend
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
