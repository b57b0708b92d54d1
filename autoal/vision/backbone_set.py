"""The networks that embed a learner's images, each with its own embedding cache.

An image's embedding is the networks' vectors side by side (:meth:`BackboneSet.embed_blocks` gives them one block
per network, so that a learner can weigh the blocks). Each network's vectors are kept in a cache of its own under one
root folder (one sub-folder per backbone id), so that every run and learner that reads the same images with the same
network embeds each image once.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["BackboneSet"]


class BackboneSet:
    """Networks (:class:`~autoal.vision.embedder.Embedder`) and their embedding caches.

    Parameters
    ----------
    folders : list of path-like
        One checkpoint folder per network.
    image_size : int
        The side images are resized to.
    batch_size : int
        Images per forward pass.
    cache_root : path-like
        The folder holding one cache per network.
    backbone_ids : list, optional
        The networks' ids when the folders are copies (a saved model's safetensors copies keep their ids).
    """

    def __init__(self, folders, *, image_size, batch_size, cache_root, backbone_ids=None):
        from autoal.vision.embedder import Embedder

        ids = backbone_ids or [None] * len(folders)
        self.embedders = [Embedder(folder, image_size=image_size, batch_size=batch_size, backbone_id=id_)
                          for folder, id_ in zip(folders, ids)]
        self.cache_root = Path(cache_root)
        self._caches = None

    @property
    def num_features(self) -> int:
        """Length of an image's joined embedding: the networks' widths added up."""
        return sum(embedder.num_features for embedder in self.embedders)

    @property
    def caches(self) -> list:
        """The :class:`~autoal.vision.cache.EmbeddingCache` of each network (opened on first use)."""
        if self._caches is None:
            from autoal.vision.cache import EmbeddingCache

            self._caches = [EmbeddingCache(self.cache_root / re.sub(r"[^A-Za-z0-9_.-]", "_", e.backbone_id),
                                           e.backbone_id, e.num_features) for e in self.embedders]
        return self._caches

    def embed_blocks(self, paths, stats=None, embed=None) -> list:
        """Each network's embeddings of the images at ``paths`` (a list of float32 arrays, one per network).

        ``embed``, when given, computes a network's missing images: ``embed(paths, index)`` with the network's
        position in :attr:`embedders`. ``stats`` adds up :func:`~autoal.vision.embedder.embed_paths`'s.
        """
        from autoal.vision.embedder import embed_paths

        blocks = []
        for index, (embedder, cache) in enumerate(zip(self.embedders, self.caches)):
            one = {}
            compute = None if embed is None else (lambda chunk, index=index: embed(chunk, index))
            blocks.append(embed_paths(paths, embedder, cache, stats=one, embed=compute))
            if stats is not None:
                for key, value in one.items():
                    stats[key] = stats.get(key, 0) + value
        return blocks
