"""The typed facade over the hooks: the only code that calls ``pm.hook``.

It calls each registration hook through pluggy once per plugin (so every
class is attributed to the plugin that registered it), validates what comes
back and looks plugins up by name with errors that list what exists.

Plugin code runs inside one guard (``rnnbench.plugins.guard``): a hook that
raises (``SystemExit`` included) or returns the wrong thing, or a backend whose
metadata does (``rnnbench.plugins.metadata``), is a *fault*: one line naming
the plugin, its distribution and how to block it, kept in ``faults``. The rest
goes on: a faulty backend is handed out as a stand-in that is never available
(``--backend all`` skips it with the line as the reason, ``rnnbench plugins``
lists it), and naming it is a ``PluginError`` with that line.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, TypeVar

from rnnbench.backend import Availability, Backend
from rnnbench.errors import BackendUnavailable, PluginError, UsageError
from rnnbench.plugins import Origin, PluginManager, make_plugin_manager
from rnnbench.plugins.guard import PluginFault, fault_message, guard
from rnnbench.plugins.metadata import check_metadata, stand_in
from rnnbench.report.section import ReportSection
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
        # plugin or backend name -> the one line saying what failed: from loading (pm.faults), then from here
        self._faults: dict[str, str] = dict(self.pm.faults)
        self._versions: dict[str, dict[str, str]] = {}  # backend name -> its checked versions()

    @property
    def faults(self) -> dict[str, str]:
        """Every fault found so far, by plugin name (a registration hook) or backend name (its metadata)."""
        _ = self.backend_entries, self.task_entries  # registration faults are found by collecting
        return dict(self._faults)

    @cached_property
    def backend_entries(self) -> dict[str, Entry[type[Backend]]]:
        return self._collect("rnnbench_register_backends", "backend", Backend)

    @cached_property
    def task_entries(self) -> dict[str, Entry[type[Task]]]:
        return self._collect("rnnbench_register_tasks", "task", Task)

    def _collect(self, hook_name: str, kind: str, base: type) -> dict:
        entries: dict = {}
        failed = list(self.pm.faults)  # plugins that did not load, then those whose hook failed
        for origin, only in self._each_implementation(hook_name):  # registration order: built-ins first
            try:
                with guard(origin, hook_name):
                    results = only()  # through pluggy, this plugin's implementation alone
                entries.update(_checked_entries(results[0] if results else None, hook_name, kind, base, origin,
                                                entries))
            except PluginFault as fault:  # the plugin registers nothing; the others go on
                self._faults[origin.plugin] = str(fault)
                failed.append(origin.plugin)
        if kind == "backend":  # each plugin that failed stands in as a backend of its name, never available
            for plugin in failed:
                if _valid_name(plugin) and plugin not in entries:
                    entries[plugin] = Entry(plugin, kind, stand_in(plugin, self._faults[plugin]),
                                            self.pm.origin_of(plugin))
        return dict(sorted(entries.items()))

    def backend_names(self) -> list[str]:
        return list(self.backend_entries)

    def task_names(self) -> list[str]:
        return list(self.task_entries)

    def backend(self, name: str) -> Backend:
        """A fresh instance of the backend called ``name``, available or not.

        Its metadata is checked the first time (``check_metadata``); a backend
        whose plugin code failed comes back as a stand-in, never available.
        """
        entry = _lookup(self.backend_entries, name, "backend", self._registration_faults())
        if name not in self._faults and name not in self._versions:
            try:
                self._versions[name] = check_metadata(self._instance(entry), entry.origin)
            except PluginFault as fault:
                self._faults[name] = str(fault)
        if name in self._faults:
            return stand_in(name, self._faults[name], _text(entry.cls, "description"))()
        return self._instance(entry)

    def _instance(self, entry: Entry[type[Backend]]) -> Backend:
        try:
            with guard(entry.origin, f"{entry.cls.__name__}() of backend {entry.name!r}"):
                return entry.cls()
        except PluginFault as fault:
            self._faults[entry.name] = str(fault)
            return stand_in(entry.name, str(fault))()

    def task(self, name: str) -> Task:
        """A fresh instance of the task called ``name``, available or not."""
        entry = _lookup(self.task_entries, name, "task", self._registration_faults())
        with guard(entry.origin, f"{entry.cls.__name__}() of task {name!r}"):
            return entry.cls()

    def task_status(self, name: str) -> Availability:
        """Whether the task ``name`` can run here; a task whose plugin code fails is not, with why."""
        entry = _lookup(self.task_entries, name, "task")
        what = f"available() of task {name!r}"
        try:
            with guard(entry.origin, what):
                status = entry.cls().available()
        except PluginFault as fault:
            return Availability(False, str(fault))
        if not isinstance(status, Availability):
            return Availability(False, fault_message(entry.origin, what, f"it returned {type(status).__name__}. "
                                                                         "Accepted: an Availability"))
        return status

    def update_machine_info(self, info: dict[str, Any]) -> list[str]:
        """``info`` with every plugin's additions (``rnnbench_update_machine_info``), each plugin's call on
        a copy, kept only when it raised nothing and left JSON; the one-line faults of the others."""
        faults = []
        for origin, call in self._each_implementation("rnnbench_update_machine_info"):
            trial = copy.deepcopy(info)
            try:
                with guard(origin, "rnnbench_update_machine_info"):
                    call(info=trial)
                    if not isinstance(trial.get("machine"), str):
                        raise TypeError("it removed or changed the key 'machine'")
                    json.dumps(trial, allow_nan=False)
            except PluginFault as fault:
                faults.append(str(fault))
                continue
            info.clear()
            info.update(trial)
        return faults

    def report_sections(self, frame: Any) -> tuple[list[ReportSection], list[str]]:
        """Every plugin's report sections (``rnnbench_report_sections``), and the one-line faults of the
        plugins whose hook raised or returned anything but a list of ReportSection."""
        sections, faults = [], []
        for origin, call in self._each_implementation("rnnbench_report_sections"):
            try:
                with guard(origin, "rnnbench_report_sections"):
                    found = call(frame=frame)
                    found = found[0] if found else []
                    if not isinstance(found, list) or not all(isinstance(s, ReportSection) for s in found):
                        raise TypeError(f"it returned {type(found).__name__}. Accepted: a list of ReportSection")
            except PluginFault as fault:
                faults.append(str(fault))
                continue
            sections += found
        return sections, faults

    def _each_implementation(self, hook_name: str) -> list[tuple[Origin, Any]]:
        """(origin, caller of that plugin's implementation alone, through pluggy) for each implementer."""
        hook = getattr(self.pm.hook, hook_name)
        implementers = [impl.plugin for impl in hook.get_hookimpls()]
        return [(self.pm.origin_of(impl.plugin_name),
                 self.pm.subset_hook_caller(hook_name, [p for p in implementers if p is not impl.plugin]))
                for impl in hook.get_hookimpls()]

    def origin(self, name: str) -> Origin:
        """Where the backend ``name`` comes from."""
        return _lookup(self.backend_entries, name, "backend").origin

    def versions(self, name: str) -> dict[str, str]:
        """The versions backend ``name`` declares (``Backend.versions``), checked; {} when it cannot run."""
        self.backend(name)
        return dict(self._versions.get(name, {}))

    def record_versions(self, name: str) -> dict[str, str]:
        """What each result of backend ``name`` records: a third-party plugin's distribution and version, then
        the frameworks the backend declares in ``versions()``."""
        origin = self.origin(name)
        plugin = {origin.distribution: origin.version} if origin.distribution and origin.version else {}
        return plugin | self.versions(name)

    def available_backend(self, name: str) -> Backend:
        """The backend ``name``; BackendUnavailable with the install hint if it cannot run, PluginError (one line
        naming the plugin) if its plugin code failed."""
        backend = self.backend(name)
        if name in self._faults:
            raise PluginError(self._faults[name])
        status = backend.available()
        if not status.ok:
            raise BackendUnavailable(status.message(name))
        return backend

    def select_backends(self, names: list[str]) -> tuple[list[Backend], dict[str, Availability]]:
        """Resolve ``names`` (``all`` expands); return the runnable ones and why others were skipped.

        With ``all``, an unavailable backend, or one whose plugin code failed,
        is skipped with its reason; a backend named explicitly must be available.
        """
        if "all" in names:
            chosen = [self.backend(n) for n in self.backend_names()]
            statuses = {b.name: b.available() for b in chosen}
            skipped = {name: status for name, status in statuses.items() if not status.ok}
            return [b for b in chosen if b.name not in skipped], skipped
        return [self.available_backend(n) for n in dict.fromkeys(names)], {}

    def _registration_faults(self) -> str:
        failed = sorted(set(self._faults) - set(self.backend_entries) - set(self.task_entries))
        return f"; plugins that failed to register: {', '.join(failed)} (see rnnbench plugins)" if failed else ""


def _checked_entries(result: object, hook_name: str, kind: str, base: type, origin: Origin,
                     before: dict[str, Entry]) -> dict[str, Entry]:
    """The entries of one plugin's hook result; PluginFault for anything but a list of valid, new classes."""
    if result is None:
        return {}
    if not isinstance(result, (list, tuple)):
        raise PluginFault(fault_message(origin, hook_name, f"it returned {type(result).__name__}. "
                                                           "Accepted: a list of classes"))
    found: dict[str, Entry] = {}
    for cls in result:
        _check_class(cls, base, kind, origin, hook_name)
        if cls.name in before or cls.name in found:
            other = (before.get(cls.name) or found[cls.name]).origin.describe()
            raise PluginFault(fault_message(origin, hook_name, f"duplicate {kind} name {cls.name!r}: registered by "
                                                               f"{other} and by {origin.describe()}"))
        found[cls.name] = Entry(cls.name, kind, cls, origin)
    return found


def _check_class(cls: object, base: type, kind: str, origin: Origin, hook_name: str) -> None:
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise PluginFault(fault_message(origin, hook_name, f"it registered {cls!r:.60} as a {kind}. "
                                                           f"Accepted: a subclass of {base.__name__}"))
    name = getattr(cls, "name", None)
    if not _valid_name(name):
        raise PluginFault(fault_message(origin, hook_name, f"it registered {kind} {cls.__name__} with name "
                                                           f"{name!r:.60}. Accepted: a non-empty name of letters, "
                                                           "digits, '-' and '_', other than 'all'"))


def _valid_name(name: object) -> bool:
    return isinstance(name, str) and bool(name) and name != "all" and name.replace("_", "").replace("-", "").isalnum()


def _text(cls: type, attribute: str) -> str:
    value = getattr(cls, attribute, "")
    return value if isinstance(value, str) else ""


def _lookup(entries: dict, name: str, kind: str, note: str = "") -> Entry:
    if name not in entries:
        known = ", ".join(entries) or "none"
        raise UsageError(f"Unknown {kind} {name!r}. Available: {known}{note}")
    return entries[name]
