"""A labelling team run from start to end, as a script the exact-resume tests kill with SIGKILL and start again.

    python team_driver.py DATA.csv RUN_DIR STRATEGY LEARNER TEAM

Two simulated annotators answer in-process (slowly, so a kill can land mid-batch); with TEAM
``mixed`` one person, carol, labels through files too (``simulated``: the two alone). Carol: whenever the run waits for her, the script exports her open examples,
fills them in (her answers are a fixed function of the example: right 80% of the time) and imports
them, then resumes. Every step is safe to repeat after a kill at any point, so running the script
again until it prints DONE gives the finished run.
"""

import hashlib
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from slow_annotator import SlowAnnotator  # noqa: E402

import autoal  # noqa: E402
from autoal.annotation.annotators import ExternalAnnotator  # noqa: E402
from autoal.annotation.batch_files import export_batch, import_labels  # noqa: E402

CLASSES = ("red", "green", "blue")


def carol_answer(example_id, truth) -> str:
    """carol's label for an example: the truth 80% of the time, else the next class (fixed per example)."""
    digest = int(hashlib.sha256(f"carol-{example_id}".encode()).hexdigest(), 16)
    if digest % 10 < 8:
        return truth
    return CLASSES[(CLASSES.index(truth) + 1) % len(CLASSES)]


def team(kind):
    simulated = [SlowAnnotator(0.9, name="ann", random_state=1, delay=0.01),
                 SlowAnnotator(0.7, name="bo", random_state=2, delay=0.01)]
    return simulated + ([ExternalAnnotator("carol")] if kind == "mixed" else [])


def label_files(out: Path, truth: dict) -> None:
    path = export_batch(out, "carol", out / "carol.csv")
    batch = pd.read_csv(path)
    batch["label"] = [carol_answer(i, truth[i]) for i in batch["example_id"]]
    batch.to_csv(path, index=False)
    import_labels(out, path, "carol")


def main(data_csv, run_dir, strategy, learner, kind):
    print("READY", flush=True)  # imports done: the test times its kill from here
    df = pd.read_csv(data_csv)
    truth = df["label"].to_dict()
    out = Path(run_dir)
    while True:
        if (out / "run.sqlite").exists():
            result = autoal.resume(out, annotators=team(kind), verbose=False)
        else:
            result = autoal.run(df, annotators=team(kind), strategy=strategy, learner=learner, batch_size=6, n_rounds=4,
                                initial_per_class=2, output_dir=out, verbose=False)
        reason = result.summary["stop_reason"]
        if "waits for labels from carol" not in reason:
            print("DONE", reason, flush=True)
            return
        label_files(out, truth)


if __name__ == "__main__":
    main(*sys.argv[1:6])
