"""Checking that an image file really decodes, whatever other libraries did to PIL's settings."""

from __future__ import annotations

import contextlib
import hashlib

__all__ = ["strict_decoding", "decode_check", "file_sha256"]


@contextlib.contextmanager
def strict_decoding():
    """Make PIL refuse truncated images while inside, then restore the setting.

    AutoGluon sets ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True`` for the whole process when it is
    imported, which would let truncated files pass a decode check unnoticed.
    """
    from PIL import ImageFile

    saved = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved


def decode_check(path) -> None:
    """Raise (PIL's exception) unless ``path`` is an image that decodes completely.

    ``verify`` checks the structure; a draft-mode ``load`` then reads all the data (JPEGs are decoded
    at 1/8 scale, which keeps the check fast on large photos).
    """
    from PIL import Image

    with strict_decoding():
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            image.draft(image.mode, (1, 1))
            image.load()


def file_sha256(path) -> str:
    """The sha256 hex digest of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
