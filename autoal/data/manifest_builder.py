"""Manifests from a folder-per-class image tree (Caltech-256 style).

:func:`build_manifest` turns ``TREE/<class>/<image>`` into a manifest CSV (``label,image_path``, plus
``sha256`` and ``split`` on request) and reports every file it left out and why.
:mod:`autoal.data.manifest_check` later says which listed files went missing, changed or stopped decoding;
:mod:`autoal.cli.manifest` is the command line (``autoal manifest``, ``scripts/prepare_manifest.py``).
"""

from __future__ import annotations

import csv
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autoal.common.checks import Integral, Interval, Real, check_option
from autoal.errors import InputError, first_few
from autoal.common.images import decode_check, file_sha256

__all__ = ["BuildReport", "build_manifest", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})
SHOWN = 5  # problems of each kind listed by the reports' message()

NOT_UTF8 = "name is not valid UTF-8: rename it to include it"
NESTED = "folder inside a class folder, not searched: move its images into the class folder to include them"
IN_ROOT = "file in the tree's top folder, not in a class folder: move it into its class folder to include it"
NOT_IMAGE = "not an image"


@dataclass
class BuildReport:
    """What :func:`build_manifest` wrote and what it left out.

    Attributes
    ----------
    manifest : str
        The manifest written.
    tree : str
        The image tree read.
    n_images, n_classes : int
        Rows and classes of the manifest.
    class_counts : dict
        Images per class (label -> count), classes in sorted order.
    n_test : int
        Rows with ``split`` = ``test`` (0 without a split).
    skipped : list of (path, reason)
        Files and folders not looked at as images: non-images, nested folders, files in the tree's top
        folder, symbolic links leaving the tree, names that are not UTF-8. Paths relative to the tree.
    bad_images : list of (path, reason)
        Images that do not decode (truncated, corrupt); not in the manifest.
    duplicates : list of list of str
        Groups of byte-identical images (only with ``sha256=True``); they stay in the manifest.
    empty_classes : list of str
        Class folders without a readable image; not in the manifest.
    dropped_classes : list of str
        Class folders left out by ``keep_classes`` / ``drop_classes``.
    """

    manifest: str = ""
    tree: str = ""
    n_images: int = 0
    n_classes: int = 0
    class_counts: dict = field(default_factory=dict)
    n_test: int = 0
    skipped: list = field(default_factory=list)
    bad_images: list = field(default_factory=list)
    duplicates: list = field(default_factory=list)
    empty_classes: list = field(default_factory=list)
    dropped_classes: list = field(default_factory=list)

    def message(self) -> str:
        """A multi-line summary: counts, then the first few problems of each kind."""
        lines = [f"wrote {self.manifest}: {self.n_images} images in {self.n_classes} classes from {self.tree}"]
        if self.class_counts:
            counts = sorted(self.class_counts.values())
            lines.append(f"  images per class: {counts[0]} to {counts[-1]} (median {np.median(counts):g})")
        if self.n_test:
            lines.append(f"  split: {self.n_images - self.n_test} train, {self.n_test} test")
        if self.dropped_classes:
            lines.append(f"  dropped classes: {first_few(self.dropped_classes)}")
        if self.empty_classes:
            lines.append(f"  class folders without a readable image, left out: {first_few(self.empty_classes)}")
        lines += problem_lines(f"skipped {len(self.skipped)} files or folders", self.skipped)
        lines += problem_lines(f"{len(self.bad_images)} images do not decode, left out", self.bad_images)
        if self.duplicates:
            lines.append(f"  {len(self.duplicates)} groups of identical files (kept in the manifest):")
            lines += [f"    {' = '.join(group)}" for group in self.duplicates[:SHOWN]]
            lines += [f"    ... ({len(self.duplicates) - SHOWN} more groups)"] if len(self.duplicates) > SHOWN else []
        return "\n".join(lines)


def problem_lines(title, items) -> list:
    if not items:
        return []
    lines = [f"  {title}:"] + [f"    {path}" + (f" ({why})" if why else "") for path, why in items[:SHOWN]]
    return lines + ([f"    ... ({len(items) - SHOWN} more)"] if len(items) > SHOWN else [])


# ----------------------------------------------------------------------------------------------- building


def build_manifest(
    tree,
    out,
    *,
    sha256=False,
    test_fraction=None,
    seed=0,
    keep_classes=None,
    drop_classes=None,
    allow_outside=False,
) -> BuildReport:
    """Write a manifest CSV for a folder-per-class image tree and report what was left out.

    Each top-level folder of ``tree`` is a class, its name kept verbatim as the label (``001.ak47``).
    Images are the files directly inside a class folder with an image extension (jpg, jpeg, png, bmp,
    gif, webp, any case) or whose content PIL recognises; every one is decoded, and those that fail are
    left out and listed in ``bad_images``. Folders nested in a class folder, files in the tree's top
    folder, non-images, names that are not UTF-8 and symbolic links leading out of the tree are listed in
    ``skipped``. Rows are sorted by label, then path, so the same tree always gives the same bytes.

    Parameters
    ----------
    tree : path-like
        Folder holding one sub-folder per class.
    out : path-like
        Manifest CSV to write (UTF-8); its folder is created if needed. Image paths are written relative
        to this folder with POSIX separators.
    sha256 : bool
        Add a ``sha256`` column (for :func:`check_manifest`) and report byte-identical images.
    test_fraction : float, optional
        Add a ``split`` column: a seeded stratified split with ``round(test_fraction * n)`` test images
        per class, at least 1 test and 1 train image in each class of 2 or more (a single image: train).
    seed : int
        Seed of the split; each class's draw depends only on the seed and its name.
    keep_classes, drop_classes : list of str, optional
        Class folder names to keep only, or to leave out (e.g. ``["257.clutter"]`` for Caltech-256).
    allow_outside : bool
        Follow symbolic links that lead out of the tree, and allow a manifest whose folder is not above
        the tree (its image paths then start with ``../``).

    Returns
    -------
    BuildReport

    Raises
    ------
    InputError
        If the tree is missing or has no class folders, fewer than 2 classes have a readable image, a
        class named in ``keep_classes``/``drop_classes`` is not in the tree, or the options are invalid.
    """
    root, out = _tree_root(tree), _out_path(out)
    _check_split_options(test_fraction, seed)
    prefix = _path_prefix(root, out.parent, allow_outside)
    report = BuildReport(manifest=str(out), tree=str(root))
    names = _filter_classes(_class_folders(root, report, allow_outside), keep_classes, drop_classes, report)
    images = {name: _class_images(root, name, report, allow_outside) for name in names}
    report.empty_classes = [name for name, found in images.items() if not found]
    images = _at_least_two_classes({name: found for name, found in images.items() if found}, report)
    rows = [{"label": name, "image_path": prefix + rel, "_rel": rel} for name, found in images.items() for rel in found]
    if sha256:
        _add_sha256(rows, root, report)
    if test_fraction is not None:
        _add_split(rows, images, test_fraction, seed)
        report.n_test = sum(row["split"] == "test" for row in rows)
    _write_rows(out, rows)
    report.n_images, report.n_classes = len(rows), len(images)
    report.class_counts = {name: len(found) for name, found in images.items()}
    return report


def _tree_root(tree) -> Path:
    path = Path(tree).expanduser()
    if not path.exists():
        raise InputError(f"image tree {str(path)!r} does not exist; pass the folder that holds one sub-folder per class")
    if not path.is_dir():
        raise InputError(f"image tree {str(path)!r} is not a folder; pass the folder that holds one sub-folder per class")
    return path.resolve()


def _out_path(out) -> Path:
    path = Path(out).expanduser()
    if path.is_dir():
        raise InputError(f"manifest path {str(path)!r} is a folder; pass the path of the CSV file to write, "
                         f"e.g. {str(path / 'manifest.csv')!r}")
    return path.resolve()


def _check_split_options(test_fraction, seed):
    check_option("test_fraction", test_fraction, Interval(Real, 0, 1, closed="neither"), None, hint="e.g. 0.2")
    check_option("seed", seed, Interval(Integral, 0, None, closed="left"))


def _path_prefix(root, out_dir, allow_outside) -> str:
    """What goes before ``<class>/<file>`` in ``image_path``: the tree's path relative to the manifest's folder."""
    if not root.is_relative_to(out_dir) and not allow_outside:
        raise InputError(
            f"the manifest's folder {str(out_dir)!r} is not the tree's folder or above it, so its image paths would "
            f"leave the manifest's folder; write the manifest in the tree's folder or above it (e.g. "
            f"{str(root.parent / (root.name + '.csv'))!r}), "
            "or pass allow_outside=True (CLI: --allow-outside) to write ../ paths"
        )
    try:
        relative = Path(os.path.relpath(root, out_dir)).as_posix()
    except ValueError:  # another drive on Windows: only an absolute path reaches it
        relative = root.as_posix()
    if not _is_utf8(relative):
        raise InputError(f"the path from the manifest to the tree, {_printable(relative)!r}, is not valid UTF-8; rename its folders")
    return "" if relative == "." else relative + "/"


def _class_folders(root, report, allow_outside) -> list:
    names = []
    for entry in _entries(root, "", report):
        reason = _entry_problem(entry, root, allow_outside)
        if reason == NESTED:  # a folder: here, a class
            reason = "hidden folder" if entry.name.startswith(".") else None
        elif reason is None:  # a regular file
            reason = IN_ROOT
        if reason is None:
            names.append(entry.name)
        else:
            report.skipped.append((_printable(entry.name), reason))
    if not names:
        raise InputError(
            f"image tree {str(root)!r} has no class folders; it must hold one sub-folder per class with the images "
            "inside, e.g. 256_ObjectCategories/001.ak47/001_0001.jpg"
        )
    return names


def _filter_classes(names, keep_classes, drop_classes, report) -> list:
    keep, drop = _class_names(keep_classes, "keep_classes"), _class_names(drop_classes, "drop_classes")
    for option, wanted in (("keep_classes", keep), ("drop_classes", drop)):
        unknown = [n for n in (wanted or ()) if n not in names]
        if unknown:
            raise InputError(
                f"{option} names class folders that are not in the tree: {first_few(unknown)}; "
                f"its class folders are {first_few(names)}"
            )
    kept = [n for n in names if (keep is None or n in keep) and n not in (drop or ())]
    report.dropped_classes = [n for n in names if n not in kept]
    return kept


def _class_names(value, option):
    if value is None:
        return None
    names = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(n, str) for n in names):
        raise InputError(f"{option} must be a list of class folder names, got {value!r}")
    return set(names)


def _class_images(root, name, report, allow_outside) -> list:
    """Tree-relative POSIX paths of the readable images directly inside class folder ``name``, sorted."""
    found = []
    for entry in _entries(root / name, name + "/", report):
        relative = f"{name}/{entry.name}"
        reason = _entry_problem(entry, root, allow_outside)
        if reason is None:
            is_image, problem = probe_image(Path(entry.path), Path(entry.name).suffix.lower() in IMAGE_EXTENSIONS)
            if problem:
                report.bad_images.append((relative, problem))
                continue
            if is_image:
                found.append(relative)
                continue
            reason = NOT_IMAGE
        report.skipped.append((_printable(relative), reason))
    return found


def _entries(folder, shown_prefix, report) -> list:
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: os.fsencode(e.name))
    except OSError as exc:
        report.skipped.append((_printable(shown_prefix or "."), f"cannot be read ({type(exc).__name__}: {exc.strerror})"))
        return []


def _entry_problem(entry, root, allow_outside):
    """Why a folder entry is not a candidate (None when it is a regular file or folder to look at);
    :data:`NESTED` for any folder."""
    if not _is_utf8(entry.name):
        return NOT_UTF8
    if entry.is_symlink():
        target = Path(entry.path).resolve()
        if not target.exists():
            return "broken symbolic link"
        if not allow_outside and not target.is_relative_to(root):
            return (f"symbolic link to {_printable(str(target))!r} outside the tree: copy the file into the tree, "
                    "or pass allow_outside=True (CLI: --allow-outside) to follow it")
    if entry.is_dir():
        return NESTED
    if not entry.is_file():
        return "not a regular file"
    return None


def probe_image(path, by_extension):
    """``(is_image, problem)``: whether PIL recognises the file, and why it does not decode (None if it does).

    A file without an image extension that PIL does not recognise is simply not an image.
    """
    from PIL import UnidentifiedImageError

    try:
        decode_check(path)
    except UnidentifiedImageError as exc:
        return (True, _decode_problem(exc)) if by_extension else (False, None)
    except Exception as exc:  # PIL raises many types for truncated and corrupt files
        return True, _decode_problem(exc)
    return True, None


def _decode_problem(exc) -> str:
    text = str(exc).replace(os.linesep, " ")
    text = text if len(text) <= 80 else text[:77] + "..."
    return f"not a readable image ({type(exc).__name__}: {_printable(text)})"


def _at_least_two_classes(images, report) -> dict:
    if len(images) >= 2:
        return images
    found = f"only {first_few(images)}" if images else "none"
    empty = f"; class folders without a readable image: {first_few(report.empty_classes)}" if report.empty_classes else ""
    raise InputError(
        f"a manifest for active learning needs at least 2 classes, and the tree {report.tree!r} has readable images "
        f"in {found}{empty}; pass the folder that holds the class folders, with the images directly inside them"
    )


def _add_sha256(rows, root, report):
    groups = {}
    for row in rows:
        row["sha256"] = file_sha256(root / row["_rel"])
        groups.setdefault(row["sha256"], []).append(row["_rel"])
    report.duplicates = sorted(sorted(paths) for paths in groups.values() if len(paths) > 1)


def _add_split(rows, images, fraction, seed):
    test = set()
    for name, found in images.items():
        n = len(found)
        if n < 2:
            continue
        n_test = min(max(1, int(round(fraction * n))), n - 1)
        rng = np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])
        test.update(found[i] for i in rng.choice(n, size=n_test, replace=False))
    for row in rows:
        row["split"] = "test" if row["_rel"] in test else "train"


def _write_rows(out, rows):
    columns = ["label", "image_path"] + [c for c in ("sha256", "split") if c in rows[0]]
    rows = sorted(rows, key=lambda r: (r["label"], r["image_path"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([row[c] for c in columns] for row in rows)
    os.replace(tmp, out)


def _is_utf8(name) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os.fsdecode turned undecodable bytes into lone surrogates
        return False
    return True


def _printable(name) -> str:
    """``name`` with undecodable bytes written as ``\\xNN``, safe to print and to write as UTF-8."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
