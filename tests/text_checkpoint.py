"""A tiny randomly initialised Hugging Face text model written locally (no download): a 1-layer BERT and a
word-level tokenizer built from a word list, for the AutoGluon learner's ``text_checkpoint``."""

from pathlib import Path


def write_tiny_bert(folder, words, *, seed=0) -> Path:
    """Write ``config.json``, ``model.safetensors`` and the tokenizer files of a random 1-layer BERT (hidden size
    32) whose vocabulary is BERT's special tokens, ``words`` and the letters; returns ``folder``."""
    from autoal.common.torch_compat import ensure_torchvision_importable

    ensure_torchvision_importable()  # transformers imports torchvision
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(words)) + list("abcdefghijklmnopqrstuvwxyz")
    vocab = list(dict.fromkeys(vocab))
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
