"""The loaded engines every way in shares: the dialogue, the HTTP API and Wyoming.

One ASR engine behind one scheduler (the dialogue first), one voice with a twin at service
priority, the run-time hotwords, and the pool that decodes uploads and streams. Each way in gets
them from here, so hotwords, priorities and bounds follow one policy whoever asks. Beside the
bundle: the scheduler, the service jobs (decode pool, service voice), the segment batcher, hotwords.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from voiceloop.asr.base import AsrEngine, Transcript
from voiceloop.config import Config
from voiceloop.engines.batcher import SegmentBatcher
from voiceloop.engines.hotwords import HotwordStore
from voiceloop.engines.scheduler import EngineScheduler, Priority
from voiceloop.engines.servicejobs import DecodePool, ServiceVoice
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
    batcher: SegmentBatcher | None = None  # service segments gathered into one inference (a GPU)

    def __post_init__(self) -> None:
        if self.service_tts is None:
            object.__setattr__(self, "service_tts", ServiceVoice(self.tts))

    @classmethod
    def shared(cls, cfg: Config, asr: AsrEngine, tts: Synthesizer, asr_jobs: EngineScheduler | None = None) -> Engines:
        """The engines with the run-time hotwords of `asr.hotwords_file` and the bounds `cfg.api`
        sets on API and Wyoming work."""
        jobs = asr_jobs or EngineScheduler("asr")
        batch_seconds = getattr(asr, "batch_seconds", 0.0)
        batcher = SegmentBatcher(asr, jobs, batch_seconds, cfg.asr.batch_wait_ms / 1000) \
            if batch_seconds > 0 and hasattr(asr, "transcribe_many") else None
        return cls(asr, jobs, tts, HotwordStore(cfg.asr.hotwords_file),
                   DecodePool(cfg.api.decode_workers, cfg.api.max_transcriptions),
                   ServiceVoice(tts, cfg.api.max_syntheses), batcher)

    async def recognise_service(self, samples: np.ndarray, hotwords: tuple[str, ...] = (),
                                timestamps: bool = True) -> Transcript:
        """One segment for the API or Wyoming, at service priority, within work already admitted
        (`asr_jobs.check_room()` first); on a GPU gathered with other callers' into one inference."""
        if self.batcher is not None:
            return await self.batcher.transcribe(samples, hotwords, timestamps)
        return await self.asr_jobs.run(self.asr.transcribe, samples, hotwords, timestamps,
                                       priority=Priority.SERVICE, admitted=True)

    def hotwords_for(self, asked: tuple[str, ...] = ()) -> tuple[str, ...]:
        """One policy for every way in: the run-time hotwords (`asr.hotwords_file`, edited from the
        console) and a request's own, each once; the engine adds the configured `asr.hotwords`."""
        return tuple(dict.fromkeys((*self.hotwords.current(), *asked)))

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        self.asr_jobs.close()
        self.decode.close()
