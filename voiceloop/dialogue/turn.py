"""The assistant's handle on one turn: its utterance, its reply's playout, and the reply's state
(`replystate`), which it owns and applies; and how two utterances become one request."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np

from voiceloop.audio.speech import Utterance
from voiceloop.dialogue.playout import Playout
from voiceloop.dialogue.replystate import HEARD_S, Reply, Signal, transition
from voiceloop.dialogue.turnlog import TurnRecord


@dataclass(eq=False, slots=True)
class Turn:
    """One turn; only the assistant's event loop calls `step`."""

    n: int
    utterance: Utterance
    playout: Playout
    task: asyncio.Task | None = None
    reply: Reply = Reply.PLAYING
    interrupts: Turn | None = None  # the held reply this utterance was spoken over, until it is cut
    played: str = ""  # what the speaker played around the utterance: its echo would repeat it
    echo: bool = False  # the utterance was the assistant's own voice
    # When the turn was sure (monotonic): at once, or for a turn started in a pause (`Tentative`) when
    # its utterance ended; None until then, while its reply is held.
    endpoint: float | None = None
    record: TurnRecord = field(init=False)

    def __post_init__(self) -> None:
        self.record = TurnRecord(self.n)

    @property
    def unsure(self) -> bool:
        """Started in a pause and not yet confirmed by the utterance's end."""
        return self.endpoint is None

    @property
    def live(self) -> bool:
        return self.task is not None and not self.task.done()

    def step(self, signal: Signal, barge_in: bool = True) -> Reply:
        """Move the reply's state on `signal` and do what entering the new state means: DOUBTED
        turns the playout down, a paused state pauses it (the speaker is cleared at once), PLAYING
        resumes it from the first sample not heard (or turns it back up), CUT and JOINED cancel the
        turn. A turn already finished stays as it is."""
        if not self.live:
            return self.reply
        old = self.reply
        self.reply = new = transition(old, signal, heard=self.playout.heard_s() >= HEARD_S, barge_in=barge_in)
        if new is Reply.DOUBTED:
            self.playout.duck()
        elif new.paused:
            self.playout.pause()
        elif new is Reply.PLAYING and old.paused:
            self.playout.resume()
        elif new is Reply.PLAYING and old is Reply.DOUBTED:
            self.playout.duck(False)
        elif new.over and not old.over:
            self.task.cancel()
        return new


def cut(turn: Turn | None) -> None:
    """The user spoke over this reply (or recognising what they said failed): it is over."""
    if turn is not None:
        turn.step(Signal.CUT)


def join(first: Utterance, rest: Utterance) -> Utterance:
    """One utterance from two separated by a pause: recognised once, with the whole context.

    The gap between them is their own tail and pre-roll (about half a second of the real room).
    """
    return Utterance(np.concatenate([first.samples, rest.samples]), first.start_t, rest.end_t)
