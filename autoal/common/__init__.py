"""Plumbing every layer uses: atomic file writes, image decode checks, signal handling, torch import fixes, option checks."""
