"""The typed facade over the hooks: the only code that calls ``pm.hook``.

It calls each registration hook once per plugin (so every class is
attributed to the plugin that registered it), validates what comes back and
looks plugins up by name with errors that list what exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Generic, TypeVar

from rnnbench.backend import Availability, Backend
from rnnbench.errors import BackendUnavailable, PluginError, UsageError
from rnnbench.plugins import Origin, PluginManager, make_plugin_manager
from rnnbench.task import Task

PluginClass = TypeVar("PluginClass", type[Backend], type[Task])


@dataclass(frozen=True)
class Entry(Generic[PluginClass]):
    """One registered backend or task class and where it came from."""

    name: str
    kind: str  # "backend" or "task"
    cls: PluginClass
    origin: Origin


class Registry:
    """Backends and tasks of one plugin manager, keyed by name."""

    def __init__(self, pm: PluginManager | None = None) -> None:
        self.pm = pm if pm is not None else make_plugin_manager()

    @cached_property
    def backend_entries(self) -> dict[str, Entry[type[Backend]]]:
        return self._collect("rnnbench_register_backends", "backend", Backend)

    @cached_property
    def task_entries(self) -> dict[str, Entry[type[Task]]]:
        return self._collect("rnnbench_register_tasks", "task", Task)

    def _collect(self, hook_name: str, kind: str, base: type) -> dict:
        entries: dict = {}
        hook = getattr(self.pm.hook, hook_name)
        for impl in hook.get_hookimpls():  # registration order: built-ins first
            origin = self.pm.origin_of(impl.plugin_name)
            for cls in _as_list(impl.function(), hook_name, origin):
                _check_class(cls, base, kind, origin)
                if cls.name in entries:
                    other = entries[cls.name].origin.describe()
                    raise PluginError(
                        f"Duplicate {kind} name {cls.name!r}: registered by {other} "
                        f"and by {origin.describe()} (plugin {origin.plugin!r})"
                    )
                entries[cls.name] = Entry(cls.name, kind, cls, origin)
        return dict(sorted(entries.items()))

    def backend_names(self) -> list[str]:
        return list(self.backend_entries)

    def task_names(self) -> list[str]:
        return list(self.task_entries)

    def backend(self, name: str) -> Backend:
        """A fresh instance of the backend called ``name``, available or not."""
        return _lookup(self.backend_entries, name, "backend").cls()

    def task(self, name: str) -> Task:
        """A fresh instance of the task called ``name``, available or not."""
        return _lookup(self.task_entries, name, "task").cls()

    def available_backend(self, name: str) -> Backend:
        """The backend ``name``; BackendUnavailable with the install hint if it cannot run."""
        backend = self.backend(name)
        status = backend.available()
        if not status.ok:
            raise BackendUnavailable(status.message(name))
        return backend

    def select_backends(self, names: list[str]) -> tuple[list[Backend], dict[str, Availability]]:
        """Resolve ``names`` (``all`` expands); return the runnable ones and why others were skipped.

        With ``all``, an unavailable backend is skipped with its reason; a
        backend named explicitly must be available.
        """
        if "all" in names:
            chosen = [self.backend(n) for n in self.backend_names()]
            skipped = {b.name: b.available() for b in chosen if not b.available().ok}
            return [b for b in chosen if b.name not in skipped], skipped
        return [self.available_backend(n) for n in dict.fromkeys(names)], {}


def _as_list(result: object, hook_name: str, origin: Origin) -> list:
    if result is None:
        return []
    if not isinstance(result, (list, tuple)):
        raise PluginError(
            f"Plugin {origin.plugin!r} returned {type(result).__name__} from {hook_name}. Accepted: a list of classes"
        )
    return list(result)


def _check_class(cls: object, base: type, kind: str, origin: Origin) -> None:
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise PluginError(
            f"Plugin {origin.plugin!r} registered {cls!r} as a {kind}. Accepted: a subclass of {base.__name__}"
        )
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name or name == "all" or not name.replace("_", "").replace("-", "").isalnum():
        raise PluginError(
            f"Plugin {origin.plugin!r} registered {kind} {cls.__name__} with name {name!r}. "
            "Accepted: a non-empty name of letters, digits, '-' and '_', other than 'all'"
        )


def _lookup(entries: dict, name: str, kind: str) -> Entry:
    if name not in entries:
        known = ", ".join(entries) or "none"
        raise UsageError(f"Unknown {kind} {name!r}. Available: {known}")
    return entries[name]
