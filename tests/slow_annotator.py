"""A slow simulated annotator for the kill -9 resume test (imported by a subprocess)."""

import time

from autoal.annotation.annotators import SimulatedAnnotator


class SlowAnnotator(SimulatedAnnotator):
    def __init__(self, accuracy=0.9, *, name="slow", noise_matrix=None, random_state=0, delay=0.05):
        super().__init__(accuracy, name=name, noise_matrix=noise_matrix, random_state=random_state)
        self.delay = delay

    def annotate(self, examples):
        for answer in super().annotate(examples):
            time.sleep(self.delay)
            yield answer
