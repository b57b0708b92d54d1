"""Several annotators per example: consensus labels, CROWDLAB, ActiveLab scores, out-of-sample probabilities, fold
models."""
