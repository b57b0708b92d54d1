"""The check of a manifest against disk: which listed files went missing, changed (sha256) or stopped decoding."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

from autoal.errors import InputError, first_few
from autoal.common.images import file_sha256
from autoal.data.manifest import read_csv_lines
from autoal.data.manifest_builder import probe_image, problem_lines

__all__ = ["CheckReport", "check_manifest"]


@dataclass
class CheckReport:
    """What :func:`check_manifest` found; each row is reported once, under its most serious problem.

    Attributes
    ----------
    manifest : str
        The manifest checked.
    n_rows : int
        Data rows of the manifest.
    missing : list of str
        Image paths (as written in the manifest) with no file behind them.
    changed : list of str
        Image paths whose file's sha256 differs from the manifest's ``sha256`` column.
    unreadable : list of (path, reason)
        Image paths whose file is not a file or does not decode.
    checked_sha256 : bool
        True when the manifest had a ``sha256`` column.
    """

    manifest: str = ""
    n_rows: int = 0
    missing: list = field(default_factory=list)
    changed: list = field(default_factory=list)
    unreadable: list = field(default_factory=list)
    checked_sha256: bool = False

    @property
    def ok(self) -> bool:
        """True when every listed file is present, readable and (with a sha256 column) unchanged."""
        return not (self.missing or self.changed or self.unreadable)

    def message(self) -> str:
        """A multi-line summary: the verdict, then the first few problems of each kind."""
        what = "present, readable" + (" and unchanged" if self.checked_sha256 else "")
        if self.ok:
            return f"checked {self.manifest}: all {self.n_rows} images {what}"
        lines = [f"checked {self.manifest}: {self.n_rows} rows, problems found; restore the files or rebuild "
                 "the manifest with `autoal manifest TREE --out MANIFEST.csv`"]
        lines += problem_lines(f"{len(self.missing)} files missing", [(p, "") for p in self.missing])
        lines += problem_lines(f"{len(self.changed)} files changed (sha256 differs)", [(p, "") for p in self.changed])
        lines += problem_lines(f"{len(self.unreadable)} files unreadable", self.unreadable)
        return "\n".join(lines)


def check_manifest(manifest, *, allow_outside=False) -> CheckReport:
    """Check a manifest's files against disk: missing, changed (sha256) and unreadable images.

    Parameters
    ----------
    manifest : path-like
        Manifest CSV (UTF-8, a byte-order mark is tolerated) with ``label`` and ``image_path`` columns;
        with a ``sha256`` column every file's digest is compared too.
    allow_outside : bool
        Accept image paths that are absolute or leave the manifest's folder through ``..``.

    Returns
    -------
    CheckReport
        Each row is reported once: missing, else unreadable, else changed.

    Raises
    ------
    InputError
        If the manifest is missing, not a UTF-8 CSV, lacks a column, has a row without an image path, or
        has paths outside its folder without ``allow_outside``.
    """
    path = Path(manifest).expanduser()
    header, rows = _read_manifest(path)
    _refuse_outside(path, [cell for _, cell, _ in rows], allow_outside)
    report = CheckReport(manifest=str(path), n_rows=len(rows), checked_sha256="sha256" in header)
    base = path.resolve().parent
    digests = {}
    for _, cell, digest in rows:
        digests.setdefault(cell, digest)
    for cell, digest in digests.items():
        _check_file((base / cell).resolve(), cell, digest, report)  # resolved as load_manifest does
    return report


def _read_manifest(path):
    """``(header, [(line, image_path, sha256 or "")])`` of a manifest CSV."""
    header, lines = read_csv_lines(path, what="manifest", hint="pass the path of a CSV with columns label,image_path")
    for column in ("label", "image_path"):
        if column not in header:
            raise InputError(f"manifest {str(path)!r} has no column {column!r} (columns: {header}); "
                             "the header must include label,image_path")
    return header, [_manifest_row(path, header, line, row) for line, row in lines]


def _manifest_row(path, header, line, row):
    cells = dict(zip(header, (cell.strip() for cell in row)))
    if not cells.get("image_path"):
        raise InputError(f"manifest {str(path)!r} line {line} has no image_path; fill it in or delete the row")
    return line, cells["image_path"], cells.get("sha256", "")


def _refuse_outside(path, cells, allow_outside):
    if allow_outside:
        return
    outside = [cell for cell in cells if _leaves_folder(cell)]
    if outside:
        raise InputError(
            f"manifest {str(path)!r} has {len(outside)} image paths outside its folder (absolute, or leaving it "
            f"through ..): {first_few(outside)}; write paths relative to the manifest's folder, or pass "
            "allow_outside=True (CLI: --allow-outside) if you trust this manifest"
        )


def _leaves_folder(cell) -> bool:
    text = cell.replace("\\", "/")
    if text.startswith("/") or PureWindowsPath(cell).drive:
        return True
    normal = posixpath.normpath(text)
    return normal == ".." or normal.startswith("../")


def _check_file(full, cell, digest, report):
    if not full.exists():
        report.missing.append(cell)
    elif not full.is_file():
        report.unreadable.append((cell, "is not a file"))
    else:
        _, problem = probe_image(full, True)
        if problem:
            report.unreadable.append((cell, problem))
        elif digest and file_sha256(full) != digest.lower():
            report.changed.append(cell)
