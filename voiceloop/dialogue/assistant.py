"""The turn loop: utterance -> ASR -> streamed LLM -> sentence-by-sentence TTS -> speaker, with barge-in.

One task owns the loop (`Assistant.run`); each turn runs on a task of its own, at most one live.
The first sign of the user while the reply plays (`SpeechPossible`, one detector window of speech)
turns it down 15 dB at once (`Playout.duck`); if the sound stops short of a speech onset it is back
at full level, a dip rather than a gap. A speech onset while a turn is live silences it
(`Playout.pause`), then:
- the endpointer discards the sound (a cough, a knock): the reply resumes where it stopped;
- an utterance follows and the reply had been heard: barge-in, or the reply's own echo. The reply
  stays paused while the utterance is recognised; if the transcript repeats what the speaker
  played around it (`echotext`), it was the echo: dropped, and the reply plays on. Otherwise the
  turn is cancelled (its LLM stream closed), history keeps what was said and the part of the
  reply that was heard, and the new utterance is the next turn;
- an utterance follows and nothing of the reply had been heard (still THINKING, or nothing played
  yet): the user only paused. The turn is cancelled without a trace in history, and its utterance
  is joined with the new one, so the LLM gets the whole request.
A pause of `vad.speculate_ms` may be the end of the user's turn (`Tentative`): with nothing else
going on, a turn starts on it at once, recognising, asking the LLM and synthesizing while the
silence lasts, its playout held. The utterance's end (`vad.end_silence_ms`) releases it, so the
reply is heard as soon as the turn is sure; speech going on first (`SpeechResumed`) drops it
unheard, and the whole utterance is the turn when it ends (counted as `abandoned` work).
Any other utterance heard while a reply was audible, or just after, is checked the same way: the
assistant never answers itself, whatever the echo cancellers let through.
The reply's state is one machine (`replystate`), owned by its `Turn`: the handlers here only turn
front-end events into its signals and act on where it went.
Nothing polls a flag; the event loop never waits on a cancellation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from voiceloop.asr.base import AsrEngine
from voiceloop.audio.port import AudioPort
from voiceloop.audio.speech import (
    FrontEndEvent,
    SpeechDiscarded,
    SpeechPossible,
    SpeechRejected,
    SpeechResumed,
    SpeechStarted,
    Tentative,
    Utterance,
)
from voiceloop.config import Config
from voiceloop.dialogue.echotext import match_echo
from voiceloop.dialogue.events import AssistantEvent, StateChanged, TurnFinished, TurnState
from voiceloop.dialogue.playout import Playout
from voiceloop.dialogue.reply import ReplySpeaker
from voiceloop.dialogue.replystate import Reply, Signal
from voiceloop.dialogue.turn import Turn, cut, join
from voiceloop.dialogue.turnlog import TurnLog, TurnRecord
from voiceloop.errors import LlmError
from voiceloop.llm.base import LanguageModel
from voiceloop.llm.memory import Conversation
from voiceloop.engines.scheduler import EngineScheduler, Priority
from voiceloop.tts.base import Synthesizer
from voiceloop.tts.phrases import PHRASES

log = logging.getLogger(__name__)

# The played text an utterance is compared with starts this long before the utterance did: the echo
# path (up to 0.6 s measured), sound-server buffering, and the room's reverberation. A user who
# repeats words the speaker said longer ago than this is never taken for the echo.
_ECHO_REACH_S = 1.5


class SilentReply(Exception):
    """The LLM and TTS finished without a sound: answered with the apology, never with silence."""


@dataclass(frozen=True, slots=True)
class Stages:
    """The engines one assistant drives; each is chosen by config and swappable in tests."""

    port: AudioPort
    asr: AsrEngine
    llm: LanguageModel
    tts: Synthesizer
    # Shared with the HTTP API and Wyoming, which queue behind the dialogue's priority.
    asr_jobs: EngineScheduler = field(default_factory=lambda: EngineScheduler("asr"))
    # Run-time hotwords (`asr.hotwords_file`, edited from the web console), read for each utterance.
    hotwords: Callable[[], tuple[str, ...]] = tuple


class Assistant:
    """Consumes front-end events on one task and runs each turn on a task of its own.

    The event loop over front-end events never awaits anything: a speech onset pauses the live
    reply's playout (the speaker is cleared at once), a discarded onset resumes it, an utterance
    cancels the live turn and starts the next. A cancelled turn finishes (history, turn log) on its
    own task while frames keep flowing; the next turn waits for it before reading the history.
    """

    def __init__(self, cfg: Config, stages: Stages, conversation: Conversation,
                 turn_log: TurnLog | None = None, on_event: Callable[[AssistantEvent], None] | None = None):
        self._cfg = cfg
        self._s = stages
        self._reply = ReplySpeaker(stages.llm, stages.tts, cfg.dialogue.first_clause_chars)
        self._conversation = conversation
        self._turn_log = turn_log or TurnLog.from_config(cfg.dialogue)
        self._on_event = on_event or (lambda event: None)
        self._turn_count = 0
        self._abandoned = 0  # replies prepared in a pause the user went on after, since the last turn
        self._live: Turn | None = None
        self._recent: deque[Turn] = deque(maxlen=2)  # whose replies an utterance may hold the echo of
        self._tasks: set[asyncio.Task] = set()

    async def run(self, events: AsyncIterator[FrontEndEvent]) -> None:
        """Consume front-end events until they end or this task is cancelled."""
        self._emit(StateChanged(TurnState.LISTENING, 0, time.monotonic()))
        try:
            async for event in events:
                if isinstance(event, SpeechPossible):
                    self._on_speech_possible()
                elif isinstance(event, SpeechRejected):
                    self._on_speech_rejected()
                elif isinstance(event, SpeechStarted):
                    self._on_speech_start()
                elif isinstance(event, SpeechDiscarded):
                    self._on_speech_discarded()
                elif isinstance(event, Tentative):
                    self._on_tentative(event)
                elif isinstance(event, SpeechResumed):
                    self._on_speech_resumed()
                elif isinstance(event, Utterance):
                    self._on_utterance(event)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _busy(self) -> Turn | None:
        turn = self._live
        return turn if turn is not None and turn.live and not turn.reply.over else None

    def _step(self, signal: Signal) -> tuple[Reply, Reply] | None:
        """The live turn's reply state before and after `signal`; None with no turn live."""
        turn = self._busy()
        if turn is None:
            return None
        return turn.reply, turn.step(signal, self._cfg.dialogue.barge_in)

    def _on_speech_possible(self) -> None:
        """Maybe the user: turn the reply down now rather than one detector window later (a false
        alarm then costs a dip, not a gap); the onset, if it comes, silences it."""
        if self._step(Signal.POSSIBLE) == (Reply.PLAYING, Reply.DOUBTED):
            log.debug("possible speech: reply turned down")

    def _on_speech_rejected(self) -> None:
        if self._step(Signal.REJECTED) == (Reply.DOUBTED, Reply.PLAYING):
            log.debug("not speech after all: reply back at full level")

    def _on_speech_start(self) -> None:
        """Silence the reply first; whether this is a barge-in or a continuation is decided later.

        Uploads and Wyoming jobs start no new segment on the shared engine meanwhile, so this
        utterance's recognition waits at most for the segment already running.
        """
        self._s.asr_jobs.hold(self._cfg.vad.max_utterance_s + 1.0)
        moved = self._step(Signal.STARTED)
        if moved is not None and moved[0] is not moved[1] and moved[1] in (Reply.HELD, Reply.UNHEARD):
            log.info("user speaking: reply %s", "paused" if moved[1] is Reply.HELD else "held (nothing heard yet)")

    def _on_speech_discarded(self) -> None:
        """A cough or a knock, not speech: the reply plays on from where it stopped."""
        self._s.asr_jobs.unhold()
        moved = self._step(Signal.DISCARDED)
        if moved is not None and moved[0] in (Reply.HELD, Reply.UNHEARD) and moved[1] is Reply.PLAYING:
            log.info("too short to be speech: reply resumed")

    def _on_tentative(self, utterance: Tentative) -> None:
        """The user paused long enough that they may be done: prepare the answer (recognise, ask the
        LLM, synthesize), held until the utterance ends. Only with nothing else going on."""
        if self._busy() is None:
            self._start_turn(Utterance(utterance.samples, utterance.start_t, utterance.end_t), tentative=True)

    def _on_speech_resumed(self) -> None:
        """The user went on: the reply prepared in their pause is dropped, unheard and unrecorded."""
        if self._drop_tentative():
            self._s.asr_jobs.hold(self._cfg.vad.max_utterance_s + 1.0)  # as on the onset: the rest is coming
            log.debug("the user went on after a pause: the reply prepared in it is dropped")

    def _drop_tentative(self) -> bool:
        """Cancel a tentative turn not yet sure, counted as wasted work; False if there is none."""
        turn = self._busy()
        if turn is None or not turn.unsure:
            return False
        turn.step(Signal.RESUMED)
        self._abandoned += 1
        return True

    def _on_utterance(self, utterance: Utterance) -> None:
        turn = self._busy()
        if turn is not None and turn.unsure:
            if (turn.utterance.start_t, turn.utterance.end_t) == (utterance.start_t, utterance.end_t):
                self._commit(turn)
                return
            self._drop_tentative()  # not the utterance it was prepared for (cut at max_utterance_s)
            turn = None
        if turn is not None:
            state = turn.step(Signal.UTTERANCE, self._cfg.dialogue.barge_in)
            if state is Reply.HELD:
                log.info("speech over the reply: recognising it before the reply is cut")
                self._start_turn(utterance, interrupts=turn)
                return
            if state is not Reply.JOINED:
                log.info("ignoring an utterance while replying (dialogue.barge_in is off)")
                self._s.asr_jobs.unhold()
                return
            utterance = join(turn.utterance, utterance)
            log.info("the user went on speaking before the reply was heard: joined %.1f s + the rest",
                     len(turn.utterance.samples) / 16000)
            cut(turn.interrupts)  # the user went on talking over that reply: cut before the turn even ran
        self._start_turn(utterance)

    def _start_turn(self, utterance: Utterance, interrupts: Turn | None = None, tentative: bool = False) -> None:
        n = self._turn_count + 1
        if not tentative:  # a tentative turn takes its number when it is sure (`_announce`)
            self._turn_count = n
        turn = Turn(n, utterance, Playout(self._s.port, held=tentative), interrupts=interrupts,
                    played=self._played_around(utterance), endpoint=None if tentative else time.monotonic())
        before = [task for task in self._tasks if interrupts is None or task is not interrupts.task]
        turn.task = asyncio.create_task(self._turn(turn, before), name=f"turn-{turn.n}")
        self._tasks.add(turn.task)
        turn.task.add_done_callback(self._tasks.discard)
        self._live = turn
        self._recent.append(turn)

    def _commit(self, turn: Turn) -> None:
        """The utterance a tentative turn was prepared for has ended: its reply may be heard."""
        turn.endpoint = time.monotonic()
        turn.playout.release()
        if (recognised := turn.record.marks.get("asr_done")) is not None:
            log.debug("turn %d sure, recognised %.2f s before", turn.n, turn.endpoint - recognised)
        self._announce(turn)

    def _announce(self, turn: Turn) -> None:
        """A sure turn is thinking (once; `_turn` may get there first, or the commit)."""
        record = turn.record
        if turn.endpoint is None or "endpoint" in record.marks:
            return
        record.mark("speech_end", turn.endpoint - self._cfg.vad.end_silence_ms / 1000)
        record.mark("endpoint", turn.endpoint)
        record.abandoned, self._abandoned = self._abandoned, 0
        self._turn_count = max(self._turn_count, turn.n)
        self._state(TurnState.THINKING, turn.n)

    def _played_around(self, utterance: Utterance) -> str:
        """What the speaker played while this utterance was spoken, and `_ECHO_REACH_S` before."""
        spoken_s = utterance.end_t - utterance.start_t + self._cfg.vad.end_silence_ms / 1000
        since = time.monotonic() - spoken_s - _ECHO_REACH_S
        return "".join(turn.playout.heard_text_since(since) for turn in self._recent)

    def _is_echo(self, turn: Turn, text: str) -> bool:
        """Does the transcript repeat what the speaker played around it?"""
        found = match_echo(text, turn.played) if turn.played else None
        if found is None:
            return False
        if self._cfg.dialogue.log_transcripts:
            log.warning("heard its own voice, not sent to the LLM: %r repeats what was played (%s)", text, found.played)
        else:
            log.warning("heard its own voice, not sent to the LLM: %d syllables, %d off what was played",
                        found.syllables, found.distance)
        return True

    def _play_on(self, turn: Turn) -> None:
        """The utterance spoken over a paused reply was not the user's words: the reply plays on."""
        old, turn.interrupts = turn.interrupts, None
        if old is None or not old.live:
            return
        old.step(Signal.PLAY_ON)
        if self._live is turn:
            self._live = old
        self._state(TurnState.SPEAKING, old.n)
        log.info("not the user after all: reply resumed")

    async def _barge_in(self, turn: Turn) -> None:
        """The user spoke over `turn.interrupts`: cut it, and let it write its history first."""
        old, turn.interrupts = turn.interrupts, None
        if old is None or not old.live:
            return
        log.info("barge-in: the user spoke over the reply")
        cut(old)
        await asyncio.wait([old.task])

    def _emit(self, event: AssistantEvent) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("assistant event observer failed")

    def _state(self, state: TurnState, turn: int) -> None:
        self._emit(StateChanged(state, turn, time.monotonic()))

    async def _turn(self, turn: Turn, before: list[asyncio.Task]) -> None:
        """One turn, start to finish; every failure ends here, logged and apologised for."""
        if before:  # cancelled turns first write their history
            await asyncio.wait(before)
        n, record = turn.n, turn.record
        self._announce(turn)
        try:
            await self._respond(turn, record)
            await turn.playout.released()  # a tentative turn ends once it is sure, or dropped
        except asyncio.CancelledError:
            record.continued = turn.reply is Reply.JOINED
            record.interrupted = not record.continued
            raise
        finally:
            cut(turn.interrupts)  # recognition failed, or the user went on talking: the reply is over
            turn.playout.stop()
            record.reply_text = turn.playout.text()
            record.heard_text = turn.playout.heard_text()
            # A failed turn with nothing heard leaves no reply: the next user message replaces it, as
            # it does for a turn continued by the next utterance.
            if record.user_text and not record.continued and (record.heard_text or record.interrupted):
                self._conversation.add_assistant(record.heard_text, interrupted=record.interrupted)
            sure = "endpoint" in record.marks  # else prepared in a pause the user went on after: no turn
            if sure and not turn.echo:  # an echo is no turn either: the assistant's own voice, come back
                self._turn_log.write(record)
                self._emit(TurnFinished(record))
            if sure and self._busy() in (None, turn):
                self._state(TurnState.LISTENING, n)

    async def _respond(self, turn: Turn, record: TurnRecord) -> None:
        """Answer; any error (ASR, LLM, TTS, a bug) ends in the apology, spoken once."""
        try:
            await self._answer(turn, record)
        except Exception as exc:
            cause = _first_cause(exc)
            if isinstance(cause, LlmError):
                record.error = f"llm {cause.code}: {cause}"
                log.error("LLM failed (%s): %s", cause.code, cause)
            else:
                record.error = f"{type(cause).__name__}: {cause}"
                log.error("turn %d failed", turn.n, exc_info=cause)
            try:
                await self._say(turn, record, "apology")
            except Exception:
                log.exception("could not speak the apology either")

    async def _answer(self, turn: Turn, record: TurnRecord) -> None:
        started = time.perf_counter()
        transcript = await self._s.asr_jobs.run(self._s.asr.transcribe, turn.utterance.samples, self._s.hotwords(),
                                                timestamps=False, priority=Priority.DIALOGUE)
        record.asr_s = time.perf_counter() - started
        record.mark("asr_done")
        text = transcript.text.strip()
        turn.echo = self._is_echo(turn, text)
        if turn.echo or not self._conversation.should_send(text):
            if not turn.echo:
                log.info("not sent to the LLM: empty, noise or punctuation only (%d chars)", len(text))
            self._play_on(turn)
            return
        if self._cfg.dialogue.log_transcripts:
            log.info("heard: %s", text)
        await self._barge_in(turn)
        if self._conversation.is_reset(text):
            await turn.playout.released()  # not before the user is done
            self._conversation.reset()
            await self._say(turn, record, "reset")
            return
        record.user_text = text
        self._conversation.add_user(text)
        await self._reply.stream(self._conversation.messages(), turn.playout, record,
                                 lambda: self._state(TurnState.SPEAKING, turn.n))
        if not turn.playout.samples:
            raise SilentReply("the reply had nothing to say aloud (empty, only a <think> block, or no audio from TTS)")

    async def _say(self, turn: Turn, record: TurnRecord, phrase: str) -> None:
        """One of the assistant's own phrases (PHRASES); never part of the conversation history."""
        text = PHRASES[self._cfg.dialogue.language][phrase]
        if phrase == "apology":
            text = self._cfg.dialogue.apology or text
        await self._reply.say(text, turn.playout, record, lambda: self._state(TurnState.SPEAKING, turn.n))


def _first_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
