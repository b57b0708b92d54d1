"""What one step of a run gives back: :meth:`autoal.rounds.session.Session.advance` returns one of these.

A caller (``autoal.run``, the labelling server, the Label Studio sync, a benchmark) matches on the type and
does only its own input and output: print, show the page's status, push a batch, pull answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Stopped", "Dealt", "Waiting", "Trained", "Outcome"]


@dataclass(frozen=True)
class Stopped:
    """The run starts no other round: ``reason`` says why (target reached, rounds done, nothing left to pick)."""

    reason: str


@dataclass(frozen=True)
class Dealt:
    """Round ``round``'s batch was selected and assigned, and the annotators who answer at once have answered."""

    round: int


@dataclass(frozen=True)
class Waiting:
    """Round ``round`` waits for annotators who answer later (files, the labelling page, Label Studio).

    ``owed`` maps each such annotator with open examples to how many; ``assigned`` counts the round's
    assignments (everyone's); ``message`` says what to do, for a person reading a terminal.
    """

    round: int
    owed: dict = field(default_factory=dict)
    assigned: int = 0
    message: str = ""


@dataclass(frozen=True)
class Trained:
    """Round ``round`` was finished: consensus, training, holdout accuracy; ``row`` is its history row."""

    round: int
    row: dict


Outcome = Stopped | Dealt | Waiting | Trained
