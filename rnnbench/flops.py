"""Floating-point operations of one forward pass and one training step.

The convention, the same for every backend so achieved FLOP/s compare:

- only matmuls count, 2*m*n*k each: per layer the input projection
  (2*B*T*I*G*H) and the recurrence (2*B*T*H*G*H, counted for all T steps
  even though h_0 = 0), then the head (2*B*T*H*O for lm, 2*B*H*O for a
  last-step head);
- elementwise work (activations, biases, losses) and embedding lookups
  count 0;
- a training step is the forward pass plus a backward pass of twice the
  forward matmul FLOPs (one matmul for the input gradient and one for the
  weight gradient per forward matmul), so 3x forward. A backend that skips
  a product nobody needs (e.g. the gradient of dense input data) is still
  credited with it; the optimiser update counts 0.
"""

from __future__ import annotations

from rnnbench.spec import ModelSpec

BACKWARD_FACTOR = 2  # backward matmul FLOPs per forward matmul FLOP


def forward_flops(spec: ModelSpec, batch: int, steps: int) -> int:
    """Matmul FLOPs of one forward pass over a (batch, steps) input, head included."""
    gh, hidden = spec.gates * spec.hidden_size, spec.hidden_size
    total = 0
    for layer in range(spec.num_layers):
        total += 2 * batch * steps * spec.layer_input_size(layer) * gh  # input projection
        total += 2 * batch * steps * hidden * gh  # recurrence
    head_rows = batch * steps if spec.head == "lm" else batch
    return total + 2 * head_rows * hidden * spec.output_size


def train_step_flops(spec: ModelSpec, batch: int, steps: int) -> int:
    """Matmul FLOPs of one training step (forward + backward) over a (batch, steps) input."""
    return (1 + BACKWARD_FACTOR) * forward_flops(spec, batch, steps)
