"""A backend's metadata called once, inside the guard, and checked; a faulty backend's stand-in.

``check_metadata`` calls what the core relies on before any case (``available``,
``implementations`` and the default on each device kind, ``versions``) and checks what comes back,
so a plugin that raises or returns the wrong type fails here, in one line naming it, and not in
the middle of a run. ``stand_in`` is the backend the registry hands out in its place: never
available, with that line as the reason, so ``--backend all`` skips it and ``rnnbench plugins``
lists it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rnnbench.backend import DEVICE_KINDS, Availability, Backend, Implementation
from rnnbench.errors import PluginError
from rnnbench.plugins.guard import PluginFault, fault_message, guard
from rnnbench.spec import PRECISIONS

if TYPE_CHECKING:
    from rnnbench.plugins import Origin


def check_metadata(backend: Backend, origin: Origin) -> dict[str, str]:
    """PluginFault unless ``backend``'s metadata is callable and well typed; its ``versions()`` when available."""
    where = f"backend {backend.name!r} ({type(backend).__name__})"
    _check_attributes(backend, origin, where)
    status = _call(backend.available, origin, f"available() of {where}", "an Availability",
                   lambda s: isinstance(s, Availability) and isinstance(s.ok, bool) and isinstance(s.reason, str)
                   and isinstance(s.install_hint, str))
    implementations = _call(backend.implementations, origin, f"implementations() of {where}",
                            "a non-empty tuple of Implementation with distinct names", _implementations_ok)
    names = [i.name for i in implementations]
    for kind in DEVICE_KINDS:
        if any(i.runs_on(kind) for i in implementations):
            _call(lambda kind=kind: backend.default_implementation(kind), origin,
                  f"default_implementation({kind!r}) of {where}", f"one of {', '.join(names)}", names.__contains__)
            _call(lambda kind=kind: backend.default_rule(kind), origin, f"default_rule({kind!r}) of {where}",
                  "a string", lambda rule: isinstance(rule, str))
    if not status.ok:
        return {}
    return _call(backend.versions, origin, f"versions() of {where}", "a dict of distribution name to version string",
                 lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()))


def _check_attributes(backend: Backend, origin: Origin, where: str) -> None:
    for attribute, accepted, ok in (
            ("description", "a string", lambda v: isinstance(v, str)),
            ("install_hint", "a string", lambda v: isinstance(v, str)),
            ("trains", "True or False", lambda v: isinstance(v, bool)),
            ("dtypes", f"a tuple of {', '.join(PRECISIONS)}",
             lambda v: isinstance(v, (tuple, list)) and all(isinstance(d, str) and d in PRECISIONS for d in v))):
        value = getattr(backend, attribute, None)
        if not ok(value):
            raise PluginFault(fault_message(origin, f"{attribute} of {where}",
                                            f"it is {type(value).__name__} {value!r:.60}. Accepted: {accepted}"))


def _call(method: Callable[[], Any], origin: Origin, what: str, accepted: str, ok: Callable[[Any], bool]) -> Any:
    """``method()`` inside the guard; PluginFault naming ``what`` unless ``ok`` accepts the result."""
    with guard(origin, what):
        result = method()
    if not ok(result):
        raise PluginFault(fault_message(origin, what, f"it returned {type(result).__name__} {result!r:.60}. "
                                                      f"Accepted: {accepted}"))
    return result


def _implementations_ok(found: object) -> bool:
    if not isinstance(found, (tuple, list)) or not found:
        return False
    names = [getattr(i, "name", None) for i in found]
    return all(isinstance(i, Implementation) for i in found) and len(set(names)) == len(names)


class FaultyBackend(Backend):
    """Stands in for a backend whose plugin failed: never available, the failure as the reason."""

    fault: str = ""

    def available(self) -> Availability:
        return Availability(False, self.fault)

    def versions(self) -> dict[str, str]:
        return {}

    def build(self, spec: Any, params: Any, optimizer: Any, device: str = "cpu") -> Any:
        raise PluginError(self.fault)


def stand_in(name: str, fault: str, description: str = "") -> type[Backend]:
    """A FaultyBackend class called ``name``, whose reason is ``fault`` (one line naming the plugin)."""
    return type(f"Faulty_{name}", (FaultyBackend,), {"name": name, "fault": fault, "description": description,
                                                      "__module__": __name__})
