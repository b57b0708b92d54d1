"""Assignment: who is asked for each example of a batch. No writes (the run state commits the result).

Each picked example goes to the least-loaded annotator who can still be asked about it (has not
labelled it, skipped it, nor been asked already); ties rotate with the example's place in the batch,
so equally loaded annotators take turns. An annotator never labels the same example twice.
"""

from __future__ import annotations

__all__ = ["assign_batch"]


def assign_batch(picked, snapshot, annotators) -> list:
    """``[(position, annotator), ...]`` for the picked examples, in batch order.

    Parameters
    ----------
    picked : sequence of int
        Example positions, in the order picked.
    snapshot : Snapshot
        Current annotations, skips and open assignments.
    annotators : list of str
        Who may be asked, in the run's order.

    Examples nobody can be asked about are left out.
    """
    load = dict.fromkeys(annotators, 0)
    pairs = []
    for k, (position, eligible) in enumerate(zip(picked, snapshot.eligible(picked, annotators))):
        if not eligible:
            continue
        rotation = {a: (n - k) % len(annotators) for n, a in enumerate(annotators)}
        chosen = min(eligible, key=lambda a: (load[a], rotation[a]))
        load[chosen] += 1
        pairs.append((int(position), chosen))
    return pairs
