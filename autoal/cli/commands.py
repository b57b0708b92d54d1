"""Command line: ``autoal run MANIFEST.csv ...`` and ``autoal demo``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autoal.cli.run_options import add_run_options, positive_int, run_arguments
from autoal.common.wording import plural
from autoal.errors import AutoalError

__all__ = ["main", "build_parser"]

DEMO_SETTINGS = {"batch_size": 50, "n_rounds": 4, "initial_per_class": 8, "holdout_fraction": 0.25}


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
    add_run_options(run_p, defaults={})
    demo_p = sub.add_parser("demo", help="a real active-learning run (the default learner and strategy) on sklearn's digits, then "
                            "random picks beside it on the same seed, and both curves with the labels saved; "
                            "built offline")
    demo_p.add_argument("--data-dir", type=Path, help="where the digits PNGs go (default ~/.cache/autoal/datasets)")
    add_run_options(demo_p, defaults=DEMO_SETTINGS)
    resume_p = sub.add_parser("resume", help="continue a stopped run from its folder")
    resume_p.add_argument("run_dir", type=Path)
    resume_p.add_argument("--rounds", type=positive_int, help="total query rounds (default: the run's own)")
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
    from autoal.cli.manifest import add_manifest_arguments

    add_manifest_arguments(sub.add_parser("manifest", help="build a manifest from a folder-per-class image tree, "
                                          "or --check one against the files on disk"))
    from autoal.cli.predict import add_parsers as add_model_parsers

    add_model_parsers(sub)  # predict, train
    from autoal.cli.serve import add_parsers as add_server_parsers

    add_server_parsers(sub)  # serve, annotators, export-labelstudio, import-labelstudio
    return parser


def _command_run(args):
    from autoal.rounds.loop import run
    from autoal.data.manifest import load_manifest, one_label_kind

    image_col = None if args.no_images else args.image_col
    df = load_manifest(args.manifest, label=args.label, image_col=image_col)
    _check_someone_labels(args, df, str(args.manifest))
    test_df = load_manifest(args.test, label=args.label, image_col=image_col) if args.test else None
    options = run_arguments(args, args.manifest.stem)
    (df, test_df), options["classes"] = one_label_kind([df, test_df], args.label, options.get("classes"))
    return run(df, test_df=test_df, label=args.label, image_col=image_col, **options)


def _check_someone_labels(args, df, source) -> None:
    """A manifest with missing labels needs people to label: say so in the command's own flags."""
    from autoal.errors import InputError

    n_missing = int(df[args.label].isna().sum()) if args.label in df else 0
    if n_missing and not (args.annotators or args.terminal or args.simulated):
        raise InputError(f"{source!r} has {n_missing} rows without a label and nobody to label them: pass "
                         "--annotators alice,bob (people answering through files or `autoal serve`), --terminal NAME "
                         "(label here, in this terminal), or fill in every label to simulate labelling")


def _command_demo(args):
    """The default learner and strategy, then random picks with the same seed, settings and label budget, and both
    curves side by side with the labels the default saved."""
    from autoal.data.datasets import build_digits
    from autoal.data.manifest import load_manifest
    from autoal.rounds.loop import run

    manifest = build_digits(args.data_dir)
    say = (lambda line: None) if args.quiet else print
    say(f"autoal demo: sklearn digits as PNG files, manifest {manifest}")
    options = run_arguments(args, "demo")
    out = Path(options.pop("output_dir"))
    df = load_manifest(manifest)
    chosen = run(df, holdout_fraction=DEMO_SETTINGS["holdout_fraction"], output_dir=out / "default", **options)
    say(f"autoal demo: now random picks beside it (same seed, settings and labels per round), in {out / 'random'}")
    random = run(df, holdout_fraction=DEMO_SETTINGS["holdout_fraction"], output_dir=out / "random",
                 **dict(options, strategy="random", batch="auto", initial="auto"))
    print(demo_comparison(chosen.history, random.history, strategy=options["strategy"]))
    return 0


def demo_comparison(chosen, random, *, strategy="auto") -> str:
    """Both runs' holdout accuracy per round, and the labels the chosen strategy needed to reach random's final
    accuracy against random's (the labels saved)."""
    import math

    from autoal.results.curves import budget_to_reach

    name = "default" if strategy == "auto" else strategy
    lines = [f"{'round':>5}  {'labels':>6}  {name:>8}  {'random':>8}"]
    for (_, a), (_, b) in zip(chosen.iterrows(), random.iterrows()):
        lines.append(f"{int(a['round']):>5}  {int(a['n_labeled']):>6}  {a['accuracy']:>8.3f}  {b['accuracy']:>8.3f}")
    target, budget = float(random["accuracy"].iloc[-1]), int(random["n_labeled"].iloc[-1])
    needed = budget_to_reach(chosen["n_labeled"], chosen["accuracy"], target)
    if math.isnan(needed):
        lines.append(f"the {name} strategy did not reach random's final accuracy ({target:.3f} at {budget} labels) "
                     "in this run")
    else:
        saved = budget - math.ceil(needed)
        lines.append(f"the {name} strategy reached random's final accuracy ({target:.3f} at {budget} labels) with "
                     f"{math.ceil(needed)} labels: {saved} labels saved ({saved / budget:.0%} of random's)")
    return "\n".join(lines)


def _command_resume(args):
    from autoal.rounds.loop import resume

    return resume(args.run_dir, n_rounds=args.rounds, verbose=not args.quiet, partial=args.partial)


def _command_export(args):
    from autoal.annotation.batch_files import export_batch

    path = export_batch(args.run_dir, args.annotator, args.out)
    print(f"wrote {path}: fill in the label column, then `autoal import-labels {args.run_dir} {path} --annotator {args.annotator}`")


def _command_import(args):
    from autoal.annotation.batch_files import import_labels

    report = import_labels(args.run_dir, args.file, args.annotator)
    print(report.message())
    print(report.next_step(args.run_dir))
    return 1 if report.rejected else 0


def _command_export_labels(args):
    from autoal.results.export import export_labels

    written = export_labels(args.run_dir, args.out, consensus=args.consensus, annotators=args.annotators)
    path, rows = written["labels"]
    what = "labelled example" if args.consensus else "annotation"
    print(f"wrote {path}: {plural(rows, what)}")
    if "annotators" in written:
        path, rows = written["annotators"]
        print(f"wrote {path}: {plural(rows, 'annotator')}")
    return 0


def _command_convert(args):
    from autoal.store.convert import convert_run
    from autoal.data.manifest import load_manifest, one_label_kind

    test_df = load_manifest(args.test) if args.test else None
    (df, test_df), _ = one_label_kind([load_manifest(args.manifest), test_df], "label")
    folder = convert_run(args.run_dir, df, test_df=test_df)
    print(f"converted {folder}: the old files are in {folder / 'old-format'}; continue with `autoal resume {folder}`")


def main(argv=None) -> int:
    """Entry point of the ``autoal`` command; returns the exit status (2 for a user error, 1 when an
    import rejected some rows)."""
    args = build_parser().parse_args(argv)
    from autoal.cli.manifest import manifest_command

    _autoal_warnings_in_cli_terms()
    commands = {"run": _command_run, "demo": _command_demo, "resume": _command_resume,
                "export-batch": _command_export, "import-labels": _command_import,
                "export-labels": _command_export_labels, "convert": _command_convert,
                "manifest": manifest_command}
    from autoal.cli.predict import COMMANDS as MODEL_COMMANDS
    from autoal.cli.serve import COMMANDS as SERVER_COMMANDS

    commands.update(SERVER_COMMANDS)
    commands.update(MODEL_COMMANDS)
    try:
        result = commands[args.command](args)
    except AutoalError as exc:
        from autoal.cli.messages import in_cli_terms

        print(f"autoal: error: {in_cli_terms(str(exc))}", file=sys.stderr)
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


def _autoal_warnings_in_cli_terms() -> None:
    """Show autoal's own warnings (those starting "autoal: ") as ``autoal: warning: ...`` lines in the command line's
    words (:func:`autoal.cli.messages.in_cli_terms`) instead of Python's file:line format; others as before."""
    import warnings

    from autoal.cli.messages import in_cli_terms

    shown = warnings.showwarning
    if getattr(shown, "autoal_cli", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if not text.startswith("autoal: "):
            return shown(message, category, filename, lineno, file, line)
        print(f"autoal: warning: {in_cli_terms(text[len('autoal: '):])}", file=file or sys.stderr)
        return None

    show.autoal_cli = True
    warnings.showwarning = show


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
