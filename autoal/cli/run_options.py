"""The run options of ``autoal run``, ``autoal demo`` and ``autoal serve --manifest``.

The options that set a :class:`~autoal.rounds.config.RunConfig` field are generated from the field's
metadata (flag, help, type, choices), so a new option is declared once, on the config. The rest are
not config fields: the learner's options (``--time-limit``, ``--backbones``, ...), the run folder
(``--out``) and who labels (``--annotators``, ``--terminal``, ``--simulated``).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from autoal.errors import InputError

__all__ = ["add_run_options", "run_arguments", "positive_int", "add_learner_options", "learner_options_of"]


def positive_int(text):
    """argparse type: a positive integer (the config's own check)."""
    from autoal.rounds.config import positive_int_text

    return positive_int_text(text)


def add_run_options(p, *, defaults, page=False):
    """Add the run options to parser ``p``; ``defaults`` overrides config defaults by field name; ``page``: for
    ``autoal serve`` (people answer on the page, the run lives in RUN_DIR), without the options it has no use
    for (--out, --init-per-class, --terminal, --simulated)."""
    from autoal.rounds.config import RunConfig

    for field in dataclasses.fields(RunConfig):
        meta = dict(field.metadata)
        if not meta.get("flag") or (page and not meta["page"]):
            continue
        flag, from_cli = meta.pop("flag"), meta.pop("from_cli", None)
        meta.pop("page")
        if meta.get("action") == "store_true":
            p.add_argument(flag, dest=_dest(field), **meta)
            continue
        default = defaults.get(field.name, field.default)
        if page and field.name == "n_rounds":  # serve: a new run's rounds, or more rounds for an existing one
            default = None
            meta["help"] = (f"{meta['help']} (default {defaults.get('n_rounds', field.default)} for a new run; for an "
                            "existing run, its new total: more rounds for a finished one)")
        elif default is not None and not from_cli and meta.get("help") and "default" not in meta["help"]:
            meta["help"] = f"{meta['help']} (default {default})"
        p.add_argument(flag, dest=field.name, default=None if from_cli else default, **meta)
    _add_learner_options(p)
    if page:
        p.add_argument("--annotators", help="comma-separated names of the people labelling on the page (each gets a "
                       "personal link); needed with --manifest")
        p.set_defaults(out=None, initial_per_class=defaults.get("initial_per_class", 8), terminal=None,
                       simulated=None, simulated_accuracy=None)
        return
    p.add_argument("--out", type=Path, help="output folder (default: ./autoal-runs/<name>-<time>)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--annotators", help="comma-separated names of people answering later, through files "
                     "(autoal export-batch / import-labels) or the page (autoal serve); the run pauses for them")
    who.add_argument("--terminal", metavar="NAME", help="label at this terminal as NAME")
    who.add_argument("--simulated", type=positive_int, metavar="N",
                     help="simulation: N simulated annotators of mixed accuracy (needs a fully labelled manifest)")
    p.add_argument("--simulated-accuracy", default="0.65,0.95", metavar="LOW,HIGH",
                   help="accuracy range of --simulated annotators (default 0.65,0.95)")


def _add_learner_options(p):
    p.add_argument("--text-checkpoint", metavar="DIR",
                   help="AutoGluon: a local Hugging Face checkpoint folder for text columns (nothing is downloaded)")
    p.add_argument("--time-limit", type=float, help="AutoGluon: seconds per round's fit")
    p.add_argument("--max-epochs", type=positive_int, help="AutoGluon: epochs per fit (default 20)")
    p.add_argument("--image-size", type=positive_int, help="image side in pixels (AutoGluon default 128; "
                   "embeddings: 224 for photos at least that large, else 160)")
    p.add_argument("--fits-per-round", type=positive_int, help="AutoGluon: fresh fits per round, their "
                   "probabilities averaged (default 2, 1 when continuing; 1 halves the fit time, the curve jumps more)")
    p.add_argument("--checkpoint", help="AutoGluon: local timm checkpoint folder or weights file, or a packaged "
                   "network (mobilenetv2_100, tf_efficientnet_lite0, tf_efficientnet_lite2)")
    p.add_argument("--backbones", metavar="A,B,...",
                   help="embeddings learner: the networks whose embeddings are joined, packaged names "
                   "(mobilenetv2_100, tf_efficientnet_lite0, tf_efficientnet_lite2) or checkpoint folders "
                   "(default mobilenetv2_100,tf_efficientnet_lite0)")


def run_arguments(args, name) -> dict:
    """The keyword arguments of :func:`autoal.run` that parsed run options ``args`` stand for; ``name`` names the
    default output folder."""
    from autoal.rounds.config import RunConfig

    options = {}
    for field in dataclasses.fields(RunConfig):
        if not field.metadata.get("flag") or not hasattr(args, _dest(field)):
            continue
        options[field.name] = _from_cli(field.metadata.get("from_cli"), getattr(args, _dest(field)))
    out = args.out or Path("autoal-runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return dict(options, annotators=_annotators(args), learner_options=_learner_options(args), output_dir=out)


def _dest(field) -> str:
    """Where argparse keeps a field's option: the field's name, or the flag's for a switch that means its
    opposite (``--quiet`` for ``verbose``, ``--no-relabel``, ``--stop-stable``)."""
    if field.metadata.get("from_cli") in ("not", "stable"):
        return field.metadata["flag"].lstrip("-").replace("-", "_")
    return field.name


def _from_cli(kind, value):
    """A parsed option's value as the config field takes it."""
    converters = {None: lambda v: v, "not": lambda v: not v, "stable": lambda v: "stable" if v else None,
                  "feature_cols": _feature_cols, "classes": _classes}
    return converters[kind](value)


def add_learner_options(p) -> None:
    """The learners' own options (``--time-limit``, ``--backbones``, ...), for a command that builds a learner."""
    _add_learner_options(p)


def learner_options_of(args) -> dict:
    """The ``learner_options`` that parsed learner options stand for (for the learner named by ``args.learner``)."""
    return _learner_options(args)


def _learner_options(args) -> dict:
    from autoal.rounds.config import resolve_learner

    learner = resolve_learner(args.learner, None if getattr(args, "no_images", False) else "image_path")
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
               "checkpoint": args.checkpoint, "text_checkpoint": args.text_checkpoint,
               "fits_per_round": args.fits_per_round}
    return {k: v for k, v in options.items() if v is not None}


def _feature_cols(text):
    """``--feature-cols a,b:categorical`` -> ``["a", "b"]`` or ``{"a": kind, ...}`` when a kind is given."""
    if text is None:
        return None
    from autoal.common.checks import StrOptions, check_option
    from autoal.data.feature_columns import KINDS

    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise InputError("--feature-cols needs column names, e.g. --feature-cols age,income")
    names, kinds = [], {}
    for part in parts:
        name, _, kind = part.partition(":")
        if kind:
            check_option(f"the kind of --feature-cols column {name.strip()!r}", kind.strip(), StrOptions(KINDS),
                         hint="write COLUMN:KIND, e.g. --feature-cols age:numeric,city")
            kinds[name.strip()] = kind.strip()
        names.append(name.strip())
    return {n: kinds.get(n) for n in names} if kinds else names  # a kind None: inferred from the values


def _classes(text):
    if text is None:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        raise InputError(f"--classes needs at least 2 distinct comma-separated names, e.g. --classes cat,dog; got {text!r}")
    return names


def _annotators(args):
    from autoal.annotation.annotators import ExternalAnnotator, simulated_annotators
    from autoal.annotation.terminal import TerminalAnnotator

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
        return simulated_annotators(args.simulated, (low, high), random_state=args.random_state)
    return None
