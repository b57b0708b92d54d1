"""``autoal predict`` (a run's saved model on new images or on its own pool) and ``autoal train`` (a final model)."""

from __future__ import annotations

from pathlib import Path

from autoal.cli.run_options import add_learner_options, learner_options_of

__all__ = ["add_parsers", "COMMANDS"]


def _confidence(text):
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    from autoal.common.checks import PROBABILITY, refusal

    reason = refusal(value, PROBABILITY)
    if reason is not None:
        raise argparse.ArgumentTypeError(reason)
    return value


def add_parsers(sub) -> None:
    """Add ``predict`` and ``train`` to the ``autoal`` parser's ``sub``."""
    from autoal.learners import LEARNERS

    predict_p = sub.add_parser(
        "predict", help="predict labels with a run's saved model: new images (a manifest or a folder) or the run's pool",
        description="Write example,predicted_label,confidence and one p_<class> column per class for every image of "
        "IMAGES (a manifest CSV with an image_path column, or a folder of images), or with --pool for every example "
        "of the run that has no label yet, and say how many reach --min-confidence.")
    predict_p.add_argument("run_dir", type=Path, help="the run folder (or a model folder)")
    what = predict_p.add_mutually_exclusive_group(required=True)
    what.add_argument("images", nargs="?", type=Path, help="a manifest CSV or a folder of images to predict")
    what.add_argument("--pool", action="store_true", help="predict the run's own unlabelled examples instead")
    predict_p.add_argument("--model", choices=["run", "final"], default="run",
                           help="the run's own model after its last round (default; loads without running code), or "
                           "the final model of `autoal train` (AutoGluon's pickles: loading it runs code)")
    predict_p.add_argument("--out", type=Path, help="CSV to write (default RUN_DIR/predictions/<IMAGES name>.csv, "
                           "with --pool RUN_DIR/predictions/pool.csv)")
    predict_p.add_argument("--min-confidence", type=_confidence, default=0.9, metavar="P",
                           help="count the predictions whose confidence is at least P (default 0.9)")
    train_p = sub.add_parser(
        "train", help="fit a final model once on a run's consensus labels (default AutoGluon MultiModal), compare it "
        "with the run's model on the holdout and save it for `autoal predict --model final`")
    train_p.add_argument("run_dir", type=Path)
    train_p.add_argument("--learner", choices=sorted(LEARNERS), default="autogluon",
                         help="the learner to fit (default autogluon: MultiModal fine-tuning the packaged ImageNet "
                         "network, on a GPU when there is one)")
    train_p.add_argument("--quiet", action="store_true", help="print only the result")
    add_learner_options(train_p)


def command_predict(args) -> int:
    from autoal.results.predict import predict_images, predict_pool

    which = args.model
    if args.pool:
        report = predict_pool(args.run_dir, which=which, out=args.out, threshold=args.min_confidence)
    else:
        report = predict_images(args.run_dir, args.images, which=which, out=args.out, threshold=args.min_confidence)
    print(report.message())
    return 0


def command_train(args) -> int:
    from autoal.rounds.final_model import train_final_model

    train_final_model(args.run_dir, learner=args.learner, learner_options=learner_options_of(args),
                      verbose=True)
    return 0


COMMANDS = {"predict": command_predict, "train": command_train}
