"""Make ``import torchvision`` work on machines where its compiled ops cannot load.

On a CPU-only machine the only torchvision wheel on offer may be a CUDA build; its ``_C`` library then
fails to load against CPU torch, and torchvision's import dies with ``operator torchvision::nms does
not exist``. Image classification needs none of those ops: defining the two operator schemas that
torchvision's meta registrations look up is enough. Where the library loads (a matching build), this
does nothing. Installed files are never edited.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys

_stub_library = None  # keeps the torch.library.Library alive for the life of the process


def ensure_torchvision_importable() -> bool:
    """Apply the remedy if (and only if) this machine needs it; return True when it was applied."""
    global _stub_library
    if "torchvision" in sys.modules or _stub_library is not None:
        return _stub_library is not None
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.origin:
        return False
    libraries = glob.glob(os.path.join(os.path.dirname(spec.origin), "_C*.so"))
    if not libraries:
        return False
    import torch

    try:
        torch.ops.load_library(libraries[0])
        return False
    except (OSError, RuntimeError):
        pass
    library = torch.library.Library("torchvision", "DEF")
    for op in ("nms", "qnms"):
        library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _stub_library = library
    return True


def import_timm():
    """Import and return ``timm`` (which imports torchvision), remedy applied first."""
    ensure_torchvision_importable()
    import timm

    return timm


def import_multimodal_predictor():
    """Import and return ``autogluon.multimodal.MultiModalPredictor`` (slow: ~7 s), remedy applied first."""
    ensure_torchvision_importable()
    try:
        from autogluon.multimodal import MultiModalPredictor
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from autoal.errors import MissingDependencyError

        raise MissingDependencyError(
            f"AutoGluon MultiModal could not be imported ({exc}). Install it with "
            "`pip install torch==2.13.0 'autogluon.multimodal>=1.6,<1.7'` or run `bash scripts/setup.sh`."
        ) from exc
    return MultiModalPredictor
