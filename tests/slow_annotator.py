"""A slow simulated annotator for the kill -9 resume test (imported by a subprocess)."""

import time

from autoal.annotation.annotators import SimulatedAnnotator


class SlowAnnotator(SimulatedAnnotator):
    """Waits ``delay`` seconds before each answer; with ``hang_after``, stops answering (and never returns) once it
    has given that many answers, so a test can kill the process at a known point."""

    def __init__(self, accuracy=0.9, *, name="slow", noise_matrix=None, random_state=0, delay=0.05, hang_after=None):
        super().__init__(accuracy, name=name, noise_matrix=noise_matrix, random_state=random_state)
        self.delay, self.hang_after, self.given = delay, hang_after, 0

    def annotate(self, examples):
        for answer in super().annotate(examples):
            if self.hang_after is not None and self.given >= self.hang_after:
                while True:  # the test kills the process here
                    time.sleep(1)
            time.sleep(self.delay)
            self.given += 1
            yield answer
