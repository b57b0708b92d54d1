"""Which networks the embeddings learner embeds with: its ``checkpoint=`` or ``backbones=`` option resolved to
checkpoint folders, the packaged defaults and their fallback."""

from __future__ import annotations

import warnings
from pathlib import Path

from autoal.errors import InputError, MissingDependencyError

__all__ = ["backbone_folders", "DEFAULT_BACKBONES", "FALLBACK_ARCHITECTURE"]

#: The architecture of the randomly initialised fallback (and of ``backbones=["random-init"]``); not
#: :data:`autoal.vision.backbones.DEFAULT_ARCHITECTURE`, the AutoGluon learner's random-init network.
FALLBACK_ARCHITECTURE = "mobilenetv2_100"
#: The packaged pretrained networks embedded by default, joined (benchmarks/RESULTS.md, "Backbones: several frozen
#: networks against fine-tuning").
DEFAULT_BACKBONES = ("mobilenetv2_100", "tf_efficientnet_lite0")


def backbone_folders(*, checkpoint=None, backbones=None) -> list:
    """The checkpoint folder of each backbone, packaged weights converted on first use: ``checkpoint`` (one
    folder), else each of ``backbones`` (packaged names, ``"random-init"`` or checkpoint folders), else
    :data:`DEFAULT_BACKBONES`."""
    from autoal.vision.backbones import PRETRAINED_SOURCES, pretrained_checkpoint, random_init_checkpoint

    if checkpoint is not None and backbones is not None:
        raise InputError("pass either checkpoint= (one checkpoint folder) or backbones=[...] to the embeddings "
                         "learner, not both")
    if checkpoint is not None:
        return [Path(checkpoint)]
    if backbones is None:
        return _default_folders()
    names = [backbones] if isinstance(backbones, (str, Path)) else list(backbones)
    if not names:
        raise InputError("backbones=[] names no network; pass packaged names (e.g. "
                         f"{', '.join(PRETRAINED_SOURCES)}) or checkpoint folders")
    dirs = []
    for name in names:
        if str(name) in PRETRAINED_SOURCES:
            dirs.append(pretrained_checkpoint(str(name)))
        elif str(name) == "random-init":
            dirs.append(random_init_checkpoint(FALLBACK_ARCHITECTURE))
        elif Path(name).expanduser().is_dir():
            dirs.append(Path(name).expanduser())
        else:
            raise InputError(f"backbone {str(name)!r} is neither a packaged pretrained network "
                             f"({', '.join(PRETRAINED_SOURCES)}) nor a checkpoint folder (config.json + "
                             "pytorch_model.bin); fix the name or the path")
    if len(set(dirs)) != len(dirs):
        raise InputError(f"backbones {names} name the same network twice; list each once")
    return dirs


def _default_folders() -> list:
    """:data:`DEFAULT_BACKBONES` whose weights package is installed (a warning names the missing ones);
    randomly initialised MobileNetV2 when none is."""
    from autoal.vision import backbones as packaged

    dirs, missing = [], []
    for name in DEFAULT_BACKBONES:
        try:
            dirs.append(packaged.pretrained_checkpoint(name))
        except MissingDependencyError as exc:
            missing.append(str(exc))
    if dirs and missing:
        warnings.warn(f"autoal: the embeddings learner runs without {len(missing)} of its default backbones: "
                      f"{'; '.join(missing)}", RuntimeWarning, stacklevel=5)
    if not dirs:
        warnings.warn(f"autoal: {missing[0]}; the embeddings learner falls back to randomly initialised "
                      f"{FALLBACK_ARCHITECTURE} weights (much weaker features)", RuntimeWarning, stacklevel=5)
        dirs = [packaged.random_init_checkpoint(FALLBACK_ARCHITECTURE)]
    return dirs
