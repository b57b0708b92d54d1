"""Errors in the command line's own words: the library's messages name Python options (``test_df``,
``classes=[...]``); the ``autoal`` command says ``--test``, ``--classes a,b``.

The library words a fix once, for Python callers; :func:`in_cli_terms` rewrites the Python spellings of a
message into the flags that do the same, from a short table of phrases and the run options' own flags
(:class:`autoal.rounds.config.RunConfig`'s metadata), so that a new option needs no entry here.
"""

from __future__ import annotations

import dataclasses
import re

__all__ = ["in_cli_terms"]

#: Whole phrases first (their Python spelling, then the command line's), longest first.
PHRASES = (
    ("pass classes=[...] to start from no labels with initial='kmeans'",
     "pass --classes a,b,... (every class name) to start from no labels: the run then first asks for typical examples"),
    ("pass initial='kmeans' and classes=[...]", "pass --classes a,b,... to start from no labels"),
    ("learner_options={'text_checkpoint': PATH} (CLI: --text-checkpoint PATH)", "--text-checkpoint PATH"),
    ("feature_cols=[...] (CLI: --feature-cols a,b)", "--feature-cols a,b"),
    ("feature_cols=[...]", "--feature-cols a,b"),
    ("(for a table without images pass image_col=None)", "(for a table without images pass --no-images)"),
    ("image_col=None", "--no-images"),
    ("pass test_df", "pass --test TEST.csv (a labelled holdout manifest)"),
    ("stop='stable'", "--stop-stable"),
)
#: Python names left after the phrases, as words.
WORDS = (("test_df", "the --test manifest"), ("feature_cols", "--feature-cols"), ("df", "the manifest"))


def _flags() -> dict:
    """``{field name: flag}`` of the run options that have one."""
    from autoal.rounds.config import RunConfig

    return {f.name: f.metadata["flag"] for f in dataclasses.fields(RunConfig) if f.metadata.get("flag")}


def in_cli_terms(message: str) -> str:
    """``message`` with Python option spellings replaced by the ``autoal`` command's flags.

    >>> in_cli_terms("label more examples of them or pass test_df")
    'label more examples of them or pass --test TEST.csv (a labelled holdout manifest)'
    """
    for python, cli in PHRASES:
        message = message.replace(python, cli)
    flags = _flags()

    def option(match):
        name, value = match.group(1), match.group(2)
        if name not in flags:
            return match.group(0)
        if value == "True":
            return flags[name]
        if value == "[...]":
            return f"{flags[name]} a,b"
        return f"{flags[name]} {value.strip(chr(39))}"

    message = re.sub(r"\b([a-z_]+)=('[^']*'|\[\.\.\.\]|True|\d+(?:\.\d+)?)", option, message)
    for python, cli in WORDS:
        message = re.sub(rf"(?<![\w./-]){python}(?![\w=(/-])", cli, message)
    return message
