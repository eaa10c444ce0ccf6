"""The loaded engines every way in shares: the dialogue, the HTTP API and Wyoming.

One ASR engine behind one scheduler (the dialogue first), one voice with a twin at service
priority, the run-time hotwords, and the pool that decodes uploads and streams. Each way in gets
them from here, so hotwords, priorities and bounds follow one policy whoever asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voiceloop.asr.base import AsrEngine
from voiceloop.config import Config
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
    def shared(cls, cfg: Config, asr: AsrEngine, tts: Synthesizer, asr_jobs: EngineScheduler | None = None) -> Engines:
        """The engines with the run-time hotwords of `asr.hotwords_file` and the bounds `cfg.api`
        sets on API and Wyoming work."""
        return cls(asr, asr_jobs or EngineScheduler("asr"), tts, HotwordStore(cfg.asr.hotwords_file),
                   DecodePool(cfg.api.decode_workers, cfg.api.max_transcriptions),
                   ServiceVoice(tts, cfg.api.max_syntheses))

    def hotwords_for(self, asked: tuple[str, ...] = ()) -> tuple[str, ...]:
        """One policy for every way in: the run-time hotwords (`asr.hotwords_file`, edited from the
        console) and a request's own, each once; the engine adds the configured `asr.hotwords`."""
        return tuple(dict.fromkeys((*self.hotwords.current(), *asked)))

    def close(self) -> None:
        self.asr_jobs.close()
        self.decode.close()
