"""Backends whose plugin code fails the ways careless plugins do: each is the NumPy reference with one fault.

Metadata that raises (``available``, ``versions``, ``implementations``, ``sys.exit(3)`` in
``available``), metadata of the wrong type, and a ``build`` that raises or calls ``sys.exit``. The core must name the
plugin, show the fault as one line and go on with the other backends.
"""

from __future__ import annotations

import sys

from rnnbench import hookimpl
from rnnbench.backends.numpy_backend import NumpyBackend


class RaisesInAvailable(NumpyBackend):
    name = "raises_available"

    def available(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("available() blew up")


class ExitsInAvailable(NumpyBackend):
    name = "exits_available"

    def available(self):  # type: ignore[no-untyped-def]
        sys.exit(3)


class RaisesInVersions(NumpyBackend):
    name = "raises_versions"

    def versions(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("versions() blew up")


class RaisesInImplementations(NumpyBackend):
    name = "raises_implementations"

    def implementations(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("implementations() blew up")


class WrongAvailable(NumpyBackend):
    name = "wrong_available"

    def available(self):  # type: ignore[no-untyped-def]
        return True


class WrongVersions(NumpyBackend):
    name = "wrong_versions"

    def versions(self):  # type: ignore[no-untyped-def]
        return ["numpy"]


class WrongImplementations(NumpyBackend):
    name = "wrong_implementations"

    def implementations(self):  # type: ignore[no-untyped-def]
        return "default"


class RaisesInBuild(NumpyBackend):
    name = "raises_build"

    def build(self, spec, params, optimizer, device="cpu"):  # type: ignore[no-untyped-def]
        raise RuntimeError("build() blew up")


class ExitsInBuild(NumpyBackend):
    name = "exits_build"

    def build(self, spec, params, optimizer, device="cpu"):  # type: ignore[no-untyped-def]
        sys.exit(3)


METADATA_FAULTS = {RaisesInAvailable.name: "available() blew up", ExitsInAvailable.name: "SystemExit",
                   RaisesInVersions.name: "versions() blew up",
                   RaisesInImplementations.name: "implementations() blew up",
                   WrongAvailable.name: "bool", WrongVersions.name: "list", WrongImplementations.name: "str"}


@hookimpl
def rnnbench_register_backends():  # type: ignore[no-untyped-def]
    return [RaisesInAvailable, ExitsInAvailable, RaisesInVersions, RaisesInImplementations, WrongAvailable,
            WrongVersions, WrongImplementations, RaisesInBuild, ExitsInBuild]
