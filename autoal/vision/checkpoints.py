"""Local timm checkpoint folders that AutoGluon MultiModal and the embedder load with no download.

AutoGluon accepts a local folder as ``model.timm_image.checkpoint_name`` when it holds ``config.json``
(with ``architecture``, ``num_classes: 0``, ``num_features`` and ``pretrained_cfg``) and
``pytorch_model.bin`` (the timm state dict with its classifier removed). This module says where generated
folders live, writes one from a timm model or from a state-dict file, and copies one with its weights as
safetensors for a saved model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from autoal.common.torch_compat import import_timm
from autoal.errors import InputError
from autoal.vision.weights import fitting_tensors, load_weights_file

__all__ = ["default_backbone_dir", "write_checkpoint", "checkpoint_from_weights", "copy_as_safetensors"]


def default_backbone_dir() -> Path:
    """Where generated checkpoints live: ``$AUTOAL_CACHE_DIR/backbones``, else ``~/.cache/autoal/backbones``."""
    base = os.environ.get("AUTOAL_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "autoal") / "backbones"


def write_checkpoint(model, out_dir: Path) -> Path:
    """Write timm ``model`` without its classifier as a checkpoint folder (``config.json`` + ``pytorch_model.bin``)
    in ``out_dir``; returns ``out_dir``."""
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


def checkpoint_from_weights(weights_file, architecture, *, out_dir) -> Path:
    """Turn a timm state-dict file (``.pth``, ``.bin`` or ``.safetensors``) into a local checkpoint folder.

    Parameters
    ----------
    weights_file : str or Path
        A state dict of timm ``architecture`` (torchvision's ResNets share timm's names). Its
        classifier (the tensors under timm's ``default_cfg["classifier"]``, e.g. ``fc.``) may be
        absent or sized for any number of classes: it is dropped.
    architecture : str
        A timm model name.
    out_dir : str or Path
        Folder to write ``config.json`` and ``pytorch_model.bin`` into.

    Returns
    -------
    Path
        ``out_dir``, to pass as ``model.timm_image.checkpoint_name``.

    Raises
    ------
    InputError
        When the file is missing or is not a state dict, ``architecture`` is unknown, or the file lacks
        tensors of ``architecture`` other than its classifier, holds tensors ``architecture`` does not
        have, or holds tensors of other shapes (each message names the file, the count and the first keys).
    """
    timm = import_timm()

    state = load_weights_file(weights_file)
    if architecture not in timm.list_models():
        raise InputError(f"unknown timm architecture {architecture!r}; see timm.list_models() for valid names")
    model = timm.create_model(architecture, pretrained=False)
    body = fitting_tensors(state, model, architecture=architecture, source=f"weights in {str(weights_file)!r}")
    model.load_state_dict(body, strict=False)
    return write_checkpoint(model, Path(out_dir))


#: (weights file, size, modification time) -> the first 16 hex digits of its sha256, for this process.
_WEIGHTS_DIGESTS = {}


def copy_as_safetensors(checkpoint_dir, out_dir) -> Path:
    """Copy a checkpoint folder into ``out_dir`` with its weights as ``model.safetensors`` (no pickle), for a saved
    model that must load without running code.

    The conversion of a weights file is done once per machine (kept under :func:`default_backbone_dir`, named by
    the file's hash) and hard-linked (or copied, across file systems) into ``out_dir``, so saving a model every
    round costs no conversion. The tensors are the same, so the network computes the same embeddings.

    Returns
    -------
    Path
        ``out_dir`` (``config.json`` + ``model.safetensors``).
    """
    import hashlib
    import shutil

    from safetensors.torch import save_file

    checkpoint_dir, out_dir = Path(checkpoint_dir), Path(out_dir)
    source = checkpoint_dir / "pytorch_model.bin"
    if not source.is_file():
        source = checkpoint_dir / "model.safetensors"
    stat = source.stat()
    key = (str(source.resolve()), stat.st_size, stat.st_mtime_ns)
    digest = _WEIGHTS_DIGESTS.get(key)
    if digest is None:  # hashing the weights is most of a save's time: once per file and process
        digest = _WEIGHTS_DIGESTS[key] = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    converted = default_backbone_dir() / "safetensors" / digest / "model.safetensors"
    if not converted.is_file():
        converted.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in load_weights_file(source).items()}
        tmp = converted.with_name(f"model.safetensors.tmp{os.getpid()}")
        save_file(state, str(tmp))
        os.replace(tmp, converted)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(checkpoint_dir / "config.json", out_dir / "config.json")
    target = out_dir / "model.safetensors"
    try:
        os.link(converted, target)
    except OSError:
        shutil.copyfile(converted, target)
    return out_dir
