"""The state of one reply while the user may speak over it: an enum and one pure transition.

What the front end hears while a reply is live (`Signal`) moves the reply between these states;
whether any of the reply had been heard (`heard`: at least `HEARD_S` left the speaker) and whether
barge-in is on decide where it goes. `transition` is pure, so the whole table is tested without
audio or tasks (tests/dialogue/test_replystate.py); `Turn.step` applies it and does what entering
a state means: turn the playout down, pause it, resume it, or cancel the turn.

    PLAYING --possible--> DOUBTED --rejected--> PLAYING
    PLAYING/DOUBTED --started--> HELD (some of it heard) | UNHEARD (none of it)
    HELD/UNHEARD --discarded (a cough)--> PLAYING
    HELD --utterance--> HELD: recognised before the reply is cut (barge-in, or its own echo)
        --play_on (it was the echo)--> PLAYING       --cut (it was the user)--> CUT
    UNHEARD --utterance--> JOINED: the user only paused; both utterances are one request
    PLAYING (nothing heard: a reply prepared in a pause) --resumed--> JOINED: the user went on
"""

from __future__ import annotations

from enum import Enum

# Less reply than this before the user went on speaking counts as not heard: it is about how late a
# speech onset is reported, so the user was already talking when it played.
HEARD_S = 0.2


class Reply(Enum):
    PLAYING = "playing"  # audible, or about to be (the turn is still thinking)
    DOUBTED = "doubted"  # turned down on a possible onset: back up if the sound is rejected
    HELD = "held"  # paused on speech, some of it heard: barge-in, or the reply's own echo
    UNHEARD = "unheard"  # paused on speech before any of it was heard: the user only paused
    CUT = "cut"  # cancelled: the user spoke over it
    JOINED = "joined"  # cancelled: its utterance and the next are one request

    @property
    def paused(self) -> bool:
        return self in (Reply.HELD, Reply.UNHEARD)

    @property
    def over(self) -> bool:
        return self in (Reply.CUT, Reply.JOINED)


class Signal(Enum):
    POSSIBLE = "possible"  # the first sign of the user (SpeechPossible)
    REJECTED = "rejected"  # that sign stopped short of speech (SpeechRejected)
    STARTED = "started"  # a speech onset (SpeechStarted)
    DISCARDED = "discarded"  # the speech was too short to be an utterance (SpeechDiscarded)
    UTTERANCE = "utterance"  # an utterance ended while the reply was live
    PLAY_ON = "play_on"  # the utterance spoken over it was not the user's words
    CUT = "cut"  # the utterance spoken over it was the user's words (or recognising it failed)
    RESUMED = "resumed"  # the user went on after the pause this reply was prepared in (SpeechResumed)


def transition(state: Reply, signal: Signal, *, heard: bool, barge_in: bool) -> Reply:
    """The state `signal` moves a reply in `state` to. `heard`: at least `HEARD_S` of it was heard."""
    if state.over:
        return state
    if signal is Signal.CUT:
        return Reply.CUT
    if signal is Signal.PLAY_ON:
        return Reply.PLAYING
    # With barge-in off, a reply the user has heard is never paused for them.
    may_pause = barge_in or not heard
    if state is Reply.PLAYING or state is Reply.DOUBTED:
        if not may_pause:
            return state
        if signal is Signal.POSSIBLE:
            return Reply.DOUBTED
        if signal is Signal.REJECTED:
            return Reply.PLAYING
        if signal is Signal.STARTED:
            return Reply.HELD if heard else Reply.UNHEARD
        if signal is Signal.UTTERANCE:
            return Reply.HELD if heard else Reply.JOINED
        if signal is Signal.RESUMED and not heard:
            return Reply.JOINED
        return state
    if signal is Signal.DISCARDED:
        return Reply.PLAYING
    if signal is Signal.UTTERANCE and state is Reply.UNHEARD:
        return Reply.JOINED
    return state
