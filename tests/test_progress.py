"""Progress of long steps: a tqdm bar on a terminal (drawn as the step starts: the first embedding pass shows its
bar before the network is even loaded), nothing elsewhere, and the same figure for the organiser page."""

from __future__ import annotations

import io
import sys
import threading

from conftest import write_images
from test_embedding_cache import mobilenet_checkpoint

from autoal.common import progress
from autoal.vision.cache import EmbeddingCache
from autoal.vision.embedder import Embedder, embed_paths


class Terminal(io.StringIO):
    """A stream that says it is a terminal, and remembers what was written when."""

    def __init__(self):
        super().__init__()
        self.events = []

    def isatty(self):
        return True

    def write(self, text):
        self.events.append(("write", text))
        return super().write(text)


def test_a_step_draws_its_bar_at_once_on_a_terminal_and_reports_its_figure():
    terminal = Terminal()
    with progress.task("embedding images", total=3000, unit="image", file=terminal) as step:
        assert "embedding images" in terminal.getvalue(), "the bar shows before any unit is done"
        step.advance(1234)
        assert progress.describe(progress.current()) == "embedding images: 1,234 of 3,000 images"
    assert progress.current() is None


def test_off_a_terminal_nothing_is_printed_but_the_figure_is_kept():
    quiet = io.StringIO()
    with progress.task("checking images", total=10, unit="image", file=quiet) as step:
        step.advance(3)
        assert progress.current()["done"] == 3
    assert quiet.getvalue() == ""


def test_the_innermost_step_of_any_thread_is_the_figure():
    seen = []
    with progress.task("fitting", unit="fit", bar=False):
        worker = threading.Thread(target=lambda: seen.append(progress.describe(progress.current())))
        with progress.task("embedding images", total=2, unit="image", file=io.StringIO()):
            worker.start()
            worker.join()
        assert progress.describe(progress.current()).startswith("fitting: 0 fits so far")
    assert seen == ["embedding images: 0 of 2 images"]


def test_the_first_embedding_pass_shows_its_bar_before_the_network_is_loaded(tmp_path_factory, tmp_path, monkeypatch):
    checkpoint = mobilenet_checkpoint(tmp_path_factory)
    paths = write_images(tmp_path / "img", 4, size=24)["image_path"].tolist()
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    embedder = Embedder(checkpoint, image_size=32, batch_size=4)
    loading = Embedder.model.fget

    def model(self):
        terminal.events.append(("network loaded", ""))
        return loading(self)

    monkeypatch.setattr(Embedder, "model", property(model))
    cache = EmbeddingCache(tmp_path / "cache", embedder.backbone_id, embedder.num_features)
    stats = {}
    embed_paths(paths, embedder, cache, stats=stats)
    kinds = [(kind, text) for kind, text in terminal.events]
    first_bar = next(k for k, (kind, text) in enumerate(kinds) if "embedding images with mobilenetv2_100" in text)
    loaded = kinds.index(("network loaded", ""))
    assert first_bar < loaded, "the bar is on screen while the network loads"
    assert "0/12 " in terminal.getvalue() and stats["embedded"] == 12, "counted in images: 4 files x 3 colours"


def test_a_terminal_that_reports_no_size_still_gets_a_bar():
    """A pseudo-terminal without a window size (``docker run -t``) says 0 x 0; tqdm alone would hide the bar there."""
    import os
    import pty

    controller, terminal = pty.openpty()
    try:
        assert os.get_terminal_size(terminal) == os.terminal_size((0, 0))
        with open(terminal, "w", closefd=False) as stream:
            with progress.task("embedding images", total=5, unit="image", file=stream):
                stream.flush()
        drawn = os.read(controller, 4096).decode()
    finally:
        os.close(controller)
        os.close(terminal)
    assert "embedding images:   0%" in drawn and "0/5" in drawn
