"""The side images are resized to before embedding, chosen from the images themselves.

Small images (sklearn's 8x8 digits, 28x28 Fashion-MNIST) gain nothing from being upscaled further than
128 px, and embed about three times faster there than at 224 px. Photos at their own size (a few hundred
pixels a side) lose detail at 128 px: on 3,000 flower photos (152-1,024 px) the default pair of networks
read 0.622 / 0.762 / 0.844 at 25 / 50 / 100 labels at 128 px against 0.756 / 0.845 / 0.864 at 224 px
(benchmarks/RESULTS.md, "Natural photos"). 224 px is the side these networks were trained at.
"""

from __future__ import annotations

import statistics

import numpy as np

from autoal.errors import InputError

__all__ = ["SMALL_IMAGE_SIDE", "LARGE_IMAGE_SIDE", "SAMPLE_SIZE", "typical_short_side", "embedding_image_size"]

#: The side for images smaller than :data:`LARGE_IMAGE_SIDE` (they are upscaled).
SMALL_IMAGE_SIDE = 128
#: The side for photos at least this large on their shorter side (typical of the set).
LARGE_IMAGE_SIDE = 224
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
