"""One cell of the echo matrix: the real front end in a simulated room, scored against the truth.

A cell is an echo path (delay, clock drift visible in the timestamps or hidden from them, echo
level against the user). It is run twice from a cold start (a fresh front end, as after start-up):
- idle: `replies` long replies of real Mandarin with nobody talking. Every `SpeechPossible` there
  ducks a reply for nothing (until its `SpeechRejected`), every `SpeechStarted` would cut it, every
  `Utterance` would be recognised (its own echo, left to the dialogue's echo check to catch);
- barge: the user talks over the first reply `barge_at_s` in, and over the reply after that one
  at the same offset; each onset's delay from the user's first sound to `SpeechPossible` (the
  reply turned down) and to `SpeechStarted` (stopped), and how much of the user's speech the
  utterance left out at its start, and the utterances' audio (what recognition gets). Like the
  daemon, the scripted assistant turns the reply down at a first sign and back up when it comes to
  nothing, and stops it on a speech onset inside the user's speech; the last reply then plays out
  with nobody talking, and counts towards the idle numbers.
Used by tests/audio/test_echo_matrix.py (a reduced set) and bench/echo_matrix.py (all of it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np

from support.recordings import ZH
from support.simroom import RoomSpec, SimulatedRoom, normalize_speech
from voiceloop.audio.decode import decode_file
from voiceloop.audio.frontend import FrontEnd, frontend_events
from voiceloop.audio.port import DUCK_GAIN
from voiceloop.audio.speech import (
    FrontEndEvent,
    SpeechPossible,
    SpeechRejected,
    SpeechStarted,
    Utterance,
)
from voiceloop.config import AecConfig, Config, VadConfig

REPLY_CLIPS = ("funasr_csharp_1.wav", "wenet_nst_ID001.wav", "cosyvoice_laoxu.wav", "funasr_csharp_2.wav",
               "wenet_nst_ID002.wav", "cosyvoice_huang_1.wav", "wenet_nst_ID003.wav")
USER_CLIPS = ("aishell1_BAC009S0724W0121.wav", "aishell1_BAC009S0764W0121.wav", "funasr_asr_example.wav")
_GAP_S = 2.0  # between the end of one reply and the next


@dataclass(frozen=True, slots=True)
class Cell:
    delay_s: float = 0.05
    ppm: float = 0.0  # speaker clock against the mic's
    hidden: bool = False  # the drift is in the echo path, not in the devices' timestamps
    echo_db: float = 0.0  # the assistant's voice at the mic against the user's

    def __str__(self) -> str:
        drift = f"{self.ppm:+.0f} ppm {'hidden' if self.hidden else 'visible'}" if self.ppm else "no drift"
        return f"delay {self.delay_s * 1000:3.0f} ms, {drift:>18}, echo {self.echo_db:+.0f} dB"


@dataclass(slots=True)
class CellResult:
    cell: Cell
    idle_s: float = 0.0  # seconds of reply played with nobody talking
    idle_possible: list[float] = field(default_factory=list)  # room times of pauses for nothing
    idle_onsets: list[float] = field(default_factory=list)  # room times of cuts for nothing
    idle_utterances: list[float] = field(default_factory=list)  # utterances with nobody talking: heard itself
    idle_down_s: float = 0.0  # seconds the reply was turned down (SpeechPossible until rejected) for nothing
    barge_possible_s: list[float | None] = field(default_factory=list)  # user's first sound -> SpeechPossible
    barge_onset_s: list[float | None] = field(default_factory=list)  # user's first sound -> SpeechStarted
    barge_missed_s: list[float | None] = field(default_factory=list)  # user's first sound -> utterance start
    barge_audio: list[list[np.ndarray]] = field(default_factory=list)  # the utterances over each user's speech


def reply_audio(seconds: float) -> np.ndarray:
    """At least `seconds` of real Mandarin, at the room's speech level (the assistant's voice)."""
    parts, total = [], 0
    for name in REPLY_CLIPS * 4:
        clip = normalize_speech(decode_file(ZH / name), -32.0)
        parts.append(clip)
        total += len(clip)
        if total >= seconds * 16000:
            break
    return np.concatenate(parts)[: int(seconds * 16000)]


def _front(cell: Cell) -> FrontEnd:
    return FrontEnd(Config(aec=AecConfig(noise_suppression=False)))


def _room(cell: Cell, duration_s: float, script) -> SimulatedRoom:
    spec = RoomSpec(delay_s=cell.delay_s, clock_ppm=0.0 if cell.hidden else cell.ppm,
                    hidden_ppm=cell.ppm if cell.hidden else 0.0, echo_gain_db=cell.echo_db, snr_db=30.0,
                    render_block=3, capture_block=2, duration_s=duration_s)
    return SimulatedRoom(spec, script)


async def _drive(room: SimulatedRoom, front: FrontEnd, starts: list[float], reply: np.ndarray,
                 result: CellResult, barge: bool) -> None:
    users = room.truth.user_speech
    playing = asyncio.create_task(room.play_at([(t, reply) for t in starts]))
    down_at = None  # the reply turned down with nobody talking, since
    try:
        async for ev in frontend_events(room.frames(), front):
            duck_like_the_daemon(room, ev)
            if isinstance(ev, SpeechRejected | SpeechStarted) and down_at is not None:
                result.idle_down_s += room.now - down_at
                down_at = None
            if isinstance(ev, Utterance):
                if not [a for a, b in users if ev.start_t < b + 0.5 and ev.end_t > a - 0.1]:
                    result.idle_utterances.append(ev.start_t)
                _note_utterance(ev, users, result)
            if not isinstance(ev, SpeechPossible | SpeechStarted):
                continue
            near = [a for a, b in users if a - 0.1 <= room.now <= b + 0.5]
            if not near:
                (result.idle_possible if isinstance(ev, SpeechPossible) else result.idle_onsets).append(room.now)
                down_at = room.now if isinstance(ev, SpeechPossible) else None
                continue
            k = users.index(next(u for u in users if u[0] == near[0]))
            slot = result.barge_possible_s if isinstance(ev, SpeechPossible) else result.barge_onset_s
            if slot[k] is None:
                slot[k] = room.now - near[0]
            if isinstance(ev, SpeechStarted) and barge:
                room.clear()  # the daemon stops the reply on the onset
    finally:
        playing.cancel()


def duck_like_the_daemon(room: SimulatedRoom, ev: FrontEndEvent) -> None:
    """The reply turned down at a first sign of speech, back up once it came to nothing (or the
    onset stopped it), as `dialogue.playout` does."""
    if isinstance(ev, SpeechPossible):
        room.duck(DUCK_GAIN)
    elif isinstance(ev, SpeechRejected | SpeechStarted):
        room.duck(1.0)


def _note_utterance(ev: Utterance, users: list[tuple[float, float]], result: CellResult) -> None:
    """How much of the user's speech the utterance's audio left out at the start (0: all of it).
    Its audio begins `vad.preroll_ms` before the detected start."""
    audio_from = ev.start_t - VadConfig().preroll_ms / 1000
    for k, (a, b) in enumerate(users):
        if ev.start_t < b and ev.end_t > a and k < len(result.barge_audio):
            result.barge_audio[k].append(ev.samples)
            if result.barge_missed_s[k] is None:
                result.barge_missed_s[k] = max(0.0, audio_from - a)
            return


def _idle_seconds(room: SimulatedRoom) -> float:
    users = room.truth.user_speech
    total = 0.0
    for span in room.truth.playback:
        total += span.end_t - span.start_t
        for a, b in users:
            total -= max(0.0, min(b + 0.5, span.end_t) - max(a - 0.1, span.start_t))
    return total


async def run_cell(cell: Cell, reply_s: float = 25.0, replies: int = 3, barge_at_s: float = 2.0,
                   idle: bool = True, silent: bool = False) -> CellResult:
    """Both runs of one cell (with `idle` False the barge-in run alone); see the module's docstring.
    `silent`: the barge-in run with the speaker playing nothing, the user alone in the same room."""
    reply = reply_audio(reply_s)
    result = CellResult(cell)
    if idle:
        starts = [1.0 + k * (reply_s + _GAP_S) for k in range(replies)]
        room = _room(cell, starts[-1] + reply_s + _GAP_S, [])
        await _drive(room, _front(cell), starts, reply, result, barge=False)
        result.idle_s += _idle_seconds(room)

    user = [decode_file(ZH / name) for name in USER_CLIPS[:2]]
    second = 1.0 + barge_at_s + len(user[0]) / 16000 + 1.5
    starts = [1.0, second, second + barge_at_s + len(user[1]) / 16000 + 1.5]
    script = [(1.0 + barge_at_s, user[0]), (second + barge_at_s, user[1])]
    room = _room(cell, starts[-1] + reply_s + _GAP_S, script)
    result.barge_possible_s += [None, None]
    result.barge_onset_s += [None, None]
    result.barge_missed_s += [None, None]
    result.barge_audio += [[], []]
    await _drive(room, _front(cell), [] if silent else starts, reply, result, barge=True)
    result.idle_s += _idle_seconds(room)
    return result
