"""The side images are resized to before embedding, chosen from the images themselves.

Photos at their own size (a few hundred pixels a side) lose detail below 224 px, the side these networks
were trained at: on flower photos (152-1,024 px) the default pair of networks read clearly higher at 224 px than at
128 px with few labels (benchmarks/RESULTS.md, "Natural photos at their own size"). Small images (sklearn's 8x8
digits, 28x28 Fashion-MNIST and MNIST) are upscaled: on all three, 160 px read a little higher than 128 px from 250
labels on, for a longer one-time embedding; 224 px added a little more on two of them at a much higher cost
(benchmarks/RESULTS.md, "The image side of small images"; benchmarks/image_side.py).
"""

from __future__ import annotations

import statistics

import numpy as np

from autoal.errors import InputError

__all__ = ["SMALL_IMAGE_SIDE", "LARGE_IMAGE_SIDE", "DIVERSITY_FEATURE_SIDE", "SAMPLE_SIZE", "typical_short_side",
           "embedding_image_size"]

#: The side for images smaller than :data:`LARGE_IMAGE_SIDE` (they are upscaled; 128 px earlier: a run stored then
#: keeps the side it chose, which it stores).
SMALL_IMAGE_SIDE = 160
#: The side for photos at least this large on their shorter side (typical of the set).
LARGE_IMAGE_SIDE = 224
#: The side of the embeddings made for a learner that has none of its own (the AutoGluon learner), for its k-means
#: batches and fold models, whatever the images: fixed, so that resumed runs embed alike and share one cache.
DIVERSITY_FEATURE_SIDE = 128
#: How many images (evenly spaced over the list) are read to judge a set's size.
SAMPLE_SIZE = 64


def typical_short_side(paths, *, sample=SAMPLE_SIZE) -> int:
    """The median shorter side, in pixels, of up to ``sample`` images evenly spaced over ``paths``.

    Only the files' headers are read. An unreadable file raises :class:`~autoal.errors.InputError`
    naming it.
    """
    from PIL import Image

    paths = list(paths)
    if not paths:
        raise InputError("no images to judge the image size from: the image column is empty")
    picks = np.unique(np.linspace(0, len(paths) - 1, min(sample, len(paths))).round().astype(int))
    sides = []
    for path in (paths[i] for i in picks):
        try:
            with Image.open(path) as image:
                sides.append(min(image.size))
        except (OSError, ValueError) as exc:
            raise InputError(f"could not read image {str(path)!r} ({type(exc).__name__}: {exc}); "
                             "fix or remove the file") from exc
    return int(statistics.median(sides))


def embedding_image_size(paths) -> int:
    """:data:`LARGE_IMAGE_SIDE` when the images' typical shorter side is at least that, else
    :data:`SMALL_IMAGE_SIDE`."""
    return LARGE_IMAGE_SIDE if typical_short_side(paths) >= LARGE_IMAGE_SIDE else SMALL_IMAGE_SIDE
