"""The plugin manager factory: built-ins by dotted name, then entry points.

Nothing is registered at import time; ``make_plugin_manager`` builds a fresh
manager each call (tests get one per test).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Iterable
from dataclasses import dataclass

import pluggy

from rnnbench import hookspecs
from rnnbench.errors import PluginError

ENTRY_POINT_GROUP = "rnnbench"
# Set to 1/true/yes to load only the built-in plugins (like PYTEST_DISABLE_PLUGIN_AUTOLOAD).
DISABLE_AUTOLOAD_ENV = "RNNBENCH_DISABLE_PLUGIN_AUTOLOAD"
# Comma-separated plugin names to block: entry-point names or built-in dotted names.
BLOCK_ENV = "RNNBENCH_BLOCK_PLUGINS"

BUILTIN_PLUGINS: tuple[str, ...] = (
    "rnnbench.backends.numpy_backend",
    "rnnbench.backends.torch_backend",
    "rnnbench.backends.tensorflow_backend",
    "rnnbench.backends.jax_backend",
    "rnnbench.tasks.char_rnn",
    "rnnbench.tasks.imdb",
    "rnnbench.tasks.forecasting",
    "rnnbench.tasks.airline",
)


@dataclass(frozen=True)
class Origin:
    """Where a plugin came from, for `rnnbench plugins`."""

    plugin: str  # the name it is registered (and blocked) under
    distribution: str | None = None  # None for a built-in
    version: str | None = None

    def describe(self) -> str:
        if self.distribution is None:
            return "built-in"
        return f"{self.distribution} {self.version}"


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers each plugin's origin."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.origins: dict[str, Origin] = {}

    def origin_of(self, plugin_name: str) -> Origin:
        return self.origins.get(plugin_name, Origin(plugin_name, "registered at run time", ""))


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _blocked_from_env() -> list[str]:
    return [name.strip() for name in os.environ.get(BLOCK_ENV, "").split(",") if name.strip()]


def make_plugin_manager(
    *,
    block: Iterable[str] = (),
    load_entry_points: bool | None = None,
    builtins: Iterable[str] = BUILTIN_PLUGINS,
) -> PluginManager:
    """Build and validate a fresh plugin manager.

    ``block`` adds to the names in ``RNNBENCH_BLOCK_PLUGINS``;
    ``load_entry_points`` defaults to on unless
    ``RNNBENCH_DISABLE_PLUGIN_AUTOLOAD`` is set.
    """
    pm = PluginManager()
    for name in [*_blocked_from_env(), *block]:
        pm.set_blocked(name)
    for dotted in builtins:
        _register_builtin(pm, dotted)
    if load_entry_points is None:
        load_entry_points = not _truthy(os.environ.get(DISABLE_AUTOLOAD_ENV))
    if load_entry_points:
        _register_entry_points(pm)
    _check_pending(pm)
    return pm


def _register(pm: PluginManager, plugin: object, origin: Origin) -> None:
    try:
        pm.register(plugin, name=origin.plugin)
    except (ValueError, pluggy.PluginValidationError) as exc:
        raise PluginError(f"Plugin {origin.plugin!r} ({origin.describe()}) could not be registered: {exc}") from exc
    pm.origins[origin.plugin] = origin


def _register_builtin(pm: PluginManager, dotted: str) -> None:
    if pm.is_blocked(dotted):
        return
    _register(pm, importlib.import_module(dotted), Origin(dotted))


def _register_entry_points(pm: PluginManager) -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if pm.is_blocked(ep.name) or pm.get_plugin(ep.name) is not None:
            continue
        dist = ep.dist
        origin = Origin(ep.name, dist.name if dist else ep.value, dist.version if dist else "")
        try:
            plugin = ep.load()
        except Exception as exc:  # any import-time failure of third-party code
            raise PluginError(
                f"Plugin {ep.name!r} ({origin.describe()}) failed to import: {type(exc).__name__}: {exc}. "
                f"Fix or uninstall it, or block it with {BLOCK_ENV}={ep.name}"
            ) from exc
        _register(pm, plugin, origin)


def _check_pending(pm: PluginManager) -> None:
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise PluginError(
            f"Plugin {name!r} ({pm.origin_of(name).describe()}) implements an unknown hook: {exc}. "
            f"Known hooks: {', '.join(sorted(h for h in dir(hookspecs) if h.startswith('rnnbench_')))}"
        ) from exc
