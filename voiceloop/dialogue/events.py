"""What the dialogue tells the rest of the box: its state (for the console and the LEDs of a
client) and each finished turn's record (for `/events`, `/status` and the metrics)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from voiceloop.dialogue.turnlog import TurnRecord


class TurnState(enum.Enum):
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"


@dataclass(frozen=True, slots=True)
class StateChanged:
    state: TurnState
    turn: int
    at: float  # monotonic seconds


@dataclass(frozen=True, slots=True)
class TurnFinished:
    record: TurnRecord


AssistantEvent = StateChanged | TurnFinished
