"""The assistant's handle on one turn, and the two ways a turn ends early: cut by a barge-in, or
joined with the user's next words (the user only paused)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from voiceloop.audio.frontend import Utterance
from voiceloop.dialogue.playout import Playout


@dataclass(eq=False, slots=True)
class Turn:
    """The assistant's handle on one turn; `held` and `outcome` are set by the event loop."""

    n: int
    utterance: Utterance
    playout: Playout
    task: asyncio.Task | None = None
    held: bool | None = None  # paused by a speech onset: True if the reply had been heard by then
    # (a reply paused while `held` is None was paused by a possible onset, which may yet be rejected)
    outcome: str | None = None  # why it was cancelled: "barge_in" or "continued"
    interrupts: Turn | None = None  # the paused reply this utterance was spoken over, until it is cut
    played: str = ""  # what the speaker played around the utterance: its echo would repeat it
    echo: bool = False  # the utterance was the assistant's own voice


def cut(turn: Turn | None) -> None:
    """Cancel a paused reply the user spoke over (a barge-in), if it is still live."""
    if turn is not None and turn.task is not None and not turn.task.done():
        turn.outcome = "barge_in"
        turn.task.cancel()


def join(first: Utterance, rest: Utterance) -> Utterance:
    """One utterance from two separated by a pause: recognised once, with the whole context.

    The gap between them is their own tail and pre-roll (about half a second of the real room).
    """
    return Utterance(np.concatenate([first.samples, rest.samples]), first.start_t, rest.end_t)
