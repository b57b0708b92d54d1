"""The image files of the user's data: every one must exist, and those decoded (all, or a seeded sample of a big
set) must be images, before any training (:func:`find_bad_images`); the rows of bad ones are dropped or refused
(:func:`drop_or_raise_bad_images`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from autoal.common.checks import StrOptions, check_option
from autoal.errors import InputError

__all__ = ["find_bad_images", "drop_or_raise_bad_images", "path_text", "FULL_CHECK_LIMIT", "CHECK_SAMPLE",
           "CHECK_RULES"]

#: ``check_images="auto"`` decodes every image up to this many distinct files, else a sample of them.
FULL_CHECK_LIMIT = 20_000
#: Images decoded by ``check_images="auto"`` on bigger sets (besides checking that every file exists).
CHECK_SAMPLE = 2_000
CHECK_RULES = ("auto", "all", "exists")

def find_bad_images(paths, *, decode="all", random_state=0) -> list:
    """Return ``(path, reason)`` for every path that is missing, not a file, or (among those decoded) not an image.

    Parameters
    ----------
    paths : iterable of str
        Image paths (repeats are checked once).
    decode : {"all", "auto", "exists"}
        Which existing files are also fully decoded: all of them; all up to :data:`FULL_CHECK_LIMIT`
        distinct files, else a seeded sample of :data:`CHECK_SAMPLE`; or none. The header of every
        existing file that is not decoded is read (:func:`autoal.common.images.header_check`): a file that
        is not an image or is a decompression bomb is found before any training, whatever ``decode``.
    random_state : int
        Seeds the sample.
    """
    from autoal.common.images import decode_check, header_check

    unique = list(dict.fromkeys(map(str, paths)))
    bad, present = [], []
    for path in unique:
        p = Path(path)
        if not p.exists():
            bad.append((path, "does not exist"))
        elif not p.is_file():
            bad.append((path, "is not a file"))
        else:
            present.append(path)
    from autoal.common.progress import task

    decoded = _to_decode(present, decode, random_state)
    with task("checking that the images decode", total=len(decoded), unit="image", delay=1.0) as step:
        for path in decoded:
            try:
                decode_check(path)
            except Exception as exc:  # PIL raises many types for non-images and truncated files
                bad.append((path, f"is not a readable image ({type(exc).__name__})"))
            step.advance()
    for path in sorted(set(present) - set(decoded)):
        try:
            header_check(path)
        except Exception as exc:  # noqa: BLE001 - as above; DecompressionBombError is not an OSError
            bad.append((path, f"is not a readable image ({type(exc).__name__})"))
    return bad


def _to_decode(present, decode, random_state) -> list:
    if decode == "exists":
        return []
    if decode == "auto" and len(present) > FULL_CHECK_LIMIT:
        chosen = np.random.default_rng(random_state).choice(len(present), size=CHECK_SAMPLE, replace=False)
        return [present[k] for k in np.sort(chosen)]
    return present


def path_text(paths: pd.Series) -> pd.Series:
    """Image paths as text (``pathlib.Path`` objects become strings), as they are stored and read back."""
    if paths.dtype == object and pd.api.types.infer_dtype(paths, skipna=True) not in ("string", "empty") \
            and any(isinstance(p, os.PathLike) for p in paths):
        return pd.Series([os.fspath(p) if isinstance(p, os.PathLike) else p for p in paths], index=paths.index, dtype=object)
    return paths


def drop_or_raise_bad_images(frames, image_col, drop_bad_images, check_images="auto"):
    """``(frames, bad)``: ``frames`` without the rows whose image in ``image_col`` is bad (:func:`find_bad_images`
    with ``decode=check_images``) and the ``(path, reason)`` of those images; an InputError naming them unless
    ``drop_bad_images``."""
    check_option("check_images", check_images, StrOptions(CHECK_RULES))
    paths = pd.concat([f[image_col] for f in frames]).astype(str)
    bad = find_bad_images(paths, decode=check_images)
    if bad and not drop_bad_images:
        shown = "; ".join(f"{p} {why}" for p, why in bad[:5])
        raise InputError(
            f"{len(bad)} of {paths.nunique()} images cannot be used: {shown}"
            f"{' ...' if len(bad) > 5 else ''}. Fix the paths, or pass drop_bad_images=True "
            "(CLI: --drop-bad-images) to drop these rows"
        )
    bad_paths = {p for p, _ in bad}
    return [f[~f[image_col].astype(str).isin(bad_paths)] for f in frames], bad
