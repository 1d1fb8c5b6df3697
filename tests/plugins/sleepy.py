"""The NumPy reference, slowed on demand: proof that the benchmark comparison catches a regression.

With RNNBENCH_TEST_SLEEP_S set (seconds, e.g. 0.5), every ``train_step`` and
``predict`` sleeps that long first; unset, it is the NumPy backend under
another name. tests/benchmarks/test_micro.py always benchmarks it, so a
saved run has its figures to compare with, and
``RNNBENCH_TEST_SLEEP_S=0.5 tox -e bench`` must fail the comparison. Only
this test plugin reads the variable; no shipped backend does.
"""

from __future__ import annotations

import os
import time

from rnnbench import hookimpl
from rnnbench.backends.numpy_backend import NumpyBackend
from rnnbench.errors import UsageError

SLEEP_ENV = "RNNBENCH_TEST_SLEEP_S"


def _sleep_s() -> float:
    value = os.environ.get(SLEEP_ENV, "").strip()
    try:
        return float(value) if value else 0.0
    except ValueError:
        raise UsageError(f"{SLEEP_ENV}={value!r} is not valid. Accepted: seconds, such as 0.5") from None


class SleepyBackend(NumpyBackend):
    name = "sleepy"
    description = "The NumPy reference, sleeping RNNBENCH_TEST_SLEEP_S seconds per call (tests only)"

    def build(self, spec, params, optimizer, device="cpu"):  # type: ignore[no-untyped-def]
        model = super().build(spec, params, optimizer, device)
        seconds = _sleep_s()
        if seconds:
            train_step, predict = model.train_step, model.predict

            def slow_train_step(x, y):  # type: ignore[no-untyped-def]
                time.sleep(seconds)
                return train_step(x, y)

            def slow_predict(x):  # type: ignore[no-untyped-def]
                time.sleep(seconds)
                return predict(x)

            model.train_step = slow_train_step  # type: ignore[method-assign]
            model.predict = slow_predict  # type: ignore[method-assign]
        return model


@hookimpl
def rnnbench_register_backends():  # type: ignore[no-untyped-def]
    return [SleepyBackend]
