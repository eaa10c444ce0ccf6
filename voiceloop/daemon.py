"""`voiceloop run`: build the stages from config, say when ready, serve until SIGINT/SIGTERM.

`serve` takes the audio port and ASR engine from outside so tests and benchmarks run the very
same wiring on a simulated room or a PulseAudio null sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from voiceloop.asr.base import AsrEngine
from voiceloop.assistant import Assistant, AssistantEvent, Stages
from voiceloop.audio.frontend import FrontEnd, frontend_events
from voiceloop.audio.port import AudioPort
from voiceloop.config import Config
from voiceloop.llm.client import OpenAICompatibleClient
from voiceloop.llm.memory import Conversation
from voiceloop.tts.base import Synthesizer
from voiceloop.tts.fallback import create_synthesizer
from voiceloop.tts.phrases import CachedPhrases, phrase_texts
from voiceloop.wyoming import wyoming_alongside

log = logging.getLogger("voiceloop.daemon")


async def serve(cfg: Config, port: AudioPort, asr: AsrEngine,
                on_event: Callable[[AssistantEvent], None] | None = None,
                ready: asyncio.Event | None = None, tts: Synthesizer | None = None) -> None:
    """Run the assistant on `port` until cancelled; owns and closes the LLM client and the port.

    `tts` is the voice with its fixed phrases made (`prepared_voice`); made here when not given.
    """
    llm = OpenAICompatibleClient(cfg.llm)
    try:
        problem = await llm.probe()
        tts = tts or await prepared_voice(cfg)
        info = asr.info()
        log.info("ready: asr %s on %s; llm %s %s; tts %s (fallback %s); barge-in %s",
                 info.engine, info.device, cfg.llm.base_url,
                 "reachable" if problem is None else f"NOT reachable ({problem})",
                 cfg.tts.engine, cfg.tts.fallback, "on" if cfg.dialogue.barge_in else "off")
        stages = Stages(port, asr, llm, tts)
        assistant = Assistant(cfg, stages, Conversation(cfg.llm, cfg.dialogue), on_event=on_event)
        async with wyoming_alongside(cfg, asr, stages.asr_jobs, tts):  # only if wyoming.enabled
            if ready is not None:
                ready.set()
            await assistant.run(frontend_events(port.frames(), FrontEnd(cfg)))
    finally:
        await llm.aclose()
        await port.aclose()


async def prepared_voice(cfg: Config) -> CachedPhrases:
    """The voice chain with the fixed phrases already made, so they play even when every voice is down.

    Call it before the sound devices start: loading and warming the offline voice takes seconds of
    CPU, during which an open microphone's frames would pile up unconsumed.
    """
    tts = CachedPhrases(create_synthesizer(cfg.tts), phrase_texts(cfg.dialogue))
    await tts.prepare()
    return tts


def run_main(cfg: Config) -> int:
    """Load models and open devices, then serve; returns the process exit code.

    The model loads before the event loop starts, with the default signal handling: SIGINT or
    SIGTERM while loading simply ends the process, as there is nothing to drain yet.
    """
    from voiceloop.asr import create_engine

    log.info("loading %s ASR model (this can take a minute)", cfg.asr.engine)
    asr = create_engine(cfg.asr)
    return asyncio.run(_main(cfg, asr))


async def _main(cfg: Config, asr: AsrEngine) -> int:
    from voiceloop.audio.devices import SoundDevicePort

    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        tts = await prepared_voice(cfg)
        port = SoundDevicePort(cfg.audio)
        await serve(cfg, port, asr, tts=tts)
    log.info("stopped")
    return 0
