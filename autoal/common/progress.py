"""Progress of long steps: a tqdm bar on a terminal, and the same figure for the organiser page.

Every long step (embedding images, checking image files, fitting AutoGluon, building a neighbour graph)
runs inside :func:`task`::

    with task("embedding images", total=len(paths), unit="image") as step:
        for chunk in chunks:
            ...
            step.advance(len(chunk))

On a terminal (the bar's stream, stderr, is a TTY) tqdm draws a bar as soon as the step starts; elsewhere
(a log file, a pipe, a test) nothing is printed. Whatever the output, the step in progress is kept in
this process's :func:`current` (thread-safe), which ``autoal serve``'s organiser page shows as
"embedding 1,234 of 3,000 images". tqdm is used rather than a hand-made bar: it is maintained, knows
terminal widths and rates, and stays quiet off a terminal (``disable=None``).
"""

from __future__ import annotations

import contextlib
import io
import threading
import time

__all__ = ["task", "current", "describe", "on_terminal", "Step"]

_LOCK = threading.Lock()
#: The steps in progress, innermost last (a step may run inside another, e.g. embedding inside a fit).
_ACTIVE: list = []


class Step:
    """One step in progress: what it is, how far it got (``done`` of ``total`` ``unit``s) and its tqdm bar.

    Made by :func:`task`; :meth:`advance` moves both the bar and the figure :func:`current` reports.
    """

    def __init__(self, what: str, total, unit: str, bar):
        self.what, self.total, self.unit, self.bar = what, total, unit, bar
        self.done = 0
        self.started = time.time()

    def advance(self, n=1) -> None:
        """``n`` more units are done."""
        with _LOCK:
            self.done += n
        if self.bar is not None:
            self.bar.update(n)

    def as_dict(self) -> dict:
        return {"what": self.what, "done": self.done, "total": self.total, "unit": self.unit,
                "seconds": round(time.time() - self.started, 1)}


@contextlib.contextmanager
def task(what: str, *, total=None, unit="item", file=None, leave=False, delay=0.0, bar=True):
    """Run a long step with a progress bar on a terminal and a figure in :func:`current`.

    Parameters
    ----------
    what : str
        What the step does, as a bar's label and on the organiser page ("embedding images").
    total : int, optional
        How many units the step has (None: unknown; the bar then counts and shows the elapsed time).
    unit : str
        The unit counted ("image", "epoch").
    file : file-like, optional
        Where the bar goes (default stderr); it is drawn only when that stream is a terminal.
    leave : bool
        Keep the finished bar on screen.
    delay : float
        Seconds before the bar is drawn (a step that is usually quick shows no bar unless it is slow this time).
    bar : bool
        Draw a bar (False: only the figure of :func:`current`, for a step whose library draws its own bar).

    Yields
    ------
    Step
    """
    from tqdm.auto import tqdm

    size = _size_if_unknown(file)
    drawn = tqdm(total=total, desc=what, unit=unit, disable=None if bar else True, leave=leave, file=file,
                 dynamic_ncols=size is None, ncols=size and size[0], nrows=size and size[1], mininterval=0.5,
                 delay=delay)
    step = Step(what, total, unit, None if drawn.disable else drawn)
    with _LOCK:
        _ACTIVE.append(step)
    try:
        yield step
    finally:
        with _LOCK:
            _ACTIVE.remove(step)
        drawn.close()


def _size_if_unknown(file) -> tuple | None:
    """None when the terminal says its size (tqdm follows it); ``(80, 24)`` when it says 0 x 0, as one without a
    window size does (``docker run -t``, a bare pseudo-terminal), where tqdm would hide the bar (it hides bars
    below the screen's last line, and a screen of 0 lines has none)."""
    import os
    import sys

    stream = file if file is not None else sys.stderr
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return (80, 24) if size.columns <= 0 or size.lines <= 0 else None


def current() -> dict | None:
    """The innermost step in progress in this process, as ``{"what", "done", "total", "unit", "seconds"}``, or None."""
    with _LOCK:
        return _ACTIVE[-1].as_dict() if _ACTIVE else None


def describe(step: dict | None) -> str:
    """A step of :func:`current` in words: ``"embedding images: 1,234 of 3,000 images"`` ("" for None)."""
    if not step:
        return ""
    unit = step["unit"]
    if step["total"] is None:
        return f"{step['what']}: {step['done']:,} {unit}{'s' if step['done'] != 1 else ''} so far ({step['seconds']:.0f} s)"
    return f"{step['what']}: {step['done']:,} of {step['total']:,} {unit}{'s' if step['total'] != 1 else ''}"


def on_terminal(file=None) -> bool:
    """Whether progress bars are drawn: the stream (default stderr) is a terminal."""
    import sys

    stream = file if file is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
