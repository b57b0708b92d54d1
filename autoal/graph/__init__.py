"""The pool graph: a k-nearest-neighbour graph of a run's embedded examples, and learning on it (Poisson learning)."""
