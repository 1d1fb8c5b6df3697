"""A task whose batches break the data contract: token ids past the vocabulary.

Any backend fed such a batch fails its own way (an IndexError deep in a
framework, or silently wrong numbers); the core's one check must stop the
case first, with the same line for every backend.
"""

from __future__ import annotations

from rnnbench import hookimpl
from rnnbench.tasks.char_rnn import CharRnnTask


class OffContractTask(CharRnnTask):
    name = "off_contract"

    def train_batches(self, seed):  # type: ignore[no-untyped-def]
        for x, y in super().train_batches(seed):
            x = x.copy()
            x[0, 0] = self.model_spec("gru").vocab_size  # one id past the end
            yield x, y


@hookimpl
def rnnbench_register_tasks():  # type: ignore[no-untyped-def]
    return [OffContractTask]
