"""The turn loop: utterance -> ASR -> streamed LLM -> sentence-by-sentence TTS -> speaker, with barge-in.

One task owns the loop (`Assistant.run`) and at most one turn task at a time. Barge-in is plain
cancellation: a speech onset while a turn is THINKING or SPEAKING cancels the turn task, whose
`finally` clears the speaker within one block and closes the LLM stream; the new utterance then
becomes the next turn. Nothing polls a flag.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import numpy as np

from voiceloop.asr.base import AsrEngine
from voiceloop.audio.frontend import SpeechStarted, Utterance
from voiceloop.audio.port import AudioPort
from voiceloop.config import Config
from voiceloop.errors import LlmError, TtsError
from voiceloop.llm.base import LanguageModel
from voiceloop.llm.memory import Conversation
from voiceloop.scheduler import EngineScheduler, Priority
from voiceloop.tts.base import Synthesizer
from voiceloop.tts.phrases import PHRASES
from voiceloop.tts.sentences import SentenceSplitter
from voiceloop.tts.textclean import speakable
from voiceloop.turns import TurnLog, TurnRecord

log = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class Stages:
    """The engines one assistant drives; each is chosen by config and swappable in tests."""

    port: AudioPort
    asr: AsrEngine
    llm: LanguageModel
    tts: Synthesizer
    # Shared with the HTTP API and Wyoming, which queue behind the dialogue's priority.
    asr_jobs: EngineScheduler = field(default_factory=lambda: EngineScheduler("asr"))


class Assistant:
    def __init__(self, cfg: Config, stages: Stages, conversation: Conversation,
                 turn_log: TurnLog | None = None, on_event: Callable[[AssistantEvent], None] | None = None):
        self._cfg = cfg
        self._s = stages
        self._conversation = conversation
        self._turn_log = turn_log or TurnLog(cfg.dialogue.turn_log)
        self._on_event = on_event or (lambda event: None)
        self._turn_count = 0
        self._current: asyncio.Task | None = None

    async def run(self, events: AsyncIterator[SpeechStarted | Utterance]) -> None:
        """Consume front-end events until they end or this task is cancelled."""
        self._emit(StateChanged(TurnState.LISTENING, 0, time.monotonic()))
        try:
            async for event in events:
                if isinstance(event, SpeechStarted):
                    await self._on_speech_start()
                elif isinstance(event, Utterance):
                    await self._on_utterance(event)
        finally:
            await self._cancel_current()

    async def _on_speech_start(self) -> None:
        if self._busy() and self._cfg.dialogue.barge_in:
            log.info("barge-in: user started speaking, stopping the reply")
            await self._cancel_current()

    async def _on_utterance(self, utterance: Utterance) -> None:
        if self._busy():
            if not self._cfg.dialogue.barge_in:
                log.info("ignoring an utterance while replying (dialogue.barge_in is off)")
                return
            await self._cancel_current()
        self._turn_count += 1
        endpoint = time.monotonic()
        self._current = asyncio.create_task(self._turn(self._turn_count, utterance, endpoint),
                                            name=f"turn-{self._turn_count}")

    def _busy(self) -> bool:
        return self._current is not None and not self._current.done()

    async def _cancel_current(self) -> None:
        task, self._current = self._current, None
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def _emit(self, event: AssistantEvent) -> None:
        try:
            self._on_event(event)
        except Exception:  # noqa: BLE001 - an observer must not break the loop
            log.exception("assistant event observer failed")

    def _state(self, state: TurnState, turn: int) -> None:
        self._emit(StateChanged(state, turn, time.monotonic()))

    async def _turn(self, n: int, utterance: Utterance, endpoint: float) -> None:
        """One turn, start to finish; every failure ends here, logged, so the loop keeps serving."""
        record = TurnRecord(n)
        record.mark("speech_end", endpoint - self._cfg.vad.end_silence_ms / 1000)
        record.mark("endpoint", endpoint)
        reply = _Reply()
        self._state(TurnState.THINKING, n)
        try:
            await self._respond(utterance, record, reply)
        except asyncio.CancelledError:
            record.interrupted = True
            raise
        except Exception as exc:  # noqa: BLE001 - a per-turn error must never stop the daemon
            record.error = f"{type(exc).__name__}: {exc}"
            log.exception("turn %d failed", n)
        finally:
            dropped = self._s.port.clear() if record.interrupted else 0
            record.reply_text = reply.text()
            record.heard_text = reply.heard(dropped)
            # A failed turn with nothing heard leaves no reply: the next user message replaces it.
            if record.user_text and (record.heard_text or record.interrupted):
                self._conversation.add_assistant(record.heard_text, interrupted=record.interrupted)
            self._turn_log.write(record)
            self._emit(TurnFinished(record))
            self._state(TurnState.LISTENING, n)

    async def _respond(self, utterance: Utterance, record: TurnRecord, reply: _Reply) -> None:
        started = time.perf_counter()
        transcript = await self._s.asr_jobs.run(self._s.asr.transcribe, utterance.samples,
                                                priority=Priority.DIALOGUE)
        record.asr_s = time.perf_counter() - started
        record.mark("asr_done")
        text = transcript.text.strip()
        log.info("heard: %s", text or "(nothing)")
        if self._conversation.is_reset(text):
            self._conversation.reset()
            await self._speak_sentences(_one(PHRASES[self._cfg.dialogue.language]["reset"]), record, reply)
            return
        if not self._conversation.should_send(text):
            log.info("not sent to the LLM: empty, noise or punctuation only (%r)", text)
            return
        record.user_text = text
        self._conversation.add_user(text)
        try:
            await self._stream_reply(record, reply)
        except* LlmError as group:
            exc = group.exceptions[0]
            record.error = f"llm {exc.code}: {exc}"
            log.error("LLM failed (%s): %s", exc.code, exc)
            apology = self._cfg.dialogue.apology or PHRASES[self._cfg.dialogue.language]["apology"]
            await self._speak_sentences(_one(apology), record, reply, history=False)

    async def _stream_reply(self, record: TurnRecord, reply: _Reply) -> None:
        """LLM deltas become sentences in one task while another speaks them: first audio after sentence one."""
        sentences: asyncio.Queue[str | None] = asyncio.Queue(maxsize=8)
        async with asyncio.TaskGroup() as group:
            group.create_task(self._sentences_from_llm(record, sentences))
            group.create_task(self._speak_sentences(_drain(sentences), record, reply))

    async def _sentences_from_llm(self, record: TurnRecord, out: asyncio.Queue[str | None]) -> None:
        splitter = SentenceSplitter(self._cfg.dialogue.first_clause_chars)
        async with contextlib.aclosing(self._s.llm.stream(self._conversation.messages())) as deltas:
            async for delta in deltas:
                record.mark("llm_first_token")
                for sentence in splitter.push(delta):
                    record.mark("first_sentence")
                    await out.put(sentence)
        for sentence in splitter.flush():
            record.mark("first_sentence")
            await out.put(sentence)
        await out.put(None)

    async def _speak_sentences(self, sentences: AsyncIterator[str], record: TurnRecord, reply: _Reply,
                               history: bool = True) -> None:
        n = record.turn
        async for sentence in sentences:
            text = speakable(sentence)
            if not text:
                continue
            queued = await self._synthesize_into_port(text, record, n)
            reply.add(sentence if history else "", queued)
        if reply.samples:
            await self._s.port.wait_played()
            record.mark("playback_end")

    async def _synthesize_into_port(self, text: str, record: TurnRecord, n: int) -> int:
        queued = 0
        try:
            async with contextlib.aclosing(self._s.tts.synthesize(text)) as chunks:
                async for chunk in chunks:
                    if chunk.size == 0:
                        continue
                    record.mark("tts_first_audio")
                    if "playback_start" not in record.marks:
                        self._state(TurnState.SPEAKING, n)
                        record.mark("playback_start")
                    await self._s.port.play(chunk.astype(np.float32, copy=False))
                    queued += chunk.size
        except TtsError as exc:
            log.error("could not speak %r: %s", text[:30], exc)
        return queued


class _Reply:
    """Sentences as queued for playback, so history can be cut back to what the user actually heard."""

    def __init__(self) -> None:
        self._parts: list[tuple[str, int]] = []  # (text, samples queued)

    def add(self, text: str, samples: int) -> None:
        self._parts.append((text, samples))

    @property
    def samples(self) -> int:
        return sum(n for _, n in self._parts)

    def text(self) -> str:
        return "".join(t for t, _ in self._parts)

    def heard(self, dropped_samples: int) -> str:
        """The text whose audio was rendered: whole sentences, plus the spoken share of a cut one."""
        played = self.samples - dropped_samples
        heard, at = [], 0
        for text, n in self._parts:
            if at + n <= played:
                heard.append(text)
            elif played > at and n:
                heard.append(text[: int(len(text) * (played - at) / n)])
            at += n
        return "".join(heard)


async def _one(text: str) -> AsyncIterator[str]:
    yield text


async def _drain(queue: asyncio.Queue[str | None]) -> AsyncIterator[str]:
    while (item := await queue.get()) is not None:
        yield item
