"""Local timm checkpoints that AutoGluon MultiModal loads with no download.

AutoGluon accepts a local folder as ``model.timm_image.checkpoint_name`` when it holds ``config.json``
(with ``architecture``, ``num_classes: 0``, ``num_features`` and ``pretrained_cfg``) and
``pytorch_model.bin`` (the timm state dict with its classifier removed).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ._torch_compat import import_timm
from .errors import InputError

__all__ = ["DEFAULT_ARCHITECTURE", "default_backbone_dir", "random_init_checkpoint", "checkpoint_from_weights"]

DEFAULT_ARCHITECTURE = "resnet18"


def default_backbone_dir() -> Path:
    """Where generated checkpoints live: ``$AUTOAL_CACHE_DIR/backbones``, else ``~/.cache/autoal/backbones``."""
    base = os.environ.get("AUTOAL_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "autoal") / "backbones"


def _write_checkpoint(model, out_dir: Path) -> Path:
    import torch

    model.reset_classifier(0)
    out_dir.mkdir(parents=True, exist_ok=True)
    pretrained_cfg = dict(getattr(model, "pretrained_cfg", {}) or {})
    pretrained_cfg = {k: v for k, v in pretrained_cfg.items() if isinstance(v, (str, int, float, bool, list, tuple, type(None)))}
    config = {
        "architecture": pretrained_cfg.get("architecture") or model.default_cfg.get("architecture"),
        "num_classes": 0,
        "num_features": int(model.num_features),
        "pretrained_cfg": pretrained_cfg,
    }
    tmp = out_dir / "pytorch_model.bin.tmp"
    torch.save(model.state_dict(), tmp)
    tmp.replace(out_dir / "pytorch_model.bin")
    (out_dir / "config.json").write_text(json.dumps(config, indent=2))
    return out_dir


def random_init_checkpoint(architecture=DEFAULT_ARCHITECTURE, *, seed=0, cache_dir=None) -> Path:
    """Write (once) a randomly initialised timm ``architecture`` as a local checkpoint folder.

    This is the offline default: nothing is downloaded, and the same seed gives the same weights.
    Returns the folder to pass as ``model.timm_image.checkpoint_name``.
    """
    import torch

    timm = import_timm()

    out_dir = Path(cache_dir or default_backbone_dir()) / f"{architecture}-random-seed{seed}"
    if (out_dir / "config.json").exists() and (out_dir / "pytorch_model.bin").exists():
        return out_dir
    if architecture not in timm.list_models():
        raise InputError(f"unknown timm architecture {architecture!r}; see timm.list_models() for valid names")
    torch.manual_seed(seed)
    return _write_checkpoint(timm.create_model(architecture, pretrained=False), out_dir)


def checkpoint_from_weights(weights_file, architecture, *, out_dir) -> Path:
    """Turn a timm state-dict file (``.pth``, ``.bin`` or ``.safetensors``) into a local checkpoint folder.

    Raises
    ------
    InputError
        When the file is missing, is not a state dict, or does not fit ``architecture``.
    """
    import torch

    timm = import_timm()

    weights_file = Path(weights_file)
    if not weights_file.is_file():
        raise InputError(f"backbone weights file {str(weights_file)!r} does not exist; pass an existing file")
    try:
        if weights_file.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(weights_file))
        else:
            state = torch.load(weights_file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"could not read {str(weights_file)!r} as a torch state dict ({exc})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise InputError(f"{str(weights_file)!r} is not a state dict (a mapping of tensor names to tensors)")
    model = timm.create_model(architecture, pretrained=False)
    try:
        model.load_state_dict(state, strict=False)
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise InputError(f"weights in {str(weights_file)!r} do not fit timm architecture {architecture!r}: {exc}") from exc
    classifier = set(model.get_classifier().state_dict()) if hasattr(model, "get_classifier") else set()
    missing = [k for k in missing if k.split(".")[-1] not in classifier and not k.startswith(model.default_cfg.get("classifier", "fc"))]
    if missing:
        raise InputError(
            f"weights in {str(weights_file)!r} lack {len(missing)} tensors of timm architecture {architecture!r} "
            f"(first: {missing[:3]}); check the architecture name"
        )
    return _write_checkpoint(model, Path(out_dir))
