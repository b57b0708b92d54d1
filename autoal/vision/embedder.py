"""Frozen-backbone image embeddings from a local timm checkpoint folder, computed once and cached.

:class:`Embedder` runs the network of a checkpoint folder (``config.json`` + ``pytorch_model.bin``, as
written by :mod:`autoal.vision.checkpoints`) with its classifier removed, in inference mode, on batches of
images resized to a square and normalised with the checkpoint's mean and std.
:func:`embed_paths` adds an :class:`~autoal.vision.cache.EmbeddingCache`: each file is hashed once
and only images whose content the cache has not seen are run through the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from autoal.common.checks import POSITIVE_INT, check_option
from autoal.common.torch_compat import import_timm
from autoal.vision.cache import EmbeddingCache, file_key
from autoal.errors import InputError

__all__ = ["Embedder", "embed_paths", "default_embedding_dir", "EMBEDDING_CACHE_ENV", "IMAGENET_DEFAULT_MEAN",
           "IMAGENET_DEFAULT_STD"]

IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)


#: Environment variable naming the folder of the shared embedding caches (see :func:`default_embedding_dir`).
EMBEDDING_CACHE_ENV = "AUTOAL_EMBEDDING_CACHE"


def default_embedding_dir() -> Path:
    """The embedding caches every run shares by default: ``$AUTOAL_EMBEDDING_CACHE``, else
    ``$AUTOAL_CACHE_DIR/embeddings``, else ``~/.cache/autoal/embeddings``.

    The caches are keyed by image content and network (:mod:`autoal.vision.cache`), so runs over the same images
    (another strategy, another seed, another output folder) embed each image once.
    """
    folder = os.environ.get(EMBEDDING_CACHE_ENV)
    if folder:
        return Path(folder).expanduser()
    base = os.environ.get("AUTOAL_CACHE_DIR")
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "autoal") / "embeddings"


class Embedder:
    """Turn image files into float32 feature vectors with a frozen timm network.

    Parameters
    ----------
    checkpoint_dir : str or Path
        A folder with ``config.json`` (naming the timm ``architecture``; its ``pretrained_cfg`` gives
        the normalisation ``mean``/``std``, ImageNet's when absent) and ``pytorch_model.bin`` or
        ``model.safetensors`` (the state dict without classifier, loaded strictly).
    image_size : int
        Images are resized (bilinear, aspect ratio not kept) to ``image_size x image_size``.
    batch_size : int
        Images per forward pass.
    num_threads : int, optional
        torch CPU threads while embedding (restored afterwards); default: torch's current setting.
    backbone_id : str, optional
        The cache's name for this network (:attr:`backbone_id`), given when it is known: a saved model's copy of
        a checkpoint in another file format (safetensors) holds the same weights, so it keeps the original's
        id and reads the same embedding cache.

    The network is loaded on first use, so a fully cached run never builds it.
    """

    def __init__(self, checkpoint_dir, *, image_size=128, batch_size=32, num_threads=None, backbone_id=None):
        self.checkpoint_dir = Path(checkpoint_dir)
        self.image_size = int(check_option("image_size", image_size, POSITIVE_INT))
        self.batch_size = int(check_option("batch_size", batch_size, POSITIVE_INT))
        self.num_threads = None if num_threads is None else int(check_option("num_threads", num_threads, POSITIVE_INT))
        self.weights_file = self.checkpoint_dir / "pytorch_model.bin"
        if not self.weights_file.is_file() and (self.checkpoint_dir / "model.safetensors").is_file():
            self.weights_file = self.checkpoint_dir / "model.safetensors"
        config_file = self.checkpoint_dir / "config.json"
        if not config_file.is_file() or not self.weights_file.is_file():
            raise InputError(f"{str(self.checkpoint_dir)!r} is not a timm checkpoint folder: expected config.json and "
                             "pytorch_model.bin (or model.safetensors) in it (see "
                             "autoal.vision.backbones.pretrained_checkpoint)")
        try:
            self.config = json.loads(config_file.read_text(encoding="utf-8"))
            self.architecture = self.config["architecture"]
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{str(config_file)!r} is not a valid checkpoint config: expected JSON with an "
                             f"'architecture' entry ({type(exc).__name__}: {exc})") from exc
        cfg = self.config.get("pretrained_cfg") or {}
        self.mean = np.asarray(cfg.get("mean") or IMAGENET_DEFAULT_MEAN, dtype=np.float32)
        self.std = np.asarray(cfg.get("std") or IMAGENET_DEFAULT_STD, dtype=np.float32)
        if self.mean.shape != (3,) or self.std.shape != (3,) or not (self.std > 0).all():
            raise InputError(f"{str(config_file)!r}: pretrained_cfg mean/std must be 3 numbers (std > 0), "
                             f"got {cfg.get('mean')!r} / {cfg.get('std')!r}")
        self._model = None
        self._backbone_id = backbone_id

    def __repr__(self) -> str:
        return (f"Embedder({str(self.checkpoint_dir)!r}, architecture={self.architecture!r}, "
                f"image_size={self.image_size}, batch_size={self.batch_size})")

    @property
    def backbone_id(self) -> str:
        """``<architecture>-<first 16 hex of the weights file's sha256>-<image_size>px``."""
        if self._backbone_id is None:
            digest = hashlib.sha256()
            with open(self.weights_file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            self._backbone_id = f"{self.architecture}-{digest.hexdigest()[:16]}-{self.image_size}px"
        return self._backbone_id

    @property
    def num_features(self) -> int:
        """Length of each embedding (from config.json when it says, else from the network)."""
        if isinstance(self.config.get("num_features"), int):
            return self.config["num_features"]
        return int(self.model.num_features)

    @property
    def model(self):
        """The timm network (``num_classes=0``), in eval mode and channels_last; loaded on first use."""
        if self._model is None:
            import torch

            from autoal.vision.weights import load_weights_file

            timm = import_timm()
            try:
                model = timm.create_model(self.architecture, pretrained=False, num_classes=0)
            except RuntimeError as exc:
                raise InputError(f"unknown timm architecture {self.architecture!r} in "
                                 f"{str(self.checkpoint_dir / 'config.json')!r}: {exc}") from exc
            try:
                model.load_state_dict(load_weights_file(self.weights_file), strict=True)
            except RuntimeError as exc:
                raise InputError(f"{str(self.weights_file)!r} does not fit timm architecture {self.architecture!r} "
                                 f"with its classifier removed: {str(exc).splitlines()[0]}") from exc
            declared = self.config.get("num_features")
            if isinstance(declared, int) and declared != model.num_features:
                raise InputError(f"{str(self.checkpoint_dir / 'config.json')!r} says num_features={declared} but "
                                 f"{self.architecture!r} has {model.num_features}")
            self._model = model.eval().to(self.device, memory_format=torch.channels_last)
        return self._model

    @property
    def device(self) -> str:
        """``"cuda"`` when torch sees a CUDA GPU, else ``"cpu"``."""
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def load_batch(self, paths):
        """Read, resize and normalise images: a float32 tensor (n, 3, size, size) in channels_last layout."""
        import torch
        from PIL import Image

        from autoal.common.images import read_errors, unreadable_image

        size = self.image_size
        batch = np.empty((len(paths), size, size, 3), dtype=np.float32)
        for i, path in enumerate(paths):
            try:
                with Image.open(path) as image:
                    batch[i] = np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.float32)
            except read_errors() as exc:
                raise unreadable_image(path, exc) from exc
        batch *= np.float32(1 / 255)
        batch -= self.mean
        batch /= self.std
        # NHWC memory seen as NCHW is exactly channels_last: no copy.
        return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)

    @contextlib.contextmanager
    def _threads(self):
        import torch

        saved = torch.get_num_threads()
        if self.num_threads is not None:
            torch.set_num_threads(self.num_threads)
        try:
            yield
        finally:
            torch.set_num_threads(saved)

    def embed(self, paths) -> np.ndarray:
        """Embeddings of the image files ``paths``: float32, shape (len(paths), num_features).

        Runs as a :func:`autoal.common.progress.task` ("embedding images with <architecture>", counted in images):
        a tqdm bar on a terminal from the start (before the network is loaded), and the figure the organiser page
        shows.
        """
        from autoal.common.progress import task

        paths = [str(p) for p in paths]
        out = np.empty((len(paths), self.num_features), dtype=np.float32)
        with task(f"embedding images with {self.architecture}", total=len(paths), unit="image") as step:
            import torch  # after the bar is up: the first import takes seconds

            with self._threads(), torch.inference_mode():
                model = self.model
                for start in range(0, len(paths), self.batch_size):
                    chunk = paths[start:start + self.batch_size]
                    batch = self.load_batch(chunk).to(self.device)
                    out[start:start + len(chunk)] = model(batch).float().cpu().numpy()
                    step.advance(len(chunk))
        return out

    __call__ = embed


#: path -> (size, modification time in ns, content key): a file is hashed again only when it changed.
_KEYS: dict = {}


def _content_key(path: str) -> str:
    """The cache key of an image file, hashing its bytes only when its size or modification time changed
    since this process last hashed it (a round reads tens of thousands of unchanged files)."""
    status = os.stat(path)
    seen = _KEYS.get(path)
    if seen is not None and seen[0] == status.st_size and seen[1] == status.st_mtime_ns:
        return seen[2]
    key = file_key(path)
    _KEYS[path] = (status.st_size, status.st_mtime_ns, key)
    return key


def _content_keys(paths) -> dict:
    """``{path: content key}`` of ``paths`` (a bar after a second when hashing big files takes long)."""
    from autoal.common.progress import task

    key_of = {}
    with task("reading images for the embedding cache", total=len(paths), unit="image", delay=1.0) as step:
        for path in paths:
            if path not in key_of:
                try:
                    key_of[path] = _content_key(path)
                except OSError as exc:
                    raise InputError(f"could not read image {path!r} ({type(exc).__name__}: {exc})") from exc
            step.advance()
    return key_of


def embed_paths(paths, embedder: Embedder, cache: EmbeddingCache, *, stats: dict | None = None, embed=None) -> np.ndarray:
    """Embeddings of ``paths`` (float32, one row per path), computing only images the cache lacks.

    Each distinct path is hashed (:func:`~autoal.vision.cache.file_key`) the first time this
    process sees it and again only when its size or modification time changed; each distinct content
    is embedded at most once and stored in ``cache``.

    Parameters
    ----------
    stats : dict, optional
        Filled with ``n`` (paths), ``unique`` (distinct images by content), ``hits`` (distinct images
        found in the cache), ``embedded`` (distinct images computed now) and ``seconds`` (wall time).
    embed : callable, optional
        Computes the missing images instead of ``embedder.embed``: takes a list of paths, returns
        float32 embeddings from the same network, shape (len(paths), dim) (for example spread over
        Ray workers by :mod:`autoal.rounds.pool_prediction`). They are written to ``cache`` here, in this process.

    Raises
    ------
    InputError
        When a file cannot be read, or ``cache`` belongs to another backbone than ``embedder``.
    """
    started = time.perf_counter()
    if cache.backbone_id != embedder.backbone_id or cache.dim != embedder.num_features:
        raise InputError(f"the cache in {str(cache.folder)!r} holds {cache.backbone_id!r} (dim {cache.dim}) "
                         f"embeddings, not {embedder.backbone_id!r} (dim {embedder.num_features}); use one cache per backbone")
    paths = [str(p) for p in paths]
    key_of = _content_keys(paths)
    keys = [key_of[p] for p in paths]
    unique = list(dict.fromkeys(keys))
    vectors, missing = cache.get_many(unique)
    todo = [k for k, m in zip(unique, missing) if m]
    if todo:
        path_of = {}
        for path in paths:
            path_of.setdefault(key_of[path], path)
        fresh = (embed or embedder.embed)([path_of[k] for k in todo])
        cache.put_many(todo, fresh)
        vectors[missing] = fresh
    position = {k: i for i, k in enumerate(unique)}
    out = vectors[[position[k] for k in keys]] if keys else np.zeros((0, cache.dim), dtype=np.float32)
    if stats is not None:
        stats.update(n=len(paths), unique=len(unique), hits=len(unique) - len(todo), embedded=len(todo),
                     seconds=time.perf_counter() - started)
    return out
