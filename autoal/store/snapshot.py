"""One consistent view of a run's annotations, assignments and skips, taken once per step.

A :class:`Snapshot` holds plain arrays (positions, annotator codes, class indices) read from the run
store, and computes what the steps of a round ask of it (who labelled what, the labelled examples in
the order they were first labelled, the wide label matrix cleanlab takes, the assignments still
waiting for an answer) with numpy, never by walking the examples in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["Snapshot"]


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Annotations, assignments and skips of a run at one moment.

    Attributes
    ----------
    n_examples : int
        Number of pool examples (positions ``0 .. n_examples - 1``).
    names : tuple of str
        Annotator names; the ``*_annotator`` arrays hold indices into it.
    seq, example, annotator, label, round : ndarray of int64, shape (A,)
        One entry per annotation, oldest first: sequence number, example position, annotator code,
        class index, round it answers.
    timestamp : ndarray of float64, shape (A,)
        When each annotation was committed (seconds since the epoch).
    assigned_round, assigned_example, assigned_annotator : ndarray of int64, shape (S,)
        Every assignment, in the order made.
    skipped_example, skipped_annotator : ndarray of int64, shape (K,)
        Every skip.
    """

    n_examples: int
    names: tuple
    seq: np.ndarray
    example: np.ndarray
    annotator: np.ndarray
    label: np.ndarray
    round: np.ndarray
    timestamp: np.ndarray
    assigned_round: np.ndarray
    assigned_example: np.ndarray
    assigned_annotator: np.ndarray
    skipped_example: np.ndarray
    skipped_annotator: np.ndarray

    # -- annotations -------------------------------------------------------------------------------

    @property
    def n_annotations(self) -> int:
        """Number of annotations."""
        return int(len(self.example))

    @property
    def watermark(self) -> int:
        """The highest annotation sequence number in the snapshot (0 when there is none)."""
        return int(self.seq.max()) if len(self.seq) else 0

    def code(self, name) -> int:
        """The code of annotator ``name``."""
        return self.names.index(name)

    @cached_property
    def counts(self) -> np.ndarray:
        """Annotations per example, shape (n_examples,)."""
        return np.bincount(self.example, minlength=self.n_examples)

    @cached_property
    def labelled(self) -> np.ndarray:
        """Positions of the examples with at least one label, in the order they were first labelled."""
        first = np.unique(self.example, return_index=True)[1]
        return self.example[np.sort(first)]

    @cached_property
    def n_multi_labelled(self) -> int:
        """Examples with two or more labels."""
        return int((self.counts >= 2).sum())

    def annotators_used(self) -> list:
        """Names of the annotators with at least one annotation, in the order of their first one."""
        first = np.unique(self.annotator, return_index=True)[1]
        return [self.names[c] for c in self.annotator[np.sort(first)]]

    def matrix(self, positions, columns) -> np.ndarray:
        """The wide ``labels_multiannotator`` view cleanlab takes.

        Parameters
        ----------
        positions : array of int, shape (n,)
            Example positions (rows).
        columns : sequence of m annotator names
            Columns.

        Returns
        -------
        ndarray of float, shape (n, m)
            The class index each annotator gave each example, NaN where none.
        """
        positions = np.asarray(positions, dtype=np.int64)
        row = np.full(self.n_examples, -1, dtype=np.int64)
        row[positions] = np.arange(len(positions))
        column = np.full(len(self.names), -1, dtype=np.int64)
        for k, name in enumerate(columns):
            if name in self.names:
                column[self.code(name)] = k
        out = np.full((len(positions), len(columns)), np.nan)
        r, c = row[self.example], column[self.annotator]
        keep = (r >= 0) & (c >= 0)
        out[r[keep], c[keep]] = self.label[keep]
        return out

    def _keys(self, example, annotator) -> np.ndarray:
        return np.asarray(example, dtype=np.int64) * len(self.names) + np.asarray(annotator, dtype=np.int64)

    @cached_property
    def _answered_sorted(self) -> np.ndarray:
        return np.sort(self._keys(self.example, self.annotator))  # unique: one annotation per (example, annotator)

    @cached_property
    def _skipped_sorted(self) -> np.ndarray:
        return np.sort(self._keys(self.skipped_example, self.skipped_annotator))

    @staticmethod
    def _member(keys, sorted_keys) -> np.ndarray:
        found = np.searchsorted(sorted_keys, keys)
        return (found < len(sorted_keys)) & (sorted_keys[np.minimum(found, max(len(sorted_keys) - 1, 0))] == keys) \
            if len(sorted_keys) else np.zeros(len(keys), dtype=bool)

    # -- assignments -------------------------------------------------------------------------------

    @cached_property
    def _open(self) -> np.ndarray:
        """Mask over assignments: not answered and not skipped."""
        keys = self._keys(self.assigned_example, self.assigned_annotator)
        return ~self._member(keys, self._answered_sorted) & ~self._member(keys, self._skipped_sorted)

    def pending(self, annotators=None, rounds=None) -> tuple:
        """``(round, example, annotator name)`` arrays of assignments waiting for an answer.

        Parameters
        ----------
        annotators : collection of str, optional
            Only these annotators' assignments.
        rounds : collection of int, optional
            Only assignments made in these rounds.
        """
        keep = self._open.copy()
        if annotators is not None:
            codes = [self.code(a) for a in annotators if a in self.names]
            keep &= np.isin(self.assigned_annotator, codes)
        if rounds is not None:
            keep &= np.isin(self.assigned_round, list(rounds))
        names = np.array(self.names, dtype=object)
        return self.assigned_round[keep], self.assigned_example[keep], names[self.assigned_annotator[keep]]

    def owed(self, round, annotators=None) -> dict:
        """``{annotator: open examples}`` of the assignments made in ``round`` still waiting for an answer
        (:meth:`pending`), counted per annotator; only ``annotators`` when given."""
        _, _, names = self.pending(annotators=annotators, rounds=[round])
        return {str(n): int(k) for n, k in zip(*np.unique(np.asarray(names, dtype=str), return_counts=True))}

    @cached_property
    def open_examples(self) -> np.ndarray:
        """Mask over examples, shape (n_examples,): True where some assignment still waits for an answer."""
        mask = np.zeros(self.n_examples, dtype=bool)
        mask[self.assigned_example[self._open]] = True
        return mask

    def assigned_in(self, round) -> np.ndarray:
        """Positions assigned in ``round``, each once, in the order first assigned."""
        positions = self.assigned_example[self.assigned_round == round]
        first = np.unique(positions, return_index=True)[1]
        return positions[np.sort(first)]

    def askable(self, positions, names) -> np.ndarray:
        """For each of ``positions``, how many annotators of ``names`` could still be asked for a label
        (they have not labelled it, skipped it, nor been asked already)."""
        codes = [self.code(n) for n in names if n in self.names]
        blocked = (np.bincount(self.example[np.isin(self.annotator, codes)], minlength=self.n_examples)
                   + np.bincount(self.skipped_example[np.isin(self.skipped_annotator, codes)], minlength=self.n_examples)
                   + np.bincount(self.assigned_example[self._open & np.isin(self.assigned_annotator, codes)],
                                 minlength=self.n_examples))  # disjoint: an open assignment is neither answered nor skipped
        return len(names) - blocked[np.asarray(positions, dtype=np.int64)]

    def eligible(self, positions, names) -> list:
        """For each of ``positions``, the annotators of ``names`` who could still be asked, in ``names`` order."""
        positions = np.asarray(positions, dtype=np.int64)
        open_ = self._open
        blocked = set(self._keys(self.example, self.annotator)[np.isin(self.example, positions)].tolist())
        blocked |= set(self._keys(self.skipped_example, self.skipped_annotator)[np.isin(self.skipped_example, positions)].tolist())
        blocked |= set(self._keys(self.assigned_example[open_], self.assigned_annotator[open_]).tolist())
        width = len(self.names)
        return [[n for n in names if n not in self.names or int(p) * width + self.code(n) not in blocked]
                for p in positions]

    # -- filtering ---------------------------------------------------------------------------------

    def up_to(self, watermark) -> "Snapshot":
        """The snapshot restricted to annotations with sequence number at most ``watermark``."""
        keep = self.seq <= watermark
        return Snapshot(self.n_examples, self.names, self.seq[keep], self.example[keep], self.annotator[keep],
                        self.label[keep], self.round[keep], self.timestamp[keep], self.assigned_round, self.assigned_example,
                        self.assigned_annotator, self.skipped_example, self.skipped_annotator)
