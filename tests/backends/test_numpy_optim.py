"""The NumPy optimisers against steps worked out by hand, as torch.optim defines them.

Every case updates the 2-element parameter p = [1, -2] with g1 = [2, -4] and
then g2 = [0, 2], so the second step uses the state left by the first.
Hyperparameters are chosen so the arithmetic stays readable (and eps is
large enough to show where it is added).
"""

from __future__ import annotations

import numpy as np
import pytest

from rnnbench.backends.numpy_backend.optim import SGD, Adam, RMSprop, clip_grad_norm_, make_optimizer
from rnnbench.params import Params
from rnnbench.spec import OptimizerSpec

P0 = [1.0, -2.0]
G1 = [2.0, -4.0]
G2 = [0.0, 2.0]


def two_steps(spec: OptimizerSpec, dtype: str = "float64") -> tuple[np.ndarray, np.ndarray]:
    """p after one step with G1 and after a second with G2."""
    params: Params = {"p": np.array(P0, dtype)}
    optimizer = make_optimizer(spec, params)
    optimizer.step(params, {"p": np.array(G1, dtype)})
    after_one = params["p"].copy()
    optimizer.step(params, {"p": np.array(G2, dtype)})
    return after_one, params["p"]


def test_make_optimizer_picks_the_class() -> None:
    params: Params = {"p": np.zeros(2)}
    assert type(make_optimizer(OptimizerSpec("adam", lr=1.0), params)) is Adam
    assert type(make_optimizer(OptimizerSpec("rmsprop", lr=1.0), params)) is RMSprop
    assert type(make_optimizer(OptimizerSpec("sgd", lr=1.0), params)) is SGD


def test_sgd_with_momentum() -> None:
    one, two = two_steps(OptimizerSpec("sgd", lr=0.1, momentum=0.5))
    # step 1: buf = g1 = [2, -4] (torch starts at g);  p = [1, -2] - 0.1 * [2, -4] = [0.8, -1.6]
    np.testing.assert_allclose(one, [0.8, -1.6], rtol=1e-15)
    # step 2: buf = 0.5 * [2, -4] + [0, 2] = [1, 0];  p = [0.8, -1.6] - 0.1 * [1, 0] = [0.7, -1.6]
    np.testing.assert_allclose(two, [0.7, -1.6], rtol=1e-15)


def test_plain_sgd() -> None:
    one, two = two_steps(OptimizerSpec("sgd", lr=0.1))
    np.testing.assert_allclose(one, [0.8, -1.6], rtol=1e-15)  # [1, -2] - 0.1 * [2, -4]
    np.testing.assert_allclose(two, [0.8, -1.8], rtol=1e-15)  # [0.8, -1.6] - 0.1 * [0, 2]


def test_rmsprop() -> None:
    one, two = two_steps(OptimizerSpec("rmsprop", lr=0.1, rho=0.75, eps=0.25))
    # step 1: v = 0.75 * 0 + 0.25 * [4, 16] = [1, 4];  sqrt(v) + eps = [1.25, 2.25]
    #         p = [1, -2] - 0.1 * [2 / 1.25, -4 / 2.25] = [1 - 0.16, -2 + 0.4 / 2.25]
    np.testing.assert_allclose(one, [0.84, -2 + 0.4 / 2.25], rtol=1e-15)
    # step 2: v = 0.75 * [1, 4] + 0.25 * [0, 4] = [0.75, 4];  sqrt(v) + eps = [sqrt(0.75) + 0.25, 2.25]
    #         p = p1 - 0.1 * [0 / ..., 2 / 2.25]
    np.testing.assert_allclose(two, [0.84, -2 + 0.4 / 2.25 - 0.2 / 2.25], rtol=1e-15)


def test_adam() -> None:
    one, two = two_steps(OptimizerSpec("adam", lr=0.1, beta1=0.5, beta2=0.75, eps=0.25))
    # step 1: m = 0.5 * [2, -4] = [1, -2];  v = 0.25 * [4, 16] = [1, 4]
    #         m_hat = m / (1 - 0.5) = [2, -4];  v_hat = v / (1 - 0.75) = [4, 16]
    #         sqrt(v_hat) + eps = [2.25, 4.25]
    #         p = [1, -2] - 0.1 * [2 / 2.25, -4 / 4.25]
    np.testing.assert_allclose(one, [1 - 0.2 / 2.25, -2 + 0.4 / 4.25], rtol=1e-14)
    # step 2: m = 0.5 * [1, -2] + 0.5 * [0, 2] = [0.5, 0];  v = 0.75 * [1, 4] + 0.25 * [0, 4] = [0.75, 4]
    #         m_hat = m / (1 - 0.25) = [2/3, 0];  v_hat = v / (1 - 0.5625) = [0.75 / 0.4375, 4 / 0.4375]
    #         p = p1 - 0.1 * [(2/3) / (sqrt(0.75 / 0.4375) + 0.25), 0]
    second = 0.1 * (2 / 3) / (np.sqrt(0.75 / 0.4375) + 0.25)
    np.testing.assert_allclose(two, [1 - 0.2 / 2.25 - second, -2 + 0.4 / 4.25], rtol=1e-14)


def test_adam_with_default_eps_takes_lr_sized_first_steps() -> None:
    one, _ = two_steps(OptimizerSpec("adam", lr=0.1))
    # m_hat / sqrt(v_hat) = g / |g| = sign(g) on the first step, whatever beta1 and beta2
    np.testing.assert_allclose(one, [0.9, -1.9], rtol=1e-7)


@pytest.mark.parametrize("name", ["adam", "rmsprop", "sgd"])
def test_float32_stays_float32_and_in_place(name: str) -> None:
    params: Params = {"p": np.array(P0, np.float32)}
    kept = params["p"]
    optimizer = make_optimizer(OptimizerSpec(name, lr=0.1, momentum=0.5), params)  # type: ignore[arg-type]
    optimizer.step(params, {"p": np.array(G1, np.float32)})
    assert params["p"] is kept and kept.dtype == np.float32
    assert not np.array_equal(kept, np.array(P0, np.float32))


def test_reset_forgets_the_state() -> None:
    spec = OptimizerSpec("adam", lr=0.1)
    params: Params = {"p": np.array(P0)}
    optimizer = make_optimizer(spec, params)
    optimizer.step(params, {"p": np.array(G1)})
    optimizer.reset()
    params["p"][...] = P0
    optimizer.step(params, {"p": np.array(G2)})
    fresh: Params = {"p": np.array(P0)}
    make_optimizer(spec, fresh).step(fresh, {"p": np.array(G2)})
    np.testing.assert_array_equal(params["p"], fresh["p"])


def test_clipping_scales_a_norm_above_the_limit() -> None:
    grads: Params = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0, 4.0]])}  # global norm sqrt(9 + 16) = 5
    norm = clip_grad_norm_(grads, 1.0)
    assert norm == 5.0  # the norm before clipping, as torch returns it
    coef = 1.0 / (5.0 + 1e-6)  # torch divides by norm + 1e-6
    np.testing.assert_allclose(grads["a"], [3 * coef, 0.0], rtol=1e-15)
    np.testing.assert_allclose(grads["b"], [[0.0, 4 * coef]], rtol=1e-15)


def test_clipping_leaves_a_norm_below_the_limit() -> None:
    grads: Params = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0, 4.0]])}
    assert clip_grad_norm_(grads, 10.0) == 5.0  # coef 10 / 5 >= 1: nothing changes
    np.testing.assert_array_equal(grads["a"], [3.0, 0.0])
    np.testing.assert_array_equal(grads["b"], [[0.0, 4.0]])


def test_step_clips_before_the_update() -> None:
    params: Params = {"p": np.array(P0)}
    optimizer = make_optimizer(OptimizerSpec("sgd", lr=1.0, clip_norm=1.0), params)
    optimizer.step(params, {"p": np.array([3.0, 4.0])})  # norm 5, scaled to norm ~1: [0.6, 0.8]
    coef = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(params["p"], [1 - 3 * coef, -2 - 4 * coef], rtol=1e-15)
