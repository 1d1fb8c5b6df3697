"""The conformance suite as pytest tests: one per backend x case, collected by ``--rnnbench-backend``.

The cases, tolerances and reference are those of ``rnnbench check``
(rnnbench/conformance.py): the reference backend ("numpy") is checked
against finite differences in float64; every other backend against it,
in float64 and float32, on outputs, the streaming step (outputs and carried
states, step by step), loss, gradients and the parameters after two steps of
each optimiser (outputs and steps alone for a backend that does not train).
A dtype the backend does not support is a skip that says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from rnnbench.conformance import REFERENCE_BACKEND, Case, Comparison, cases, check_case, check_reference_case
from rnnbench.plugins.registry import Registry
from rnnbench.testing import registry_of, selection_of

DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class ConformanceCase:
    """One case of one backend."""

    backend: str
    case: Case
    device: str

    @property
    def id(self) -> str:
        return f"{self.backend}-{self.case.label}"

    def run(self, registry: Registry) -> list[Comparison]:
        backend = registry.available_backend(self.backend)
        if self.backend == REFERENCE_BACKEND:
            return check_reference_case(backend, self.case)
        reference = registry.available_backend(REFERENCE_BACKEND)
        return list(check_case(backend, reference, self.case, self.device))


def conformance_params(registry: Registry, backends: tuple[str, ...], device: str) -> list[Any]:
    """Every case of every backend; a dtype the backend lacks is skipped with the reason."""
    params = []
    for name in backends:
        if name == REFERENCE_BACKEND:  # checked against finite differences, in float64 only
            chosen = cases(("float64",))
        else:
            chosen = cases(DTYPES)
        supported = registry.backend(name).dtypes
        for case in chosen:
            item = ConformanceCase(name, case, device)
            marks = [] if case.dtype in supported else [
                pytest.mark.skip(reason=f"{case.dtype}: {name} supports only {', '.join(supported)}")]
            params.append(pytest.param(item, id=item.id, marks=marks))
    return params


def describe(comparison: Comparison) -> str:
    """One line per failed quantity: what, how far off, where, against which tolerance."""
    return (f"{comparison.case} {comparison.quantity}: largest relative error {comparison.max_rel:.3g} > "
            f"tolerance {comparison.tolerance:g} (absolute floor {comparison.floor:g}) in {comparison.worst}; "
            f"largest absolute error {comparison.max_abs:.3g}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_case" in metafunc.fixturenames:
        selection = selection_of(metafunc.config)
        params = conformance_params(registry_of(metafunc.config), selection.backends, selection.device)
        metafunc.parametrize("conformance_case", params)


def test_conformance(conformance_case: ConformanceCase, rnnbench_registry: Registry) -> None:
    failures = [c for c in conformance_case.run(rnnbench_registry) if not c.ok]
    if failures:
        pytest.fail("\n".join(describe(c) for c in failures), pytrace=False)
