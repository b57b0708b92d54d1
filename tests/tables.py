"""A small synthetic table for tabular runs: the class is decided by the numeric column ``x``."""

import numpy as np
import pandas as pd

CLASSES = ("red", "green", "blue")
#: A quick real TabularPredictor for loop tests (fewer trees than the default).
QUICK_TABULAR = {"hyperparameters": {"XT": {"n_estimators": 30}}}


def write_table(n_per_class=20, classes=CLASSES, seed=0) -> pd.DataFrame:
    """Rows with ``label``; ``x`` (numeric, centred on 2 x the class index: it decides the class), ``z`` (numeric
    noise), ``shade`` (categorical, agrees with the class 70% of the time), ``note`` (a sentence of random
    words) and ``sample_id`` (an identifier, left out by the rules); the index is ``row-<k>``."""
    rng = np.random.default_rng(seed)
    words = ["calm", "bright", "wet", "loud", "flat", "warm", "odd", "tall", "slow", "soft", "sharp", "pale"]
    rows = []
    for k, cls in enumerate(classes):
        for _ in range(n_per_class):
            shade = f"shade-{k}" if rng.random() < 0.7 else f"shade-{rng.integers(len(classes))}"
            rows.append({"label": cls, "x": 2.0 * k + rng.uniform(-0.7, 0.7), "z": rng.normal(),
                         "shade": shade, "note": " ".join(rng.choice(words, 5))})
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    frame["sample_id"] = np.arange(1000, 1000 + len(frame))
    frame.index = [f"row-{k}" for k in range(len(frame))]
    return frame
