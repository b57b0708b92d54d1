"""Ctrl+C and ``kill`` stop a long-running command (``autoal serve``, ``autoal labelstudio sync``) cleanly."""

from __future__ import annotations

__all__ = ["stop_on_signals"]


def stop_on_signals() -> None:
    """Make Ctrl+C (SIGINT) and ``kill`` (SIGTERM) both raise KeyboardInterrupt in the main thread.

    Python leaves SIGINT ignored when the process started with it ignored (anything started in the
    background by a non-interactive shell, e.g. ``autoal serve ... &`` in a script), so the handler is
    set here rather than relied on.
    """
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop)
