"""What of a conversation a recurrent network sees (``RNNClassifier(context=...)``).

``"sequence"``: each conversation as one sequence, in order (the paper's model);
``"none"``: every utterance its own sequence of length one, so that a model differs from the
BLSTM only by its context (``blstm_vf_noctx``); ``"shuffled"``: each conversation's utterances
in a fixed permuted order, which keeps which utterances belong together and breaks their order
(``blstm_vf_shuffled``). The view is applied to inputs and labels before training and
prediction, and the outputs are put back in the caller's order, so nothing else in the
estimator depends on the context.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_CONTEXTS = ("sequence", "none", "shuffled")


@dataclass(frozen=True)
class _ContextView:
    """What of the conversation the network sees (``context``): the sequences it is given,
    each a (caller's sequence, its utterance indices in the order the network reads them).

    :meth:`take` applies the view to per-sequence arrays (features and labels alike);
    :meth:`restore` maps the network's per-sequence outputs back to the caller's sequences,
    lengths and utterance order. ``"sequence"`` is the identity.
    """

    pieces: tuple[tuple[int, np.ndarray], ...]
    lengths: tuple[int, ...]

    @classmethod
    def of(cls, seqs: Sequence[np.ndarray], context: str, seed: int) -> _ContextView:
        """The view of ``seqs`` (float64 arrays) for ``context``.

        ``"shuffled"`` permutes a sequence ``x`` with ``default_rng([seed, crc32(x)])``, a
        function of the estimator's seed and of the sequence's content only.
        """
        pieces: list[tuple[int, np.ndarray]] = []
        for k, x in enumerate(seqs):
            n = len(x)
            if context == "sequence":
                pieces.append((k, np.arange(n)))
            elif context == "none":
                pieces.extend((k, np.array([t])) for t in range(n))
            elif context == "shuffled":
                crc = zlib.crc32(np.ascontiguousarray(x, dtype=np.float64).tobytes())
                pieces.append((k, np.random.default_rng([seed, crc]).permutation(n)))
            else:
                raise ValueError(f"context must be one of {_CONTEXTS}, got {context!r}")
        return cls(tuple(pieces), tuple(len(x) for x in seqs))

    @property
    def groups(self) -> list[list[int]]:
        """The network's sequences (indices into :meth:`take`'s list) that came from each
        caller's sequence, in order: the unit of one training update (``batch_size`` counts
        these), so every context updates as often as ``"sequence"`` does."""
        out: list[list[int]] = [[] for _ in self.lengths]
        for i, (k, _) in enumerate(self.pieces):
            out[k].append(i)
        return out  # no caller's sequence is empty (RNNClassifier checks), so none is empty

    def take(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The sequences the network sees, cut from ``arrays`` (one per caller's sequence)."""
        return [np.asarray(arrays[k])[idx] for k, idx in self.pieces]

    def restore(self, outputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per-utterance ``outputs`` of the network's sequences, in the caller's layout."""
        if not outputs:
            return [np.zeros((n, 0)) for n in self.lengths]
        rest = outputs[0].shape[1:]
        out = [np.empty((n, *rest), dtype=outputs[0].dtype) for n in self.lengths]
        for (k, idx), o in zip(self.pieces, outputs, strict=True):
            out[k][idx] = o
        return out
