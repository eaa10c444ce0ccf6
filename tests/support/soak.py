"""Many turns through the whole daemon, measuring what a slow leak would grow.

The real `serve()` wiring runs on a simulated room in which the user speaks a real recording each
time the assistant has finished answering (so the run is as long as asked, with no script built
up front), the real front end (AEC3, silero, the double-talk detector) hears it and the echo of
the reply, the ASR engine given transcribes it, a loopback OpenAI-compatible server answers and
espeak-ng speaks. At chosen turns the process's RSS, open file descriptors, threads (Python and
native) and asyncio tasks are sampled, each time at the same point: the turn over, the assistant
listening again.

`bench/soak.py` runs 1000 turns and prints the figures; tests/dialogue/test_soak.py runs 100.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from support.openai_server import Script, ThreadedOpenAIServer
from support.rir import apply_room, synth_rir
from support.simroom import RoomSpec, SimulatedRoom, normalize_speech
from voiceloop.asr.base import AsrEngine
from voiceloop.audio.frames import FRAME_SAMPLES
from voiceloop.config import Config, DialogueConfig, LlmConfig, TtsConfig
from voiceloop.dialogue.events import StateChanged, TurnFinished, TurnState
from voiceloop.modes.daemon import serve

REPLY = ("好的。",)
ESPEAK = TtsConfig(engine="espeak")
ESPEAK_GAIN_DB = -6.0  # espeak's voice at the mic 6 dB over the user, as in the dialogue tests
_PAUSE_S = 0.4  # room time between the end of a reply and the user's next words


@dataclass(frozen=True, slots=True)
class Sample:
    turn: int
    rss_mb: float
    fds: int
    threads: int  # native threads of the process (torch, onnxruntime, PortAudio, executors...)
    py_threads: int
    tasks: int  # asyncio tasks on the daemon's loop

    def line(self) -> str:
        return (f"turn {self.turn:5d}: RSS {self.rss_mb:7.1f} MB  fds {self.fds:3d}  threads {self.threads:3d} "
                f"(python {self.py_threads:2d})  asyncio tasks {self.tasks:2d}")


def sample(turn: int) -> Sample:
    proc = psutil.Process()
    return Sample(turn, proc.memory_info().rss / 2**20, proc.num_fds(), proc.num_threads(),
                  threading.active_count(), len(asyncio.all_tasks()))


class ConversationRoom(SimulatedRoom):
    """The simulated room, with a user who says one of `clips` whenever `say` is called.

    `hold()` stops the room's clock until `release()`: while the daemon thinks (ASR, LLM) the room
    would only produce silence, and at full speed those frames would be most of the run's CPU.
    """

    def __init__(self, spec: RoomSpec, clips: Sequence[np.ndarray]):
        super().__init__(spec)
        user_rir = synth_rir(spec.rt60_s, seed=spec.seed + 1)
        self._clips = [apply_room(np.concatenate([normalize_speech(c, spec.speech_dbfs),
                                                  np.zeros(len(user_rir), dtype=np.float32)]), user_rir, 0.0, 0.0)
                       for c in clips]
        self._speaking: np.ndarray | None = None
        self._at = 0
        self._running = asyncio.Event()
        self._running.set()

    def hold(self) -> None:
        self._running.clear()

    def release(self) -> None:
        self._running.set()

    async def frames(self):
        async for item in super().frames():
            yield item
            await self._running.wait()

    def say(self, index: int) -> None:
        self._speaking, self._at = self._clips[index % len(self._clips)], 0

    def forget(self) -> None:
        """Drop the ground truth gathered so far: it grows with every turn and is not the daemon's."""
        self.truth.playback.clear()
        self.truth.clears.clear()

    def _mic_frame(self) -> np.ndarray:
        mic = super()._mic_frame()
        if self._speaking is not None:
            part = self._speaking[self._at:self._at + FRAME_SAMPLES]
            mic[:len(part)] += part
            self._at += FRAME_SAMPLES
            if self._at >= len(self._speaking):
                self._speaking = None
        return np.clip(mic, -1.0, 1.0)


async def run_soak(asr: AsrEngine, clips: Sequence[np.ndarray], turns: int, sample_at: Sequence[int],
                   work_dir: Path, speed: float = 0.0, on_sample: Callable[[Sample], None] = print,
                   turn_timeout_s: float = 30.0, tts: TtsConfig = ESPEAK) -> list[Sample]:
    """`turns` turns through `serve()`; returns the samples taken after the turns in `sample_at`."""
    room = ConversationRoom(RoomSpec(speed=speed, echo_gain_db=ESPEAK_GAIN_DB), clips)
    finished = asyncio.Queue()
    samples: list[Sample] = []
    with ThreadedOpenAIServer(Script(deltas=REPLY)) as llm:
        cfg = Config(llm=LlmConfig(base_url=llm.base_url, model="soak", first_token_timeout_s=10),
                     tts=tts, dialogue=DialogueConfig(turn_log=str(work_dir / "turns.jsonl"), log_transcripts=True))
        def on_event(event) -> None:
            if isinstance(event, TurnFinished):
                finished.put_nowait(event.record)
            elif isinstance(event, StateChanged):
                room.hold() if event.state is TurnState.THINKING else room.release()

        daemon = asyncio.create_task(serve(cfg, room, asr, on_event=on_event), name="soak-daemon")
        try:
            done, pending = 0, sorted(sample_at)
            while done < turns:
                await _quiet(room, _PAUSE_S)
                room.say(done)
                await asyncio.wait_for(finished.get(), turn_timeout_s)
                done += 1
                while not finished.empty():  # a clip heard as two utterances is two turns
                    finished.get_nowait()
                    done += 1
                await room.wait_played()
                room.forget()
                llm.server.requests.clear()
                if pending and done >= pending[0]:
                    pending.pop(0)
                    await _quiet(room, _PAUSE_S)
                    samples.append(sample(done))
                    on_sample(samples[-1])
        finally:
            room.release()
            await room.aclose()
            await asyncio.wait_for(daemon, 30)
    return samples


async def _quiet(room: SimulatedRoom, seconds: float) -> None:
    """Let `seconds` of room time pass (the reply's echo dies away)."""
    until = room.now + seconds
    while room.now < until:
        await asyncio.sleep(0.005)
