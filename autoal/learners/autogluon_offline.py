"""AutoGluon without a network: hub look-ups that fail fast, quiet logs, and a download attempt explained."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings

from autoal.errors import InputError

__all__ = ["explain_hub_errors", "quiet_offline"]

_NOISY_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_fabric", "pytorch_lightning", "autogluon", "transformers", "timm")


@contextlib.contextmanager
def quiet_offline(quiet: bool):
    """Make hub look-ups fail fast and, if ``quiet``, silence AutoGluon/Lightning chatter; restore after."""
    saved_env = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    saved_levels = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
    try:
        with warnings.catch_warnings():
            if quiet:
                warnings.simplefilter("ignore")
                for name in _NOISY_LOGGERS:
                    logging.getLogger(name).setLevel(logging.ERROR)
            yield
    finally:
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
        if saved_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved_env


@contextlib.contextmanager
def explain_hub_errors():
    """Turn AutoGluon's failed attempt to download a backbone into an InputError that names the offline fix."""
    try:
        yield
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}"
        if any(s in text for s in ("LocalEntryNotFound", "HF_HUB_OFFLINE", "offline mode", "huggingface.co")):
            raise InputError(
                f"AutoGluon tried to download a backbone, which this machine cannot do ({text[:200]}). Point "
                "checkpoint= at a local timm checkpoint folder or weights file, or leave it unset for the "
                "built-in offline backbone"
            ) from exc
        raise
