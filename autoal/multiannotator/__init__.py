"""Several annotators per example: consensus labels, CROWDLAB, out-of-sample probabilities, fold models."""
