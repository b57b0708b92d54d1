"""Old import paths of modules that moved into subpackages, kept working.

Until the layout had subpackages, every module sat in ``autoal/`` (``autoal.loop``, ``autoal.terminal``,
...). A user's ``import autoal.loop`` or ``from autoal.terminal import TerminalAnnotator`` still works: the
finder below answers the old name with the module at its new place (the same module object, so
``isinstance`` checks and patches agree) and warns once with the new name (a ``FutureWarning``, which Python
shows by default). The few names that left their module say where they went (:func:`removed_name`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__all__ = ["MOVED", "REMOVED", "install", "removed_name"]

#: Old module path -> new module path.
MOVED = {
    "autoal.files": "autoal.common.files",
    "autoal.images": "autoal.common.images",
    "autoal.stop_signals": "autoal.common.signals",
    "autoal._torch_compat": "autoal.common.torch_compat",
    "autoal.feature_columns": "autoal.data.feature_columns",
    "autoal.manifest": "autoal.data.manifest",
    "autoal.manifest_builder": "autoal.data.manifest_builder",
    "autoal.manifest_check": "autoal.data.manifest_check",
    "autoal.datasets": "autoal.data.datasets",
    "autoal.example_table": "autoal.store.example_table",
    "autoal.snapshot": "autoal.store.snapshot",
    "autoal.run_state": "autoal.store.run_state",
    "autoal.convert": "autoal.store.convert",
    "autoal.backbones": "autoal.vision.backbones",
    "autoal.embeddings": "autoal.vision.embedder",
    "autoal.embedding_cache": "autoal.vision.cache",
    "autoal.crowdlab": "autoal.multiannotator.crowdlab",
    "autoal.consensus": "autoal.multiannotator.consensus",
    "autoal.out_of_sample": "autoal.multiannotator.out_of_sample",
    "autoal.fold_models": "autoal.multiannotator.fold_models",
    "autoal.strategies": "autoal.query.strategies",
    "autoal.selection": "autoal.query.selection",
    "autoal.batching": "autoal.query.batching",
    "autoal.cold_start": "autoal.query.cold_start",
    "autoal.relabel_policy": "autoal.query.relabel_policy",
    "autoal.feature_source": "autoal.learners.embedding_source",
    "autoal.annotators": "autoal.annotation.annotators",
    "autoal.terminal": "autoal.annotation.terminal",
    "autoal.asking": "autoal.annotation.asking",
    "autoal.assignment": "autoal.annotation.assignment",
    "autoal.batch_files": "autoal.annotation.batch_files",
    "autoal.result": "autoal.results.result",
    "autoal.reporting": "autoal.results.reporting",
    "autoal.curves": "autoal.results.curves",
    "autoal.export": "autoal.results.export",
    "autoal.loop": "autoal.rounds.loop",
    "autoal.session": "autoal.rounds.session",
    "autoal.stopping": "autoal.rounds.stopping",
    "autoal.scoring": "autoal.rounds.scoring",
    "autoal.labelstudio_live": "autoal.labelstudio.live",
    "autoal.labelstudio_sync": "autoal.labelstudio.sync",
    "autoal.labelstudio_cli": "autoal.cli.labelstudio",
    "autoal.manifest_cli": "autoal.cli.manifest",
    "autoal.server.commands": "autoal.cli.serve",
}
# ``autoal.data``, ``autoal.store``, ``autoal.cli`` and ``autoal.labelstudio`` were modules and are now packages
# of the same name that re-export what the module offered.

#: (module, name) -> what to use instead, for public names that left their module.
REMOVED = {
    ("autoal.annotation.annotators", "annotator_from_spec"): "autoal.annotation.specs.annotator_from_spec",
    ("autoal.multiannotator.crowdlab", "clear_memo"): "a CrowdlabMemo() passed as memo= (nothing is kept without one)",
    ("autoal.multiannotator.crowdlab", "COUNTING"): "counting= or the counting_mode(...) block",
    ("autoal.learners", "resolve_learner"): "autoal.rounds.config.resolve_learner",
    ("autoal.query.strategies", "resolve_strategy"): "autoal.rounds.config.RunConfig.resolved",
}


#: (module, name) -> the module it moved to, for public names that moved to a sibling module: still given, with a
#: FutureWarning naming the new place.
MOVED_NAMES = {
    ("autoal.multiannotator.crowdlab", "active_learning_scores"): "autoal.multiannotator.activelab",
}


def removed_name(module: str, name: str):
    """A module's ``__getattr__``: a name that moved (:data:`MOVED_NAMES`) with a FutureWarning; ImportError
    naming what replaced a removed public name; AttributeError otherwise. (An ImportError, so that
    ``from module import name`` shows the message.)"""
    if (module, name) in MOVED_NAMES:
        new = MOVED_NAMES[module, name]
        warnings.warn(f"{module}.{name} moved to {new}.{name}; import it from there", FutureWarning, stacklevel=3)
        return getattr(importlib.import_module(new), name)
    if (module, name) in REMOVED:
        raise ImportError(f"{module}.{name} was removed when autoal was split into subpackages; use "
                          f"{REMOVED[module, name]}")
    raise AttributeError(f"module {module!r} has no attribute {name!r}")


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old module path with the module at its new path."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new}; import it from there", FutureWarning, stacklevel=3)
        return importlib.import_module(new)

    def exec_module(self, module):
        """Nothing to run: the module ran at its new path; the import system registers the old name."""


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
