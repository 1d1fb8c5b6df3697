"""Recurrent layers in plain NumPy: forward pass and hand-written BPTT.

Everything here is time-major, (T, B, ...), in the canonical layout of
``rnnbench.params`` (gate blocks stacked along the rows of w_ih / w_hh:
lstm i, f, g, o; gru r, z, n). Initial states are zeros.

Written for speed as much as for clarity:

- one matmul projects the inputs of all T steps, with the biases folded in;
- one matmul per step for the recurrence, into a preallocated buffer;
- activations are computed in place and kept for the backward pass;
- the backward loop does one ``dgates @ w_hh`` per step plus elementwise
  work; dW_ih, dW_hh and dX are each one matmul over all steps afterwards.

A sigmoid costs one transcendental as 0.5 * (1 + tanh(x / 2)), which is also
stable for any x.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# (w_ih, w_hh, b_ih, b_hh) of one layer: the weights, or their gradients.
Weights = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass
class LayerBuffers:
    """Every array one layer needs for one batch shape, allocated once and reused."""

    gates: np.ndarray  # (T, B, G*H) input projections, then the gate activations, in place
    h: np.ndarray  # (T+1, B, H) hidden states; h[0] stays the zero initial state
    c: np.ndarray  # lstm: (T+1, B, H) cell states, c[0] stays zero; other cells: unused
    aux: np.ndarray  # (T, B, H) lstm: tanh(c_t); gru: W_hn h_{t-1} + b_hn; rnn: unused
    dgates: np.ndarray  # (T, B, G*H) dL/d(input-side pre-activations)
    dgates_h: np.ndarray  # (T, B, G*H) dL/d(hidden-side pre-activations); the same array except for gru
    step: np.ndarray  # (B, G*H) one step's h @ W_hh^T; scratch in the backward pass
    dh: np.ndarray  # (B, H) gradient flowing back into h_t
    dc: np.ndarray  # (B, H) lstm: gradient flowing back into c_t
    scratch: np.ndarray  # (B, H)
    scale: np.ndarray  # lstm: (4H,) 0.5 on the sigmoid gates i, f, o and 1 on g; see lstm_forward
    shift: np.ndarray  # lstm: (4H,) 0.5 on i, f, o and 0 on g

    @classmethod
    def allocate(cls, cell: str, gates: int, steps: int, batch: int, hidden: int, dtype: str) -> LayerBuffers:
        gh, seq = gates * hidden, (steps, batch, hidden)
        dgates = np.empty((steps, batch, gh), dtype)
        scale, shift = np.full(gh, 0.5, dtype), np.full(gh, 0.5, dtype)
        if cell == "lstm":
            scale[2 * hidden:3 * hidden], shift[2 * hidden:3 * hidden] = 1, 0  # g is a plain tanh
        return cls(
            gates=np.empty((steps, batch, gh), dtype),
            h=np.zeros((steps + 1, batch, hidden), dtype),
            c=np.zeros((steps + 1, batch, hidden) if cell == "lstm" else (0,), dtype),
            aux=np.empty(seq if cell != "rnn" else (0,), dtype),
            dgates=dgates,
            dgates_h=np.empty_like(dgates) if cell == "gru" else dgates,
            step=np.empty((batch, gh), dtype),
            dh=np.empty((batch, hidden), dtype),
            dc=np.empty((batch, hidden), dtype),
            scratch=np.empty((batch, hidden), dtype),
            scale=scale,
            shift=shift,
        )


def sigmoid_(x: np.ndarray) -> None:
    """x <- sigmoid(x), in place, with one tanh."""
    x *= 0.5
    np.tanh(x, out=x)
    x *= 0.5
    x += 0.5


def forward_layer(cell: str, w: Weights, x: np.ndarray, buf: LayerBuffers) -> np.ndarray:
    """Run one layer over ``x`` (T, B, I); return its hidden states (T, B, H), a view of ``buf.h``."""
    project_inputs(cell, w, x, buf)
    FORWARD[cell](w, buf)
    return buf.h[1:]


def backward_layer(cell: str, w: Weights, x: np.ndarray, buf: LayerBuffers, dh_out: np.ndarray,
                   grads: Weights, dx: np.ndarray | None) -> None:
    """Backpropagate dL/dh (T, B, H) through one layer run by ``forward_layer``.

    Writes the weight gradients into ``grads`` and dL/dx (T, B, I) into
    ``dx`` (skipped when None: nothing needs the gradient of the data).
    """
    BACKWARD[cell](w, buf, dh_out)
    weight_grads(x, buf, grads)
    if dx is not None:
        steps, batch, gh = buf.dgates.shape
        np.matmul(buf.dgates.reshape(steps * batch, gh), w[0], out=dx.reshape(steps * batch, -1))  # (T*B, I)


def project_inputs(cell: str, w: Weights, x: np.ndarray, buf: LayerBuffers) -> None:
    """gates <- x W_ih^T + every bias that sits outside the recurrence, for all T steps at once."""
    w_ih, _, b_ih, b_hh = w
    steps, batch, gh = buf.gates.shape
    bias = b_ih + b_hh  # (G*H,)
    if cell == "gru":
        bias[2 * gh // 3:] = b_ih[2 * gh // 3:]  # b_hn stays inside r * (W_hn h + b_hn)
    gates = buf.gates.reshape(steps * batch, gh)
    np.matmul(x.reshape(steps * batch, -1), w_ih.T, out=gates)  # (T*B, G*H)
    gates += bias


def weight_grads(x: np.ndarray, buf: LayerBuffers, grads: Weights) -> None:
    """dW_ih = dG^T X, dW_hh = dG_h^T H_prev and the bias sums, each one reduction over all steps."""
    g_ih, g_hh, gb_ih, gb_hh = grads
    steps, batch, gh = buf.dgates.shape
    dgx = buf.dgates.reshape(steps * batch, gh)  # (T*B, G*H)
    dgh = buf.dgates_h.reshape(steps * batch, gh)  # (T*B, G*H)
    np.matmul(dgx.T, x.reshape(steps * batch, -1), out=g_ih)  # (G*H, I)
    h_prev = buf.h[1:-1].reshape((steps - 1) * batch, buf.h.shape[2])  # h_1 .. h_{T-1}: h_0 = 0 adds nothing
    np.matmul(dgh[batch:].T, h_prev, out=g_hh)  # (G*H, H)
    np.sum(dgx, axis=0, out=gb_ih)
    if buf.dgates_h is buf.dgates:
        np.copyto(gb_hh, gb_ih)
    else:
        np.sum(dgh, axis=0, out=gb_hh)


# -- rnn: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) --


def rnn_forward(w: Weights, buf: LayerBuffers) -> None:
    w_hh = w[1]
    for t in range(len(buf.gates)):
        a = buf.gates[t]  # (B, H) pre-activation
        if t > 0:  # h_0 = 0 contributes nothing
            np.matmul(buf.h[t], w_hh.T, out=buf.step)  # (B, H)
            a += buf.step
        np.tanh(a, out=buf.h[t + 1])


def rnn_backward(w: Weights, buf: LayerBuffers, dh_out: np.ndarray) -> None:
    w_hh, dh, s = w[1], buf.dh, buf.scratch
    dh.fill(0)
    for t in reversed(range(len(buf.gates))):
        da = buf.dgates[t]  # (B, H)
        h = buf.h[t + 1]  # (B, H)
        dh += dh_out[t]  # (B, H) dL/dh_t
        np.multiply(h, h, out=s)
        np.subtract(1, s, out=s)  # tanh' = 1 - h^2
        np.multiply(dh, s, out=da)
        if t > 0:
            np.matmul(da, w_hh, out=dh)  # (B, H) recurrent part of dL/dh_{t-1}


# -- lstm: i, f, g, o;  c' = f * c + i * g;  h' = o * tanh(c') --


def lstm_forward(w: Weights, buf: LayerBuffers) -> None:
    w_hh, s = w[1], buf.scratch
    hidden = buf.h.shape[2]
    for t in range(len(buf.gates)):
        a = buf.gates[t]  # (B, 4H) pre-activations, then activations
        if t > 0:
            np.matmul(buf.h[t], w_hh.T, out=buf.step)  # (B, 4H)
            a += buf.step
        # sigmoid(x) = 0.5 + 0.5 tanh(x / 2): one tanh over all four blocks, in full contiguous rows
        a *= buf.scale
        np.tanh(a, out=a)
        a *= buf.scale
        a += buf.shift
        i, f, g, o = (a[:, k * hidden:(k + 1) * hidden] for k in range(4))  # (B, H) each
        c, c_next, tanh_c = buf.c[t], buf.c[t + 1], buf.aux[t]
        np.multiply(f, c, out=c_next)
        np.multiply(i, g, out=s)
        c_next += s
        np.tanh(c_next, out=tanh_c)
        np.multiply(o, tanh_c, out=buf.h[t + 1])


def lstm_backward(w: Weights, buf: LayerBuffers, dh_out: np.ndarray) -> None:
    w_hh, dh, dc, s = w[1], buf.dh, buf.dc, buf.scratch
    hidden = buf.h.shape[2]
    dh.fill(0)
    dc.fill(0)
    for t in reversed(range(len(buf.gates))):
        a, da = buf.gates[t], buf.dgates[t]  # (B, 4H) activations and their gradients
        i, f, g, o = (a[:, k * hidden:(k + 1) * hidden] for k in range(4))  # (B, H) each
        di, df, dg, do = (da[:, k * hidden:(k + 1) * hidden] for k in range(4))  # (B, H) each
        tanh_c = buf.aux[t]  # (B, H)
        dh += dh_out[t]  # (B, H) dL/dh_t: from above, plus the recurrent part from step t+1
        # h = o * tanh(c)
        np.multiply(dh, tanh_c, out=do)
        np.multiply(tanh_c, tanh_c, out=s)
        np.subtract(1, s, out=s)
        s *= o
        s *= dh
        dc += s  # dL/dc_t
        # c = f * c_prev + i * g
        np.multiply(dc, g, out=di)
        np.multiply(dc, buf.c[t], out=df)
        np.multiply(dc, i, out=dg)
        dc *= f  # dL/dc_{t-1}
        lstm_activation_grads_(a, da, buf.step, hidden)
        if t > 0:
            np.matmul(da, w_hh, out=dh)  # (B, H) recurrent part of dL/dh_{t-1}


def lstm_activation_grads_(a: np.ndarray, da: np.ndarray, deriv: np.ndarray, hidden: int) -> None:
    """da <- da * activation'(pre-activation), from the activations ``a`` (B, 4H)."""
    np.subtract(1, a, out=deriv)
    deriv *= a  # sigmoid' = s (1 - s), right for i, f, o
    g, dg = a[:, 2 * hidden:3 * hidden], deriv[:, 2 * hidden:3 * hidden]
    np.multiply(g, g, out=dg)
    np.subtract(1, dg, out=dg)  # tanh' = 1 - g^2 for the g block
    da *= deriv


# -- gru: r, z, n;  n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h --


def gru_forward(w: Weights, buf: LayerBuffers) -> None:
    w_hh, b_hh, s = w[1], w[3], buf.scratch
    hidden = buf.h.shape[2]
    b_hn = b_hh[2 * hidden:]  # (H,)
    for t in range(len(buf.gates)):
        a, hn, h = buf.gates[t], buf.aux[t], buf.h[t]  # (B, 3H), (B, H), (B, H)
        rz, r, z, n = a[:, :2 * hidden], a[:, :hidden], a[:, hidden:2 * hidden], a[:, 2 * hidden:]  # views
        if t > 0:
            np.matmul(h, w_hh.T, out=buf.step)  # (B, 3H)
            rz += buf.step[:, :2 * hidden]
            np.add(buf.step[:, 2 * hidden:], b_hn, out=hn)
        else:
            hn[...] = b_hn  # h_0 = 0
        sigmoid_(rz)
        np.multiply(r, hn, out=s)
        n += s
        np.tanh(n, out=n)
        np.subtract(h, n, out=s)
        s *= z
        np.add(n, s, out=buf.h[t + 1])  # n + z * (h - n)


def gru_backward(w: Weights, buf: LayerBuffers, dh_out: np.ndarray) -> None:
    w_hh, dh, s = w[1], buf.dh, buf.scratch
    hidden = buf.h.shape[2]
    dh.fill(0)
    for t in reversed(range(len(buf.gates))):
        a, dx, dhid = buf.gates[t], buf.dgates[t], buf.dgates_h[t]  # (B, 3H) each
        r, z, n = a[:, :hidden], a[:, hidden:2 * hidden], a[:, 2 * hidden:]  # (B, H) each
        dr, dz, dn = dx[:, :hidden], dx[:, hidden:2 * hidden], dx[:, 2 * hidden:]  # (B, H) each
        dh += dh_out[t]  # (B, H) dL/dh_t
        # h' = n + z * (h - n)
        np.subtract(buf.h[t], n, out=dz)
        dz *= dh
        np.subtract(1, z, out=dn)
        dn *= dh
        # n = tanh(a_n + r * hn): dn becomes dL/d(pre-activation of n)
        np.multiply(n, n, out=s)
        np.subtract(1, s, out=s)
        dn *= s
        np.multiply(dn, buf.aux[t], out=dr)
        gru_gate_grads_(a, dx, buf.step, hidden)
        # the hidden side shares r and z; its n block sits inside r * (W_hn h + b_hn)
        dhid[:, :2 * hidden] = dx[:, :2 * hidden]
        np.multiply(dn, r, out=dhid[:, 2 * hidden:])
        if t > 0:
            np.multiply(dh, z, out=s)
            np.matmul(dhid, w_hh, out=dh)  # (B, H)
            dh += s  # dL/dh_{t-1}, recurrent part


def gru_gate_grads_(a: np.ndarray, dx: np.ndarray, deriv: np.ndarray, hidden: int) -> None:
    """dr, dz <- dr, dz * sigmoid'(pre-activation), from the activations r, z."""
    rz, drz, d = a[:, :2 * hidden], dx[:, :2 * hidden], deriv[:, :2 * hidden]
    np.subtract(1, rz, out=d)
    d *= rz
    drz *= d


FORWARD: dict[str, Callable[[Weights, LayerBuffers], None]] = {
    "rnn": rnn_forward, "lstm": lstm_forward, "gru": gru_forward,
}
BACKWARD: dict[str, Callable[[Weights, LayerBuffers, np.ndarray], None]] = {
    "rnn": rnn_backward, "lstm": lstm_backward, "gru": gru_backward,
}


# -- one step with a given state: the reference of streaming inference (Model.step) --


def cell_step(cell: str, w: Weights, x: np.ndarray, h: np.ndarray, c: np.ndarray | None
              ) -> tuple[np.ndarray, np.ndarray | None]:
    """(h', c') after one step of ``x`` (B, I) from (h, c), each (B, H); c is None except for lstm.

    Written as the formulas of ``rnnbench.params``, without buffers: a step is
    B x (G*H) work, so clarity costs nothing here.
    """
    w_ih, w_hh, b_ih, b_hh = w
    hidden = h.shape[1]
    xs, hs = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh  # (B, G*H) each
    if cell == "rnn":
        return np.tanh(xs + hs), None
    if cell == "lstm":
        a = xs + hs
        i, f, g, o = (a[:, k * hidden:(k + 1) * hidden] for k in range(4))
        c_next = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        return _sigmoid(o) * np.tanh(c_next), c_next
    r = _sigmoid(xs[:, :hidden] + hs[:, :hidden])
    z = _sigmoid(xs[:, hidden:2 * hidden] + hs[:, hidden:2 * hidden])
    n = np.tanh(xs[:, 2 * hidden:] + r * hs[:, 2 * hidden:])
    return n + z * (h - n), None


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))
