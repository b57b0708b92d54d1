"""A person labelling at a terminal: one image at a time, answers committed as they are typed."""

from __future__ import annotations

import os
import sys

from autoal.annotation.annotators import Annotator, StopAnnotation
from autoal.data.labels import UNKNOWN, match_class

__all__ = ["TerminalAnnotator", "image_preview", "MAX_SHOWN_VALUES"]

#: Columns shown per example besides the image (the rest are counted).
MAX_SHOWN_VALUES = 30


def _blank(value) -> bool:
    try:
        return bool(value is None or value != value)  # None or NaN
    except (TypeError, ValueError):
        return False


def image_preview(path, width=32) -> str:
    """The image as coloured half-block characters (two pixel rows per text row), for 24-bit terminals."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        height = max(2, round(image.height * width / image.width / 2) * 2)
        pixels = image.resize((width, height)).load()
    lines = []
    for y in range(0, height, 2):
        cells = (f"\x1b[38;2;{';'.join(map(str, pixels[x, y]))}m\x1b[48;2;{';'.join(map(str, pixels[x, y + 1]))}m\u2580"
                 for x in range(width))
        lines.append("".join(cells) + "\x1b[0m")
    return "\n".join(lines)


class TerminalAnnotator(Annotator):
    """Asks a person at a terminal for each picked example's label.

    For every example it shows the image's path and size, an inline colour preview when the output
    is a terminal that can show one (otherwise a note of how to open the file), the example's other
    columns (for a table without images, ``image_col=None``, these are all it shows), and the
    numbered class list. The person types a class name or its number (integer classes: the class itself),
    ``s`` to skip, or ``q`` to stop: the run then stops safely and ``autoal resume`` continues it.
    Each answer is handed to autoal, which stores it, before the next question.

    Parameters
    ----------
    name : str
        The annotator's name in the label store.
    input, output : file-like, optional
        Where answers are read from and questions written to (default: stdin, stdout).
    preview : bool, optional
        Force the inline preview on or off; by default on when ``output`` is a colour terminal.
    """

    def __init__(self, name="you", *, input=None, output=None, preview=None):
        self.name = name
        self.input = input
        self.output = output
        self.preview = preview

    def prepare(self, *, classes, true_labels=None, image_col="image_path") -> None:
        super().prepare(classes=classes)
        self.image_col = image_col

    def _out(self, text=""):
        print(text, file=self.output or sys.stdout, flush=True)

    def _show_preview(self) -> bool:
        if self.preview is not None:
            return self.preview
        out = self.output or sys.stdout
        return hasattr(out, "isatty") and out.isatty() and os.environ.get("TERM", "dumb") != "dumb"

    def _describe(self, n, total, example_id, row):
        if self.image_col is None:
            self._out(f"\n[{n}/{total}] example {example_id!r}:")
            self._show_values(row)
            return
        from PIL import Image

        path = row[self.image_col]
        try:
            with Image.open(path) as image:
                size = f"{image.width}x{image.height} px"
        except OSError:
            size = "unreadable"
        self._out(f"\n[{n}/{total}] example {example_id!r}: {path} ({size})")
        if self._show_preview() and size != "unreadable":
            self._out(image_preview(path))
        else:
            opener = "open" if sys.platform == "darwin" else "xdg-open"
            self._out(f"  (no inline preview here; open it with: {opener} '{path}')")
        self._show_values(row.drop(labels=[self.image_col]))

    def _show_values(self, row, limit=MAX_SHOWN_VALUES):
        """The example's column values, one per line (long text cut at 200 characters)."""
        width = max((len(str(name)) for name in row.index[:limit]), default=0)
        for name, value in list(row.items())[:limit]:
            text = "" if _blank(value) else str(value)
            self._out(f"  {str(name).ljust(width)} : {text if len(text) <= 200 else text[:197] + '...'}")
        if len(row) > limit:
            self._out(f"  ... and {len(row) - limit} more columns")

    def _menu(self) -> str:
        if all(isinstance(c, int) for c in self.classes):
            return "classes: " + ", ".join(map(str, self.classes)) + "   (type the class, s = skip, q = stop)"
        return "classes: " + "  ".join(f"{k}) {c}" for k, c in enumerate(self.classes, 1)) + \
            "   (type a number or a name, s = skip, q = stop)"

    def _answer(self, text):
        """The class meant by ``text``, None for skip, or UNKNOWN."""
        text = text.strip()
        if text.lower() == "s":
            return None
        by_number = not all(isinstance(c, int) for c in self.classes)
        if by_number and text.isdigit() and 1 <= int(text) <= len(self.classes):
            return self.classes[int(text) - 1]
        value = match_class(text, self.classes)
        if value is UNKNOWN or value is None:
            folded = [c for c in self.classes if str(c).lower() == text.lower()]
            return folded[0] if len(folded) == 1 else UNKNOWN
        return value

    def annotate(self, examples):
        """Yield one answer per row of ``examples`` as the person types it."""
        stream = self.input or sys.stdin
        self._out(f"\n{self.name}: {len(examples)} examples to label. {self._menu()}")
        for n, (example_id, row) in enumerate(examples.iterrows(), 1):
            self._describe(n, len(examples), example_id, row)
            while True:
                self._out("label> ")
                line = stream.readline()
                if line == "":
                    raise StopAnnotation(f"{self.name}: end of input")
                if line.strip().lower() == "q":
                    raise StopAnnotation(f"{self.name} stopped")
                if not line.strip():
                    continue
                value = self._answer(line)
                if value is UNKNOWN:
                    self._out(f"  {line.strip()!r} is not a class. {self._menu()}")
                    continue
                yield value
                break

    def spec(self):
        return {"kind": "terminal", "name": self.name}
