"""Test doubles: a base for ``Model`` doubles (each overrides only what its test exercises), and a fake clock."""

from __future__ import annotations

import numpy as np

from rnnbench.backend import Model, RuntimeInfo
from rnnbench.params import Params


class StandInModel(Model):
    """Every abstract method defined; the ones a test does not expect to be called raise."""

    label = "test double"

    def train_step(self, x: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, Params]:
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def get_params(self) -> Params:
        return {}

    def set_params(self, params: Params) -> None:
        raise NotImplementedError

    def runtime_info(self) -> RuntimeInfo:
        return RuntimeInfo(self.label)


class FakeClock:
    """A clock that advances only when the code under test 'works': timings exact, no wall clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
