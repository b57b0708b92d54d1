import json

import pytest
import torch

from autoal.vision.backbones import random_init_checkpoint
from autoal.vision.checkpoints import checkpoint_from_weights
from autoal.errors import InputError
from autoal.learners import AutoGluonLearner


def test_random_init_checkpoint_has_what_autogluon_needs_and_no_classifier(tmp_path):
    folder = random_init_checkpoint("resnet18", seed=0, cache_dir=tmp_path)
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "resnet18" and config["num_classes"] == 0 and config["num_features"] == 512
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    assert not any(k.startswith("fc.") for k in state)
    again = random_init_checkpoint("resnet18", seed=0, cache_dir=tmp_path / "other")
    assert torch.equal(state["conv1.weight"], torch.load(again / "pytorch_model.bin", weights_only=True)["conv1.weight"])


def test_weights_file_round_trips_into_a_checkpoint(tmp_path):
    from autoal.common.torch_compat import import_timm

    model = import_timm().create_model("resnet18", pretrained=False)
    torch.save(model.state_dict(), tmp_path / "w.pth")
    folder = checkpoint_from_weights(tmp_path / "w.pth", "resnet18", out_dir=tmp_path / "ckpt")
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    assert torch.equal(state["layer1.0.conv1.weight"], model.state_dict()["layer1.0.conv1.weight"])


def _resnet18_state():
    from autoal.common.torch_compat import import_timm

    return import_timm().create_model("resnet18", pretrained=False).state_dict()


def test_weights_file_lacking_most_tensors_is_refused(tmp_path):
    # Every key of resnet18 ending in "weight" or "bias" removed: the batch-norm buffers are all that is left.
    full = _resnet18_state()
    partial = {k: v for k, v in full.items() if k.split(".")[-1] not in ("weight", "bias")}
    torch.save(partial, tmp_path / "w.pth")
    lacking = len(full) - len(partial) - 2  # the classifier's fc.weight and fc.bias may be missing
    with pytest.raises(InputError, match=rf"w.pth' lack {lacking} of the {len(full) - 2} tensors .*'resnet18'.*'conv1.weight'"):
        checkpoint_from_weights(tmp_path / "w.pth", "resnet18", out_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_weights_file_without_its_classifier_is_accepted(tmp_path):
    full = _resnet18_state()
    torch.save({k: v for k, v in full.items() if not k.startswith("fc.")}, tmp_path / "w.pth")
    folder = checkpoint_from_weights(tmp_path / "w.pth", "resnet18", out_dir=tmp_path / "ckpt")
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    assert sorted(state) == sorted(k for k in full if not k.startswith("fc."))
    assert all(torch.equal(state[k], full[k]) for k in state)


def test_weights_file_with_a_classifier_for_other_classes_is_accepted(tmp_path):
    full = _resnet18_state()
    torch.save({**full, "fc.weight": torch.zeros(10, 512), "fc.bias": torch.zeros(10)}, tmp_path / "w.pth")
    folder = checkpoint_from_weights(tmp_path / "w.pth", "resnet18", out_dir=tmp_path / "ckpt")
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    assert torch.equal(state["layer4.1.bn2.running_var"], full["layer4.1.bn2.running_var"])
    assert not any(k.startswith("fc.") for k in state)


def test_weights_file_with_tensors_the_architecture_lacks_is_refused(tmp_path):
    extra = {"projection.weight": torch.zeros(128, 512), "projection.bias": torch.zeros(128)}
    torch.save({**_resnet18_state(), **extra}, tmp_path / "w.pth")
    with pytest.raises(InputError, match=r"w.pth' hold 2 tensors that timm architecture 'resnet18' does not have .*'projection.weight'"):
        checkpoint_from_weights(tmp_path / "w.pth", "resnet18", out_dir=tmp_path / "c")


def test_weights_file_with_a_tensor_of_the_wrong_shape_is_refused(tmp_path):
    torch.save({**_resnet18_state(), "conv1.weight": torch.zeros(32, 3, 7, 7)}, tmp_path / "w.pth")
    with pytest.raises(InputError, match=r"w.pth' do not fit .*'resnet18'.*'conv1.weight' has shape \(32, 3, 7, 7\) .*\(64, 3, 7, 7\)"):
        checkpoint_from_weights(tmp_path / "w.pth", "resnet18", out_dir=tmp_path / "c")


def test_weights_file_that_is_not_a_state_dict(tmp_path):
    (tmp_path / "w.pth").write_bytes(b"definitely not torch")
    with pytest.raises(InputError, match="could not read .*w.pth.* as a torch state dict"):
        checkpoint_from_weights(tmp_path / "w.pth", "resnet18", out_dir=tmp_path / "c")


def test_weights_of_another_architecture(tmp_path):
    from autoal.common.torch_compat import import_timm

    torch.save(import_timm().create_model("mobilenetv3_small_050").state_dict(), tmp_path / "w.pth")
    with pytest.raises(InputError, match=r"w.pth' lack \d+ of the \d+ tensors that timm architecture 'resnet18' needs .*'conv1.weight'"):
        checkpoint_from_weights(tmp_path / "w.pth", "resnet18", out_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_weights_file_for_an_unknown_architecture(tmp_path):
    torch.save(_resnet18_state(), tmp_path / "w.pth")
    with pytest.raises(InputError, match="unknown timm architecture 'resnet1800'; see timm.list_models"):
        checkpoint_from_weights(tmp_path / "w.pth", "resnet1800", out_dir=tmp_path / "c")


def test_checkpoint_folder_missing_files(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    learner = AutoGluonLearner(checkpoint=tmp_path / "ckpt")
    with pytest.raises(InputError, match="lacks pytorch_model.bin"):
        learner.resolve_checkpoint()


def test_checkpoint_path_that_does_not_exist(tmp_path):
    with pytest.raises(InputError, match="checkpoint .*nowhere.* does not exist"):
        AutoGluonLearner(checkpoint=tmp_path / "nowhere").resolve_checkpoint()


def test_autogluon_default_backbone_is_pretrained_when_installed_else_random_init(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("autoal.learners.autogluon.pretrained_available", lambda: True)
    monkeypatch.setattr("autoal.learners.autogluon.pretrained_checkpoint", lambda: tmp_path / "pretrained")
    assert AutoGluonLearner().resolve_checkpoint() == tmp_path / "pretrained"
    random_init = AutoGluonLearner(checkpoint="random-init").resolve_checkpoint()
    assert json.loads((random_init / "config.json").read_text())["architecture"] == "resnet18"
    monkeypatch.setattr("autoal.learners.autogluon.pretrained_available", lambda: False)
    assert AutoGluonLearner().resolve_checkpoint() == random_init
