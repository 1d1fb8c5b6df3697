"""The "hoisted" implementation's recurrent layer: every step's input projection before the loop.

A Keras layer with exactly the weights of Keras' SimpleRNN / LSTM /
GRU(reset_after=True) (``kernel`` (I, G*H), ``recurrent_kernel`` (H, G*H),
``bias`` (G*H,) or (2, 3H) for the GRU, gates in Keras' order), so layout.py
converts it unchanged. ``x @ kernel + bias`` runs once for all T steps as
one (B*T, I) @ (I, G*H) matmul; ``tf.scan`` then steps only the recurrence
``h @ recurrent_kernel`` and the gates. Keras' own cells do both matmuls in
every step. The streaming step is the layer on a sequence of one step from
the given states.

Imported only by the tensorflow model: importing it imports TensorFlow.
"""

from __future__ import annotations

import keras
import tensorflow as tf

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


class HoistedRecurrent(keras.layers.Layer):
    """One recurrent layer of ``cell`` from zero states: every step's h (B, T, H), or the last (B, H)."""

    def __init__(self, cell: str, units: int, return_sequences: bool, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.cell, self.units, self.return_sequences = cell, units, return_sequences

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        width = GATES[self.cell] * self.units
        # Values come from set_weights; the order is Keras' own: kernel, recurrent_kernel, bias.
        self.kernel = self.add_weight(shape=(int(input_shape[-1]), width), initializer="zeros", name="kernel")  # type: ignore[arg-type]
        self.recurrent_kernel = self.add_weight(shape=(self.units, width), initializer="zeros",
                                                name="recurrent_kernel")
        bias_shape = (2, width) if self.cell == "gru" else (width,)  # GRU: [input bias, recurrent bias]
        self.bias = self.add_weight(shape=bias_shape, initializer="zeros", name="bias")

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        batch, steps = input_shape[0], input_shape[1]
        return (batch, steps, self.units) if self.return_sequences else (batch, self.units)

    def call(self, inputs: tf.Tensor, initial_state: list[tf.Tensor] | None = None
             ) -> tf.Tensor | tuple[tf.Tensor, list[tf.Tensor]]:
        """Every step's h, or the last, from zero states; given ``initial_state`` ([h], or [h, c] for the
        LSTM, as a Keras cell takes them: the streaming step), from those, and the last states besides."""
        batch, steps = tf.shape(inputs)[0], tf.shape(inputs)[1]
        input_bias = self.bias[0] if self.cell == "gru" else self.bias  # (G*H,)
        flat = tf.reshape(inputs, (-1, tf.shape(inputs)[2]))  # (B*T, I)
        projected = tf.reshape(tf.matmul(flat, self.kernel) + input_bias, (batch, steps, -1))  # (B, T, G*H)
        time_major = tf.transpose(projected, (1, 0, 2))  # (T, B, G*H)
        h0 = tf.zeros((batch, self.units), dtype=inputs.dtype)  # (B, H)
        start = initial_state or ([h0, h0] if self.cell == "lstm" else [h0])
        if self.cell == "lstm":
            hs, cs = tf.scan(self._lstm_step, time_major, initializer=tuple(start))  # (T, B, H) twice
            last = [hs[-1], cs[-1]]
        else:
            hs = tf.scan(self._rnn_step if self.cell == "rnn" else self._gru_step, time_major, initializer=start[0])
            last = [hs[-1]]
        output = tf.transpose(hs, (1, 0, 2)) if self.return_sequences else hs[-1]  # (B, T, H) or (B, H)
        return output if initial_state is None else (output, last)

    def _rnn_step(self, h: tf.Tensor, x_t: tf.Tensor) -> tf.Tensor:
        return tf.tanh(x_t + tf.matmul(h, self.recurrent_kernel))  # (B, H)

    def _lstm_step(self, carry: tuple[tf.Tensor, tf.Tensor], x_t: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        h, c = carry  # (B, H), (B, H)
        i, f, g, o = tf.split(x_t + tf.matmul(h, self.recurrent_kernel), 4, axis=-1)  # 4 x (B, H): i, f, c, o
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        return tf.sigmoid(o) * tf.tanh(c), c

    def _gru_step(self, h: tf.Tensor, x_t: tf.Tensor) -> tf.Tensor:
        x_z, x_r, x_h = tf.split(x_t, 3, axis=-1)  # 3 x (B, H), Keras' order z, r, h; input bias included
        h_z, h_r, h_h = tf.split(tf.matmul(h, self.recurrent_kernel) + self.bias[1], 3, axis=-1)  # 3 x (B, H)
        z, r = tf.sigmoid(x_z + h_z), tf.sigmoid(x_r + h_r)
        candidate = tf.tanh(x_h + r * h_h)  # reset_after=True: r gates the recurrent part and its bias
        return z * h + (1 - z) * candidate  # (B, H)
