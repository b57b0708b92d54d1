"""The ``autoal`` command: the run options, and the commands for runs, manifests, the page and Label Studio."""

from autoal.cli.commands import build_parser, main

__all__ = ["main", "build_parser"]
