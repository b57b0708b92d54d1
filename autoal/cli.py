"""Command line: ``autoal run MANIFEST.csv ...`` and ``autoal demo``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .errors import AutoalError

__all__ = ["main", "build_parser"]

DEMO_SETTINGS = {"batch_size": 50, "n_rounds": 4, "initial_per_class": 8, "holdout_fraction": 0.25}


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _add_run_options(p, *, defaults, page=False):
    """The options of a run; ``page``: for ``autoal serve`` (people answer on the page, the run lives in
    RUN_DIR), without the ones it has no use for (--out, --init-per-class, --terminal, --simulated)."""
    from .learners import LEARNERS
    from .strategies import STRATEGIES

    p.add_argument("--strategy", default="auto", choices=["auto"] + sorted(STRATEGIES),
                   help="query strategy (default auto: margin with one annotator, activelab with several, "
                   "with k-means batches and initial set when embeddings are available)")
    p.add_argument("--batch-size", type=_positive_int, default=defaults["batch_size"], help="labels asked per round")
    p.add_argument("--rounds", type=_positive_int, default=defaults["n_rounds"], help="query rounds after round 0")
    if not page:
        p.add_argument("--init-per-class", type=_positive_int, default=defaults["initial_per_class"],
                       help="labels per class revealed before round 1 (simulation mode)")
    p.add_argument("--learner", default="auto", choices=["auto"] + sorted(LEARNERS),
                   help="model retrained every round (default auto: embeddings, i.e. frozen MobileNetV2 + "
                   "EfficientNet-Lite0 features and logistic regression, with images; tabular for a table without images)")
    p.add_argument("--feature-cols", metavar="A,B,...",
                   help="the columns besides label and image the learner reads (default: every other column except "
                   "identifiers, paths, URLs, dates and constant columns, which are named and left out); "
                   "COLUMN:KIND sets a kind (numeric, categorical or text), e.g. --feature-cols age,zip:categorical")
    p.add_argument("--text-checkpoint", metavar="DIR",
                   help="AutoGluon: a local Hugging Face checkpoint folder for text columns (nothing is downloaded)")
    if not page:
        p.add_argument("--out", type=Path, help="output folder (default: ./autoal-runs/<name>-<time>)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--target-accuracy", type=float, help="stop once holdout accuracy reaches this")
    p.add_argument("--batch", default="auto", choices=["auto", "topk", "kmeans"],
                   help="batch rule (default auto: kmeans when embeddings are available, else topk)")
    p.add_argument("--candidates-factor", type=float, default=10, help="kmeans batches: shortlist size in batches")
    p.add_argument("--initial", default="auto", choices=["auto", "random", "kmeans"],
                   help="first examples (default auto: k-means with the default strategy when embeddings are available, "
                   "and in real mode only when no label is given): random per class, or the most typical of k-means "
                   "clusters (cold start)")
    p.add_argument("--classes", help="comma-separated class list: needed when the manifest has no label at all "
                   "(the run then starts by asking for typical examples), or when some classes have no label yet")
    p.add_argument("--stop-stable", action="store_true",
                   help="stop when predictions on a stop set agree (Cohen's kappa >= 0.99) for 3 rounds")
    p.add_argument("--pool-subsample", type=_positive_int, help="score only this many unlabelled examples per round")
    p.add_argument("--scoring", help="where the pool is predicted: ray (local Ray runtime) or a Ray address")
    p.add_argument("--drop-bad-images", action="store_true", help="drop rows whose image is missing or unreadable")
    p.add_argument("--check-images", default="auto", choices=["auto", "all", "exists"],
                   help="images decoded before the run (default auto: all of up to 20,000 files, else a sample of "
                   "2,000; every file must exist)")
    p.add_argument("--time-limit", type=float, help="AutoGluon: seconds per round's fit")
    p.add_argument("--max-epochs", type=_positive_int, help="AutoGluon: epochs per fit (default 20)")
    p.add_argument("--image-size", type=_positive_int, help="image side in pixels (AutoGluon default 64, embeddings 128)")
    p.add_argument("--checkpoint", help="AutoGluon: local timm checkpoint folder or weights file, or a packaged "
                   "network (mobilenetv2_100, tf_efficientnet_lite0, tf_efficientnet_lite2)")
    p.add_argument("--backbones", metavar="A,B,...",
                   help="embeddings learner: the networks whose embeddings are joined, packaged names "
                   "(mobilenetv2_100, tf_efficientnet_lite0, tf_efficientnet_lite2) or checkpoint folders "
                   "(default mobilenetv2_100,tf_efficientnet_lite0)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    if page:
        p.add_argument("--annotators", help="comma-separated names of the people labelling on the page (each gets a "
                       "personal link); needed with --manifest")
        p.set_defaults(out=None, init_per_class=defaults["initial_per_class"], terminal=None, simulated=None,
                       simulated_accuracy=None)
    else:
        who = p.add_mutually_exclusive_group()
        who.add_argument("--annotators", help="comma-separated names of people answering later, through files "
                         "(autoal export-batch / import-labels) or the page (autoal serve); the run pauses for them")
        who.add_argument("--terminal", metavar="NAME", help="label at this terminal as NAME")
        who.add_argument("--simulated", type=_positive_int, metavar="N",
                         help="simulation: N simulated annotators of mixed accuracy (needs a fully labelled manifest)")
        p.add_argument("--simulated-accuracy", default="0.65,0.95", metavar="LOW,HIGH",
                       help="accuracy range of --simulated annotators (default 0.65,0.95)")
    p.add_argument("--no-relabel", action="store_true", help="never ask a second label for a labelled example")


def build_parser() -> argparse.ArgumentParser:
    """The ``autoal`` argument parser."""
    parser = argparse.ArgumentParser(prog="autoal", description="Active learning with AutoGluon and cleanlab's ActiveLab.")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="active learning on a manifest CSV (label,image_path)")
    run_p.add_argument("manifest", type=Path, help="CSV with label,image_path columns; paths relative to its folder")
    run_p.add_argument("--test", type=Path, help="labelled holdout manifest (default: a split of the labelled rows)")
    run_p.add_argument("--label", default="label", help="the label column (default label)")
    images = run_p.add_mutually_exclusive_group()
    images.add_argument("--image-col", default="image_path", help="the image path column (default image_path)")
    images.add_argument("--no-images", action="store_true",
                        help="a table without images: the label and feature columns (learner auto: tabular)")
    _add_run_options(run_p, defaults={"batch_size": 150, "n_rounds": 10, "initial_per_class": 8})
    demo_p = sub.add_parser("demo", help="a real active-learning run (the default learner and strategy) on sklearn's digits, "
                            "built offline")
    demo_p.add_argument("--data-dir", type=Path, help="where the digits PNGs go (default ~/.cache/autoal/datasets)")
    _add_run_options(demo_p, defaults=DEMO_SETTINGS)
    resume_p = sub.add_parser("resume", help="continue a stopped run from its folder")
    resume_p.add_argument("run_dir", type=Path)
    resume_p.add_argument("--rounds", type=_positive_int, help="total query rounds (default: the run's own)")
    resume_p.add_argument("--partial", action="store_true",
                          help="when the round waits for file labels, train on what has arrived and go on; the open "
                          "examples stay with their annotators")
    resume_p.add_argument("--quiet", action="store_true")
    export_p = sub.add_parser("export-batch", help="write the examples waiting for an annotator as a CSV to label")
    export_p.add_argument("run_dir", type=Path)
    export_p.add_argument("--annotator", required=True)
    export_p.add_argument("--out", type=Path, help="CSV to write (default RUN_DIR/batches/round_RR_NAME.csv)")
    import_p = sub.add_parser("import-labels", help="store the labels of a batch CSV (example_id,label)")
    import_p.add_argument("run_dir", type=Path)
    import_p.add_argument("file", type=Path)
    import_p.add_argument("--annotator", required=True)
    labels_p = sub.add_parser("export-labels", help="write a run's labels as CSV: every annotation, or the consensus "
                              "per example (paused, stopped or being served)")
    labels_p.add_argument("run_dir", type=Path)
    labels_p.add_argument("--consensus", action="store_true",
                          help="one row per labelled example: consensus label, its quality, number of annotations")
    labels_p.add_argument("--out", type=Path,
                          help="CSV to write (default RUN_DIR/labels.csv, with --consensus RUN_DIR/consensus.csv)")
    labels_p.add_argument("--annotators", type=Path, metavar="FILE",
                          help="also write each annotator's label count and estimated quality to FILE")
    convert_p = sub.add_parser("convert", help="convert a run folder written by an earlier autoal (data.pkl) into a "
                               "run store, from the manifest it started with; nothing pickled is read")
    convert_p.add_argument("run_dir", type=Path)
    convert_p.add_argument("--manifest", type=Path, required=True, help="the manifest the run was started with")
    convert_p.add_argument("--test", type=Path, help="the holdout manifest, if the run was given one")
    from .manifest_cli import add_manifest_arguments

    add_manifest_arguments(sub.add_parser("manifest", help="build a manifest from a folder-per-class image tree, "
                                          "or --check one against the files on disk"))
    from .server.commands import add_parsers as add_server_parsers

    add_server_parsers(sub, _add_run_options)  # serve, annotators, export-labelstudio, import-labelstudio
    return parser


def _learner_options(args) -> dict:
    learner = args.learner
    if learner == "auto":
        learner = "tabular" if getattr(args, "no_images", False) else "embeddings"
    if learner == "tabular":
        return {"time_limit": args.time_limit} if args.time_limit is not None else {}
    if learner == "embeddings":
        options = {"image_size": args.image_size}
        if args.backbones:
            options["backbones"] = [name.strip() for name in args.backbones.split(",") if name.strip()]
        return {k: v for k, v in options.items() if v is not None}
    if learner != "autogluon":
        return {}
    options = {"time_limit": args.time_limit, "max_epochs": args.max_epochs, "image_size": args.image_size,
               "checkpoint": args.checkpoint, "text_checkpoint": args.text_checkpoint}
    return {k: v for k, v in options.items() if v is not None}


def _feature_cols(text):
    """``--feature-cols a,b:categorical`` -> ``["a", "b"]`` or ``{"a": kind, ...}`` when a kind is given."""
    if text is None:
        return None
    from .errors import InputError
    from .feature_columns import KINDS

    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise InputError("--feature-cols needs column names, e.g. --feature-cols age,income")
    names, kinds = [], {}
    for part in parts:
        name, _, kind = part.partition(":")
        if kind and kind.strip() not in KINDS:
            raise InputError(f"--feature-cols: {part!r} gives kind {kind.strip()!r}; a kind is one of {', '.join(KINDS)}")
        names.append(name.strip())
        if kind:
            kinds[name.strip()] = kind.strip()
    return {n: kinds.get(n) for n in names} if kinds else names  # a kind None: inferred from the values


def _annotators(args):
    from .annotators import ExternalAnnotator, simulated_annotators
    from .errors import InputError
    from .terminal import TerminalAnnotator

    if args.annotators:
        names = [n.strip() for n in args.annotators.split(",") if n.strip()]
        if not names:
            raise InputError("--annotators needs at least one name, e.g. --annotators alice,bob")
        return [ExternalAnnotator(n) for n in names]
    if args.terminal:
        return TerminalAnnotator(args.terminal)
    if args.simulated:
        try:
            low, high = (float(x) for x in args.simulated_accuracy.split(","))
        except ValueError:
            raise InputError(f"--simulated-accuracy must be LOW,HIGH such as 0.65,0.95, got {args.simulated_accuracy!r}") from None
        return simulated_annotators(args.simulated, (low, high), random_state=args.seed)
    return None


def _run_kwargs(args, name) -> dict:
    out = args.out or Path("autoal-runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return dict(
        annotators=_annotators(args), relabel=not args.no_relabel,
        strategy=args.strategy, batch_size=args.batch_size, n_rounds=args.rounds,
        initial_per_class=args.init_per_class, learner=args.learner, learner_options=_learner_options(args),
        output_dir=out, random_state=args.seed, target_accuracy=args.target_accuracy,
        drop_bad_images=args.drop_bad_images, check_images=args.check_images, verbose=not args.quiet, batch=args.batch,
        candidates_factor=args.candidates_factor, initial=args.initial, stop="stable" if args.stop_stable else None,
        pool_subsample=args.pool_subsample, scoring=args.scoring, classes=_classes(args.classes),
        feature_cols=_feature_cols(getattr(args, "feature_cols", None)),
    )


def _classes(text):
    if text is None:
        return None
    from .errors import InputError

    names = [c.strip() for c in text.split(",") if c.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        raise InputError(f"--classes needs at least 2 distinct comma-separated names, e.g. --classes cat,dog; got {text!r}")
    return names


def _command_run(args):
    from .loop import run
    from .manifest import load_manifest

    image_col = None if args.no_images else args.image_col
    df = load_manifest(args.manifest, label=args.label, image_col=image_col)
    _check_someone_labels(args, df, str(args.manifest))
    test_df = load_manifest(args.test, label=args.label, image_col=image_col) if args.test else None
    return run(df, test_df=test_df, label=args.label, image_col=image_col, **_run_kwargs(args, args.manifest.stem))


def _check_someone_labels(args, df, source) -> None:
    """A manifest with missing labels needs people to label: say so in the command's own flags."""
    from .errors import InputError

    n_missing = int(df[args.label].isna().sum()) if args.label in df else 0
    if n_missing and not (args.annotators or args.terminal or args.simulated):
        raise InputError(f"{source!r} has {n_missing} rows without a label and nobody to label them: pass "
                         "--annotators alice,bob (people answering through files or `autoal serve`), --terminal NAME "
                         "(label here, in this terminal), or fill in every label to simulate labelling")


def _command_demo(args):
    from .datasets import build_digits
    from .loop import run
    from .manifest import load_manifest

    manifest = build_digits(args.data_dir)
    if not args.quiet:
        print(f"autoal demo: sklearn digits as PNG files, manifest {manifest}")
    return run(load_manifest(manifest), holdout_fraction=DEMO_SETTINGS["holdout_fraction"], **_run_kwargs(args, "demo"))


def _command_resume(args):
    from .loop import resume

    return resume(args.run_dir, n_rounds=args.rounds, verbose=not args.quiet, partial=args.partial)


def _command_export(args):
    from .batch_files import export_batch

    path = export_batch(args.run_dir, args.annotator, args.out)
    print(f"wrote {path}: fill in the label column, then `autoal import-labels {args.run_dir} {path} --annotator {args.annotator}`")


def _command_import(args):
    from .batch_files import import_labels

    report = import_labels(args.run_dir, args.file, args.annotator)
    print(report.message())
    print(report.next_step(args.run_dir))
    return 1 if report.rejected else 0


def _command_export_labels(args):
    from .export import export_labels

    written = export_labels(args.run_dir, args.out, consensus=args.consensus, annotators=args.annotators)
    path, rows = written["labels"]
    what = "labelled example" if args.consensus else "annotation"
    print(f"wrote {path}: {_count(rows, what)}")
    if "annotators" in written:
        path, rows = written["annotators"]
        print(f"wrote {path}: {_count(rows, 'annotator')}")
    return 0


def _count(n, word) -> str:
    """``1 row``, ``2 rows``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _command_convert(args):
    from .convert import convert_run
    from .manifest import load_manifest

    test_df = load_manifest(args.test) if args.test else None
    folder = convert_run(args.run_dir, load_manifest(args.manifest), test_df=test_df)
    print(f"converted {folder}: the old files are in {folder / 'old-format'}; continue with `autoal resume {folder}`")


def main(argv=None) -> int:
    """Entry point of the ``autoal`` command; returns the exit status (2 for a user error, 1 when an
    import rejected some rows)."""
    args = build_parser().parse_args(argv)
    from .manifest_cli import manifest_command

    commands = {"run": _command_run, "demo": _command_demo, "resume": _command_resume,
                "export-batch": _command_export, "import-labels": _command_import,
                "export-labels": _command_export_labels, "convert": _command_convert,
                "manifest": manifest_command}
    from .server.commands import COMMANDS as SERVER_COMMANDS

    commands.update(SERVER_COMMANDS)
    try:
        result = commands[args.command](args)
    except AutoalError as exc:
        print(f"autoal: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        folder = (args.out if args.command in ("run", "demo") else getattr(args, "run_dir", None)) or "RUN_DIR"
        print("autoal: interrupted; every label given so far is in the run's label store: "
              f"continue with `autoal resume {folder}`", file=sys.stderr)
        return 130
    if isinstance(result, int) or result is None:
        return result or 0
    if not args.quiet and not result.history.empty:
        print(result.history[["round", "n_labeled", "n_annotations", "accuracy", "fit_seconds", "round_seconds"]].to_string(index=False))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
