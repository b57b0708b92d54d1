"""Plumbing every layer uses: atomic file writes, image decode checks, signal handling, torch import fixes, JSON-able
values, message wording, option checks."""
