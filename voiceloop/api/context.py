"""What the HTTP API serves from: the shared engines and the daemon's observable state.

One `ApiContext` per app; nothing lives in module globals, so two apps (tests, `run` and a
benchmark) never share counters or subscribers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from voiceloop.api.events import EventHub
from voiceloop.api.metrics import Metrics
from voiceloop.asr.base import AsrEngine
from voiceloop.config import Config
from voiceloop.dialogue.events import AssistantEvent
from voiceloop.hotwords import HotwordStore
from voiceloop.scheduler import EngineScheduler
from voiceloop.servicejobs import DecodePool, ServiceVoice
from voiceloop.tts.base import Synthesizer


@dataclass(frozen=True, slots=True)
class Engines:
    """The loaded engines every way in shares (dialogue, HTTP API, Wyoming): one scheduler per engine.

    `tts` is the dialogue's voice; API and Wyoming callers speak with `service_tts`, its twin at
    service priority (derived from `tts` when not given)."""

    asr: AsrEngine
    asr_jobs: EngineScheduler
    tts: Synthesizer
    hotwords: HotwordStore
    decode: DecodePool = field(default_factory=DecodePool)
    service_tts: ServiceVoice | None = None

    def __post_init__(self) -> None:
        if self.service_tts is None:
            object.__setattr__(self, "service_tts", ServiceVoice(self.tts))

    @classmethod
    def shared(cls, cfg: Config, asr: AsrEngine, asr_jobs: EngineScheduler, tts: Synthesizer) -> Engines:
        """The engines with the bounds `cfg.api` sets on API and Wyoming work."""
        return cls(asr, asr_jobs, tts, HotwordStore(cfg.asr.hotwords_file),
                   DecodePool(cfg.api.decode_workers, cfg.api.max_transcriptions),
                   ServiceVoice(tts, cfg.api.max_syntheses))

    def close(self) -> None:
        self.asr_jobs.close()
        self.decode.close()


@dataclass(frozen=True, slots=True)
class ApiContext:
    cfg: Config
    engines: Engines
    config_file: Path | None = None
    mode: Literal["serve", "run"] = "serve"  # API only, or beside the spoken dialogue
    events: EventHub = field(default_factory=EventHub)
    metrics: Metrics = field(default_factory=Metrics)
    # Returns None when the LLM answers, else why not; absent in `serve` mode (no dialogue).
    llm_probe: Callable[[], Awaitable[str | None]] | None = None

    def on_event(self, event: AssistantEvent) -> None:
        """The `Assistant`'s observer: the event stream and the metrics."""
        self.events.publish(event)
        self.metrics.observe_event(event)
