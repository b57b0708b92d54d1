"""The settings the AutoGluon learner gives ``MultiModalPredictor``: offline training of a local checkpoint,
the fine-tuning scheme, the GPU's settings, and which MultiModal models take which feature columns."""

from __future__ import annotations

from pathlib import Path

from autoal.errors import InputError

__all__ = ["offline_hyperparameters", "fine_tune_hyperparameters", "gpu_available", "model_names",
           "check_text_checkpoint", "FEATURE_MODELS_LR", "GPU_SETTINGS", "SMALL_IMAGE_SIDE"]


def offline_hyperparameters(checkpoint_dir, *, image_size=128, max_epochs=20, lr=2e-3, batch_size=16) -> dict:
    """MultiModalPredictor settings that train a local timm checkpoint on CPU with no download.

    Patience is set beyond ``max_epochs`` with one validation per epoch: with the default patience a
    fit on ~80 images stops after a few epochs at chance accuracy.
    """
    return {
        "model.names": ["timm_image"],
        "model.timm_image.checkpoint_name": str(checkpoint_dir) if checkpoint_dir is not None else None,
        "model.timm_image.image_size": image_size,
        "optim.max_epochs": max_epochs,
        "optim.lr": lr,
        "optim.lr_choice": "single",
        "optim.top_k": 1,
        "optim.patience": max_epochs + 100,
        "optim.val_check_interval": 1.0,
        "env.num_gpus": 0,
        "env.accelerator": "cpu",
        "env.precision": "32",
        "env.per_gpu_batch_size": batch_size,
        "env.batch_size": batch_size,
        "env.num_workers": 0,
        "env.num_workers_inference": 0,
    }


#: Learning rate (single) when MultiModal's tabular or text models take part: they train from scratch.
FEATURE_MODELS_LR = 2e-3

#: Training transforms by image side: at 96 px and below (thumbnails upscaled, e.g. digits and
#: Fashion-MNIST) AutoGluon's trivial_augment (strong colour and geometry changes) destroys what little
#: there is to see, so small images get a mild random affine only; larger ones keep AutoGluon's default.
SMALL_IMAGE_TRANSFORMS = ["resize_to_square", "affine"]
LARGE_IMAGE_TRANSFORMS = ["resize_shorter_side", "center_crop", "trivial_augment"]
SMALL_IMAGE_SIDE = 96


#: What the settings change when torch sees a CUDA GPU.
GPU_SETTINGS = {"env.num_gpus": 1, "env.accelerator": "gpu", "env.precision": "16-mixed"}


def fine_tune_hyperparameters(*, image_size, lr, lr_choice, lr_decay, lr_mult, top_k, peft, gpu=False) -> dict:
    """The fine-tuning settings over :func:`offline_hyperparameters`: AutoGluon's own learning-rate scheme
    (``lr_choice`` ``"layerwise_decay"`` or ``"two_stages"``, a cosine schedule with warm-up), the last
    ``top_k`` checkpoints averaged (uniform soup), augmentation that suits ``image_size``, deterministic
    kernels, and the GPU when ``gpu``."""
    hp = {
        "optim.lr": lr,
        "optim.lr_choice": lr_choice,
        "optim.lr_decay": lr_decay,
        "optim.lr_mult": lr_mult,
        "optim.lr_schedule": "cosine_decay",
        "optim.top_k": top_k,
        "optim.top_k_average_method": "uniform_soup",
        "model.timm_image.train_transforms": SMALL_IMAGE_TRANSFORMS if image_size <= SMALL_IMAGE_SIDE
        else LARGE_IMAGE_TRANSFORMS,
        "env.deterministic": True,
    }
    if peft is not None:
        hp["optim.peft"] = peft
    if gpu:
        hp.update(GPU_SETTINGS)
    return hp


def gpu_available() -> bool:
    """Whether torch sees a CUDA GPU (the fine-tuning and the embedder then use it)."""
    import torch

    return bool(torch.cuda.is_available())


#: The tabular models of AutoGluon MultiModal by feature kind; none of them has pretrained weights to download.
_TABULAR_MODELS = {"numeric": "numerical_mlp", "categorical": "categorical_mlp"}
#: Weight files a Hugging Face checkpoint folder may hold.
_HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")
_HF_TOKENIZER = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "spiece.model", "sentencepiece.bpe.model",
                 "vocab.json")


def model_names(*, image: bool, features=None, text_checkpoint=None) -> list:
    """The MultiModalPredictor ``model.names`` for data with an image column or not and these feature columns:
    ``timm_image``, ``numerical_mlp``, ``categorical_mlp``, ``hf_text`` (with a text checkpoint), and
    ``fusion_mlp`` joining them when there are several."""
    names = ["timm_image"] if image else []
    if features is not None:
        names += [model for kind, model in _TABULAR_MODELS.items() if getattr(features, kind)]
        if features.text and text_checkpoint is not None:
            names.append("hf_text")
    return names + (["fusion_mlp"] if len(names) > 1 else [])


def check_text_checkpoint(path) -> Path:
    """The local Hugging Face checkpoint folder ``path``, checked to hold a config, weights and a tokenizer."""
    folder = Path(path).expanduser()
    how = ("a local Hugging Face checkpoint folder, as written by model.save_pretrained(DIR) and "
           "tokenizer.save_pretrained(DIR): config.json, model.safetensors or pytorch_model.bin, and tokenizer files")
    if not folder.is_dir():
        raise InputError(f"text_checkpoint {str(folder)!r} is not a folder; pass {how}")
    lacking = []
    if not (folder / "config.json").is_file():
        lacking.append("config.json")
    if not any((folder / name).is_file() for name in _HF_WEIGHTS):
        lacking.append("weights (model.safetensors or pytorch_model.bin)")
    if not any((folder / name).is_file() for name in _HF_TOKENIZER):
        lacking.append("a tokenizer (tokenizer.json, tokenizer_config.json or vocab.txt)")
    if lacking:
        raise InputError(f"text_checkpoint {str(folder)!r} lacks {', '.join(lacking)}; pass {how}")
    return folder
